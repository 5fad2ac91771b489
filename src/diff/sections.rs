//! A diff's sections in git's order, written on two threads when the diff is big.
//!
//! Purpose: speed without changing a byte. Sections do not depend on each other,
//! and modifications do not depend on rename pairing, so the modified files are
//! written while renames are paired; then the rest (additions, deletions, renames).
//! Each phase hands its items out one at a time to two writers (each with its own
//! libgit2 handles: they cannot be shared between threads), and the sections are
//! put back together in git's order. It decides nothing about content: that is
//! the engine's `Writer` and the rename module's.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::Repository;

use super::engine::Writer;
use super::model::FileEntry;
use super::rename::{self, Change, Planned};

/// Changes from which a second thread pays for itself (it opens its own repository).
const PARALLEL_FROM: usize = 512;

/// The file entries and the unified diff of `changes` (tree order), with renames
/// paired as git pairs them.
pub(super) fn write(
    repo_path: &Path,
    repo: &Repository,
    changes: &[Change],
    abbrev: usize,
) -> Result<(Vec<FileEntry>, Vec<u8>), git2::Error> {
    if changes.len() < PARALLEL_FROM {
        let plan = rename::detect(repo, changes)?;
        let mut writer = Writer::new(repo, abbrev)?;
        let files = plan
            .iter()
            .map(|p| writer.write(&p.change(changes)))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((files, writer.out));
    }

    // Phase 1: the modifications, while this thread pairs renames first.
    let early: Vec<&Change> = changes.iter().filter(|c| independent(c)).collect();
    let next = AtomicUsize::new(0);
    let (plan, mine, theirs) = std::thread::scope(|s| {
        let other = s.spawn(|| take(&Repository::open_bare(repo_path)?, &early, &next, abbrev));
        let plan = rename::detect(repo, changes);
        let mine = take(repo, &early, &next, abbrev);
        (plan, mine, other.join())
    });
    let plan = plan?;
    let early_parts = [mine?, joined(theirs)?];

    // Phase 2: everything whose section depends on the pairing.
    let late: Vec<std::borrow::Cow<'_, Change>> = plan
        .iter()
        .filter(|p| !matches!(p, Planned::Keep(i) if independent(&changes[*i])))
        .map(|p| p.change(changes))
        .collect();
    let late_refs: Vec<&Change> = late.iter().map(|c| c.as_ref()).collect();
    let next = AtomicUsize::new(0);
    let (mine, theirs) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            take(
                &Repository::open_bare(repo_path)?,
                &late_refs,
                &next,
                abbrev,
            )
        });
        (take(repo, &late_refs, &next, abbrev), other.join())
    });
    let late_parts = [mine?, joined(theirs)?];

    // Put the sections back in git's order.
    let mut early_at = vec![usize::MAX; changes.len()];
    let mut k = 0;
    for (i, c) in changes.iter().enumerate() {
        if independent(c) {
            early_at[i] = k;
            k += 1;
        }
    }
    let mut early = Located::new(early_parts, k);
    let mut late = Located::new(late_parts, late_refs.len());
    let total = early.bytes() + late.bytes();
    let (mut files, mut out) = (Vec::with_capacity(plan.len()), Vec::with_capacity(total));
    let mut next_late = 0;
    for p in &plan {
        let entry = match p {
            Planned::Keep(i) if independent(&changes[*i]) => early.take(early_at[*i], &mut out),
            _ => {
                next_late += 1;
                late.take(next_late - 1, &mut out)
            }
        };
        files.push(entry);
    }
    Ok((files, out))
}

/// A modification's or type change's section is the same whatever the pairing.
fn independent(c: &Change) -> bool {
    matches!(c, Change::Modified { .. } | Change::TypeChanged { .. })
}

/// What one writer wrote: for each item it took, its index, its entry and where
/// its section sits in `out`.
struct Part {
    done: Vec<(usize, Option<FileEntry>, Range<usize>)>,
    out: Vec<u8>,
}

/// Writes items taken off the shared counter until none are left.
fn take(
    repo: &Repository,
    items: &[&Change],
    next: &AtomicUsize,
    abbrev: usize,
) -> Result<Part, git2::Error> {
    let mut writer = Writer::new(repo, abbrev)?;
    let mut done = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(change) = items.get(i) else { break };
        let start = writer.out.len();
        let entry = writer.write(change)?;
        done.push((i, Some(entry), start..writer.out.len()));
    }
    Ok(Part {
        done,
        out: writer.out,
    })
}

fn joined(result: std::thread::Result<Result<Part, git2::Error>>) -> Result<Part, git2::Error> {
    result.map_err(|_| git2::Error::from_str("a patch-writing thread panicked"))?
}

/// Where each item of a phase ended up, by item index.
struct Located {
    parts: [Part; 2],
    at: Vec<(usize, usize)>,
}

impl Located {
    fn new(parts: [Part; 2], items: usize) -> Self {
        let mut at = vec![(0, 0); items];
        for (p, part) in parts.iter().enumerate() {
            for (pos, (i, _, _)) in part.done.iter().enumerate() {
                at[*i] = (p, pos);
            }
        }
        Self { parts, at }
    }

    fn bytes(&self) -> usize {
        self.parts.iter().map(|p| p.out.len()).sum()
    }

    /// Appends item `i`'s section to `out` and hands over its entry.
    fn take(&mut self, i: usize, out: &mut Vec<u8>) -> FileEntry {
        let (p, pos) = self.at[i];
        let part = &mut self.parts[p];
        let (_, entry, range) = &mut part.done[pos];
        out.extend_from_slice(&part.out[range.clone()]);
        entry.take().expect("each item is taken once")
    }
}
