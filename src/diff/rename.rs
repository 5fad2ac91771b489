//! Rename detection exactly as `git diff -M` does it (git's `diffcore-rename.c` and
//! `diffcore-delta.c`): exact renames first, then unique-basename matches, then the
//! similarity matrix, with git's similarity measure, thresholds and tie-breaks.
//!
//! Purpose: libgit2's `find_similar` uses another similarity measure, so its
//! "similarity index" lines and its borderline pairings differ from the git CLI's.
//! Doing it here keeps the unified diff byte-identical. This module only pairs
//! deletions with additions; it never formats anything.

use std::collections::HashMap;

use git2::{Oid, Repository};

/// One side of a change: path bytes as stored in the tree, blob (or commit) id, mode.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    pub path: Vec<u8>,
    pub id: Oid,
    pub mode: u32,
}

/// A change between two trees, in tree (path) order.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Added(Side),
    Deleted(Side),
    Modified {
        old: Side,
        new: Side,
    },
    /// File ↔ symlink ↔ submodule at the same path.
    TypeChanged {
        old: Side,
        new: Side,
    },
    /// `score` is git's similarity, 0..=MAX_SCORE.
    Renamed {
        old: Side,
        new: Side,
        score: u64,
    },
}

pub(crate) const MAX_SCORE: u64 = 60_000;
/// `-M` without a number: 50%.
const MIN_SCORE: u64 = 30_000;
/// Halfway between the minimum and a perfect match, as git's basename pass uses.
const MIN_BASENAME_SCORE: u64 = MIN_SCORE + (MAX_SCORE - MIN_SCORE) / 2;
/// `diff.renameLimit` default: above limit² candidate pairs git skips the matrix.
const RENAME_LIMIT: usize = 1000;
const CANDIDATES_PER_DST: usize = 4;
/// git's `HASHBASE` in diffcore-delta.c.
const HASHBASE: u32 = 107_927;

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

fn is_reg(mode: u32) -> bool {
    mode & S_IFMT == S_IFREG
}

/// One entry of the output, in git's order: a change as it was, or a rename made
/// of a deletion (`old`) and an addition (`new`), by index into the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Planned {
    Keep(usize),
    Renamed { old: usize, new: usize, score: u64 },
}

impl Planned {
    /// The change to write for this entry.
    pub(crate) fn change(self, changes: &[Change]) -> std::borrow::Cow<'_, Change> {
        use std::borrow::Cow;
        match self {
            Planned::Keep(i) => Cow::Borrowed(&changes[i]),
            Planned::Renamed { old, new, score } => {
                let (Change::Deleted(o), Change::Added(n)) = (&changes[old], &changes[new]) else {
                    unreachable!("pairs join a deletion and an addition");
                };
                Cow::Owned(Change::Renamed {
                    old: o.clone(),
                    new: n.clone(),
                    score,
                })
            }
        }
    }
}

/// Pairs deletions with additions; returns the output in git's order (a rename
/// takes the place of its new path; its deletion disappears).
pub(crate) fn detect(repo: &Repository, changes: &[Change]) -> Result<Vec<Planned>, git2::Error> {
    let srcs: Vec<usize> = (0..changes.len())
        .filter(|&c| matches!(changes[c], Change::Deleted(_)))
        .collect();
    let dsts: Vec<usize> = (0..changes.len())
        .filter(|&c| matches!(changes[c], Change::Added(_)))
        .collect();
    if srcs.is_empty() || dsts.is_empty() {
        return Ok((0..changes.len()).map(Planned::Keep).collect());
    }
    let side = |c: usize| match &changes[c] {
        Change::Added(s) | Change::Deleted(s) => s,
        _ => unreachable!("only additions and deletions are candidates"),
    };
    let src_sides: Vec<&Side> = srcs.iter().map(|&c| side(c)).collect();
    let dst_sides: Vec<&Side> = dsts.iter().map(|&c| side(c)).collect();
    let mut m = Matcher {
        src_used: vec![false; srcs.len()],
        dst_pair: vec![None; dsts.len()],
    };

    m.exact(&src_sides, &dst_sides);
    let mut content = Content::new(repo);
    m.basename(&src_sides, &dst_sides, &mut content)?;
    m.matrix(&src_sides, &dst_sides, &mut content)?;

    // Rebuild in the original order.
    let mut renamed_src_at: HashMap<usize, (usize, u64)> = HashMap::new();
    for (d, pair) in m.dst_pair.iter().enumerate() {
        if let Some((s, score)) = pair {
            renamed_src_at.insert(dsts[d], (srcs[*s], *score));
        }
    }
    let used_src: std::collections::HashSet<usize> =
        renamed_src_at.values().map(|(s, _)| *s).collect();
    let mut out = Vec::with_capacity(changes.len());
    for c in 0..changes.len() {
        if used_src.contains(&c) {
            continue;
        }
        out.push(match renamed_src_at.get(&c) {
            Some(&(s, score)) => Planned::Renamed {
                old: s,
                new: c,
                score,
            },
            None => Planned::Keep(c),
        });
    }
    Ok(out)
}

struct Matcher {
    src_used: Vec<bool>,
    /// For each destination: (source index, score).
    dst_pair: Vec<Option<(usize, u64)>>,
}

impl Matcher {
    fn record(&mut self, dst: usize, src: usize, score: u64) {
        self.dst_pair[dst] = Some((src, score));
        self.src_used[src] = true;
    }

    /// git's `find_exact_renames`: same blob id; among several sources prefer one
    /// with the same basename, else the first in path order.
    fn exact(&mut self, srcs: &[&Side], dsts: &[&Side]) {
        let mut by_id: HashMap<Oid, Vec<usize>> = HashMap::new();
        for (j, s) in srcs.iter().enumerate() {
            by_id.entry(s.id).or_default().push(j);
        }
        for (i, target) in dsts.iter().enumerate() {
            let Some(list) = by_id.get(&target.id) else {
                continue;
            };
            let mut best: Option<usize> = None;
            let mut best_score = -1i32;
            let mut budget = 100;
            for &j in list {
                let source = srcs[j];
                if (!is_reg(source.mode) || !is_reg(target.mode)) && source.mode != target.mode {
                    continue;
                }
                if self.src_used[j] {
                    continue;
                }
                let score = 1 + i32::from(basename_same(&source.path, &target.path));
                if score > best_score {
                    best = Some(j);
                    best_score = score;
                    if score == 2 {
                        break;
                    }
                }
                budget -= 1;
                if budget == 0 {
                    break;
                }
            }
            if let Some(j) = best {
                self.record(i, j, MAX_SCORE);
            }
        }
    }

    /// git's `find_basename_matches`: a source and a destination whose basename is
    /// unique on both sides pair up when at least 75% similar.
    fn basename(
        &mut self,
        srcs: &[&Side],
        dsts: &[&Side],
        content: &mut Content<'_>,
    ) -> Result<(), git2::Error> {
        let mut src_by_base: HashMap<&[u8], Option<usize>> = HashMap::new();
        for (j, s) in srcs.iter().enumerate() {
            if !self.src_used[j] {
                src_by_base
                    .entry(basename(&s.path))
                    .and_modify(|v| *v = None)
                    .or_insert(Some(j));
            }
        }
        let mut dst_by_base: HashMap<&[u8], Option<usize>> = HashMap::new();
        for (i, d) in dsts.iter().enumerate() {
            if self.dst_pair[i].is_none() {
                dst_by_base
                    .entry(basename(&d.path))
                    .and_modify(|v| *v = None)
                    .or_insert(Some(i));
            }
        }
        for (j, s) in srcs.iter().enumerate() {
            if self.src_used[j] {
                continue;
            }
            let base = basename(&s.path);
            let (Some(Some(sj)), Some(Some(i))) = (src_by_base.get(base), dst_by_base.get(base))
            else {
                continue;
            };
            if *sj != j || self.dst_pair[*i].is_some() {
                continue;
            }
            let score = content.similarity(s, dsts[*i], MIN_BASENAME_SCORE)?;
            if score >= MIN_BASENAME_SCORE {
                self.record(*i, j, score);
            }
        }
        Ok(())
    }

    /// git's matrix: the best four sources per destination, all candidates sorted
    /// by score (then same basename first), taken greedily.
    fn matrix(
        &mut self,
        srcs: &[&Side],
        dsts: &[&Side],
        content: &mut Content<'_>,
    ) -> Result<(), git2::Error> {
        let free_srcs: Vec<usize> = (0..srcs.len()).filter(|&j| !self.src_used[j]).collect();
        let free_dsts: Vec<usize> = (0..dsts.len())
            .filter(|&i| self.dst_pair[i].is_none())
            .collect();
        if free_srcs.is_empty() || free_dsts.is_empty() {
            return Ok(());
        }
        if free_srcs.len().saturating_mul(free_dsts.len()) > RENAME_LIMIT * RENAME_LIMIT {
            tracing::debug!(
                sources = free_srcs.len(),
                destinations = free_dsts.len(),
                "too many rename candidates; only exact renames detected, as git does"
            );
            return Ok(());
        }
        let mut mx: Vec<Candidate> = Vec::with_capacity(free_dsts.len() * CANDIDATES_PER_DST);
        for &i in &free_dsts {
            let mut best = [Candidate::NONE; CANDIDATES_PER_DST];
            for &j in &free_srcs {
                let score = content.similarity(srcs[j], dsts[i], MIN_SCORE)?;
                let cand = Candidate {
                    dst: Some(i),
                    src: j,
                    score,
                    name_score: u8::from(basename_same(&srcs[j].path, &dsts[i].path)),
                };
                record_if_better(&mut best, cand);
            }
            mx.extend(best);
        }
        mx.sort_by(Candidate::cmp_git);
        for c in mx {
            let Some(i) = c.dst else { break };
            if c.score < MIN_SCORE {
                break;
            }
            if self.dst_pair[i].is_some() || self.src_used[c.src] {
                continue;
            }
            self.record(i, c.src, c.score);
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Candidate {
    dst: Option<usize>,
    src: usize,
    score: u64,
    name_score: u8,
}

impl Candidate {
    const NONE: Candidate = Candidate {
        dst: None,
        src: 0,
        score: 0,
        name_score: 0,
    };

    /// git's `score_compare`: empty slots last, higher score first, then same
    /// basename first.
    fn cmp_git(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (a.dst, b.dst) {
            (None, None) => Equal,
            (None, Some(_)) => Greater,
            (Some(_), None) => Less,
            _ if a.score == b.score => b.name_score.cmp(&a.name_score),
            _ => b.score.cmp(&a.score),
        }
    }
}

/// git's `record_if_better`: replace the worst kept candidate if strictly better.
fn record_if_better(kept: &mut [Candidate; CANDIDATES_PER_DST], cand: Candidate) {
    let mut worst = 0;
    for i in 1..CANDIDATES_PER_DST {
        if Candidate::cmp_git(&kept[i], &kept[worst]).is_gt() {
            worst = i;
        }
    }
    if Candidate::cmp_git(&kept[worst], &cand).is_gt() {
        kept[worst] = cand;
    }
}

fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(p) => &path[p + 1..],
        None => path,
    }
}

fn basename_same(a: &[u8], b: &[u8]) -> bool {
    basename(a) == basename(b)
}

/// Blob sizes and git's span hashes, loaded once per blob.
struct Content<'r> {
    repo: &'r Repository,
    sizes: HashMap<Oid, u64>,
    hashes: HashMap<Oid, Vec<(u32, u64)>>,
}

impl<'r> Content<'r> {
    fn new(repo: &'r Repository) -> Self {
        Self {
            repo,
            sizes: HashMap::new(),
            hashes: HashMap::new(),
        }
    }

    fn size(&mut self, id: Oid) -> Result<u64, git2::Error> {
        if let Some(&s) = self.sizes.get(&id) {
            return Ok(s);
        }
        let (s, _) = self.repo.odb()?.read_header(id)?;
        self.sizes.insert(id, s as u64);
        Ok(s as u64)
    }

    fn load_hash(&mut self, id: Oid) -> Result<(), git2::Error> {
        if !self.hashes.contains_key(&id) {
            let blob = self.repo.find_blob(id)?;
            self.hashes.insert(id, span_hashes(blob.content()));
        }
        Ok(())
    }

    /// git's `estimate_similarity`.
    fn similarity(&mut self, src: &Side, dst: &Side, min_score: u64) -> Result<u64, git2::Error> {
        if !is_reg(src.mode) || !is_reg(dst.mode) {
            return Ok(0);
        }
        let (ss, ds) = (self.size(src.id)?, self.size(dst.id)?);
        let max_size = ss.max(ds);
        let delta = max_size - ss.min(ds);
        if max_size * (MAX_SCORE - min_score) < delta * MAX_SCORE {
            return Ok(0);
        }
        if ds == 0 {
            return Ok(0);
        }
        self.load_hash(src.id)?;
        self.load_hash(dst.id)?;
        let copied = copied_bytes(&self.hashes[&src.id], &self.hashes[&dst.id]);
        Ok(copied * MAX_SCORE / max_size)
    }
}

/// git's `hash_chars`: the content cut into chunks ending at a newline or 64 bytes
/// long, each hashed; returns (hash, total bytes) sorted by hash. A CR before LF is
/// ignored in text (no NUL in the first 8000 bytes).
fn span_hashes(buf: &[u8]) -> Vec<(u32, u64)> {
    let is_text = !buf[..buf.len().min(8000)].contains(&0);
    let mut counts: HashMap<u32, u64> = HashMap::new();
    let (mut accum1, mut accum2, mut n) = (0u32, 0u32, 0u64);
    let mut i = 0;
    while i < buf.len() {
        let c = buf[i];
        i += 1;
        if is_text && c == b'\r' && i < buf.len() && buf[i] == b'\n' {
            continue;
        }
        let old1 = accum1;
        accum1 = (accum1 << 7) ^ (accum2 >> 25);
        accum2 = (accum2 << 7) ^ (old1 >> 25);
        accum1 = accum1.wrapping_add(u32::from(c));
        n += 1;
        if n < 64 && c != b'\n' {
            continue;
        }
        let h = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
        *counts.entry(h).or_default() += n;
        n = 0;
        accum1 = 0;
        accum2 = 0;
    }
    if n > 0 {
        let h = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
        *counts.entry(h).or_default() += n;
    }
    let mut v: Vec<(u32, u64)> = counts.into_iter().collect();
    v.sort_unstable();
    v
}

/// git's `diffcore_count_changes`, the "src_copied" half: bytes of the destination
/// that also occur in the source, chunk by chunk.
fn copied_bytes(src: &[(u32, u64)], dst: &[(u32, u64)]) -> u64 {
    let (mut s, mut d, mut copied) = (0, 0, 0);
    while s < src.len() && d < dst.len() {
        match src[s].0.cmp(&dst[d].0) {
            std::cmp::Ordering::Less => s += 1,
            std::cmp::Ordering::Greater => d += 1,
            std::cmp::Ordering::Equal => {
                copied += src[s].1.min(dst[d].1);
                s += 1;
                d += 1;
            }
        }
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_content_is_fully_copied() {
        let h = span_hashes(b"one\ntwo\nthree\n");
        assert_eq!(copied_bytes(&h, &h), 14);
    }

    #[test]
    fn crlf_counts_like_lf_in_text() {
        let a = span_hashes(b"one\r\ntwo\r\n");
        let b = span_hashes(b"one\ntwo\n");
        assert_eq!(a, b);
    }

    #[test]
    fn long_lines_are_cut_every_64_bytes() {
        let h = span_hashes(&[b'x'; 130]);
        let total: u64 = h.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 130);
        assert!(
            h.iter().any(|&(_, n)| n == 128),
            "two identical 64-byte chunks share a hash: {h:?}"
        );
    }

    #[test]
    fn basenames_compare_after_the_last_slash() {
        assert!(basename_same(b"a/b/c.rs", b"x/c.rs"));
        assert!(basename_same(b"c.rs", b"x/c.rs"));
        assert!(!basename_same(b"a/bc.rs", b"x/c.rs"));
    }
}
