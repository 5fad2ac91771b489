//! The local diff: merge-base(base, head) → head, tree to tree, with git's rename
//! detection, producing GitHub's file list and a unified diff byte-identical to
//! `git diff --no-color -M <merge-base> <head>`.
//!
//! Purpose: the answer when GitHub's files endpoint fails or truncates. It reads a
//! mirror and never writes to it, never fetches, and never reads the environment.

use std::ops::Range;
use std::path::Path;

use git2::{Delta, DiffOptions, Oid, Patch, Repository};

use super::error::GitError;
use super::gitfmt::{auto_abbrev_len, quote, quote_prefixed, unique_abbrev};
use super::model::{FileEntry, FileStatus};
use super::rename::{Change, MAX_SCORE, Side};
use super::sections;
use crate::types::Sha;

/// A pull request's changes computed from a local mirror.
#[derive(Debug, Clone)]
pub struct LocalDiff {
    pub base: Sha,
    pub head: Sha,
    pub merge_base: Sha,
    /// In git's order (by path; a rename sits at its new path).
    pub files: Vec<FileEntry>,
    /// Byte-identical to `git diff --no-color -M <merge_base> <head>`.
    pub unified: Vec<u8>,
}

const GITLINK: u32 = 0o160000;
/// git looks for a NUL in this many leading bytes to call content binary.
const BINARY_PROBE: usize = 8000;

/// The merge base of two commits if the mirror at `repo_path` has both (no fetch).
pub fn merge_base(repo_path: &Path, base: &Sha, head: &Sha) -> Result<Option<Sha>, GitError> {
    let Ok(repo) = Repository::open_bare(repo_path) else {
        return Ok(None);
    };
    let (Ok(b), Ok(h)) = (
        git2::Oid::from_str(base.as_str()),
        git2::Oid::from_str(head.as_str()),
    ) else {
        return Ok(None);
    };
    Ok(repo.merge_base(b, h).ok().map(sha))
}

/// Diffs `head` against its merge-base with `base` (three-dot), in the bare
/// repository at `repo_path`. Both commits must already be in the mirror.
pub fn diff(repo_path: &Path, base: &Sha, head: &Sha) -> Result<LocalDiff, GitError> {
    trust_object_store();
    let label = repo_label(repo_path);
    let git = |doing: &str| {
        let label = label.clone();
        let doing = doing.to_owned();
        move |e: git2::Error| GitError::from_git(&label, &doing, &e)
    };
    let repo = Repository::open_bare(repo_path).map_err(git("opening the mirror"))?;
    let base_id = commit_id(&repo, &label, base)?;
    let head_id = commit_id(&repo, &label, head)?;
    let mb = repo.merge_base(base_id, head_id).map_err(|e| {
        if e.code() == git2::ErrorCode::NotFound {
            GitError::NotFound {
                repo: label.clone(),
                what: format!("a common ancestor of {base} and {head}"),
            }
        } else {
            GitError::from_git(&label, "computing the merge base", &e)
        }
    })?;
    let old_tree = repo
        .find_commit(mb)
        .and_then(|c| c.tree())
        .map_err(git("reading the merge-base tree"))?;
    let new_tree = repo
        .find_commit(head_id)
        .and_then(|c| c.tree())
        .map_err(git("reading the head tree"))?;

    let mut opts = DiffOptions::new();
    // Content is read later, once, by the writer; the tree diff only needs ids.
    opts.include_typechange(true).skip_binary_check(true);
    let tree_diff = repo
        .diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut opts))
        .map_err(git("diffing trees"))?;
    let changes = collect_changes(&tree_diff);
    drop(tree_diff);
    let (files, unified) = sections::write(repo_path, &repo, &changes, auto_abbrev_len(repo_path))
        .map_err(git("writing the patch"))?;
    Ok(LocalDiff {
        base: base.clone(),
        head: head.clone(),
        merge_base: sha(mb),
        files,
        unified,
    })
}

/// libgit2 re-hashes every object it reads to check its id (strict hash
/// verification), which was half the diff's time; git never does on reads. The
/// mirror's objects were hashed once already, by the indexer as they arrived.
/// Process-wide, set once.
fn trust_object_store() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

fn sha(id: Oid) -> Sha {
    Sha::new(&id.to_string()).expect("libgit2 ids are 40 hex digits")
}

/// The last two path components (`owner/name.git`), to name the repo in errors.
fn repo_label(path: &Path) -> String {
    let mut parts: Vec<_> = path
        .iter()
        .rev()
        .take(2)
        .map(|p| p.to_string_lossy())
        .collect();
    parts.reverse();
    parts.join("/")
}

fn commit_id(repo: &Repository, label: &str, id: &Sha) -> Result<Oid, GitError> {
    let oid = Oid::from_str(id.as_str())
        .map_err(|e| GitError::from_git(label, "parsing a commit id", &e))?;
    repo.find_commit(oid)
        .map(|c| c.id())
        .map_err(|e| match e.code() {
            git2::ErrorCode::NotFound => GitError::NotFound {
                repo: label.to_owned(),
                what: format!("commit {id}"),
            },
            _ => GitError::from_git(label, &format!("reading commit {id}"), &e),
        })
}

fn collect_changes(diff: &git2::Diff<'_>) -> Vec<Change> {
    let side = |f: git2::DiffFile<'_>| Side {
        path: f.path_bytes().unwrap_or_default().to_vec(),
        id: f.id(),
        mode: canonical_mode(f.mode().into()),
    };
    diff.deltas()
        .filter_map(|d| match d.status() {
            Delta::Added => Some(Change::Added(side(d.new_file()))),
            Delta::Deleted => Some(Change::Deleted(side(d.old_file()))),
            Delta::Modified => Some(Change::Modified {
                old: side(d.old_file()),
                new: side(d.new_file()),
            }),
            Delta::Typechange => Some(Change::TypeChanged {
                old: side(d.old_file()),
                new: side(d.new_file()),
            }),
            _ => None,
        })
        .collect()
}

/// git prints the obsolete group-writable mode as 100644 (`canon_mode`).
fn canonical_mode(mode: u32) -> u32 {
    if mode == 0o100664 { 0o100644 } else { mode }
}

/// What one `diff --git` section contributed.
#[derive(Default)]
struct Section {
    additions: u64,
    deletions: u64,
    binary: bool,
    /// Where the hunks (from the first `@@`) sit in the unified buffer.
    hunks: Option<Range<usize>>,
}

/// Writes `diff --git` sections one after another into `out`.
pub(super) struct Writer<'r> {
    repo: &'r Repository,
    odb: git2::Odb<'r>,
    abbrev: usize,
    opts: DiffOptions,
    pub(super) out: Vec<u8>,
}

impl<'r> Writer<'r> {
    pub(super) fn new(repo: &'r Repository, abbrev: usize) -> Result<Self, git2::Error> {
        let mut opts = DiffOptions::new();
        // git's defaults: 3 lines of context, hunks merged only when touching,
        // indent heuristic on (diff.indentHeuristic, default since git 2.14).
        // Binary detection is ours (git's NUL rule), so libgit2 treats all as text.
        opts.context_lines(3)
            .interhunk_lines(0)
            .indent_heuristic(true)
            .force_text(true);
        Ok(Self {
            repo,
            odb: repo.odb()?,
            abbrev,
            opts,
            out: Vec::with_capacity(1 << 16),
        })
    }

    /// Appends the change's section(s) to `out`; returns its file entry.
    pub(super) fn write(&mut self, change: &Change) -> Result<FileEntry, git2::Error> {
        let (old, new, score, status) = match change {
            Change::Added(s) => (None, Some(s), None, FileStatus::Added),
            Change::Deleted(s) => (Some(s), None, None, FileStatus::Removed),
            Change::Modified { old, new } => {
                let status = if old.id == new.id {
                    FileStatus::Changed
                } else {
                    FileStatus::Modified
                };
                (Some(old), Some(new), None, status)
            }
            Change::Renamed { old, new, score } => {
                (Some(old), Some(new), Some(*score), FileStatus::Renamed)
            }
            Change::TypeChanged { old, new } => {
                // git prints a type change as a deletion followed by a creation.
                let gone = self.section(Some(old), None, None)?;
                let born = self.section(None, Some(new), None)?;
                return Ok(self.entry(new, None, FileStatus::Changed, &[gone, born]));
            }
        };
        let section = self.section(old, new, score)?;
        let after = new.or(old).expect("a change has at least one side");
        let previous = if score.is_some() { old } else { None };
        Ok(self.entry(after, previous, status, &[section]))
    }

    fn entry(
        &self,
        after: &Side,
        previous: Option<&Side>,
        status: FileStatus,
        parts: &[Section],
    ) -> FileEntry {
        let additions = parts.iter().map(|p| p.additions).sum();
        let deletions = parts.iter().map(|p| p.deletions).sum();
        let binary = parts.iter().any(|p| p.binary);
        let mut patch: Option<String> = None;
        for range in parts.iter().filter_map(|p| p.hunks.clone()) {
            let text = String::from_utf8_lossy(&self.out[range]);
            let p = patch.get_or_insert_with(String::new);
            if !p.is_empty() {
                p.push('\n');
            }
            p.push_str(text.strip_suffix('\n').unwrap_or(&text));
        }
        FileEntry {
            filename: String::from_utf8_lossy(&after.path).into_owned(),
            status,
            additions,
            deletions,
            changes: additions + deletions,
            patch: if binary { None } else { patch },
            previous_filename: previous.map(|s| String::from_utf8_lossy(&s.path).into_owned()),
            binary,
        }
    }

    /// Writes one `diff --git` section as git's `builtin_diff` does.
    fn section(
        &mut self,
        old: Option<&Side>,
        new: Option<&Side>,
        score: Option<u64>,
    ) -> Result<Section, git2::Error> {
        let name_a = &old.or(new).expect("one side").path;
        let name_b = &new.or(old).expect("one side").path;
        let out = &mut self.out;
        out.extend_from_slice(b"diff --git ");
        quote_prefixed(out, b"a/", name_a);
        out.push(b' ');
        quote_prefixed(out, b"b/", name_b);
        out.push(b'\n');
        let (mode_a, mode_b) = (old.map_or(0, |s| s.mode), new.map_or(0, |s| s.mode));
        match (old, new) {
            (None, Some(n)) => {
                out.extend_from_slice(format!("new file mode {:06o}\n", n.mode).as_bytes())
            }
            (Some(o), None) => {
                out.extend_from_slice(format!("deleted file mode {:06o}\n", o.mode).as_bytes())
            }
            _ if mode_a != mode_b => out.extend_from_slice(
                format!("old mode {mode_a:06o}\nnew mode {mode_b:06o}\n").as_bytes(),
            ),
            _ => {}
        }
        if let (Some(score), Some(o), Some(n)) = (score, old, new) {
            out.extend_from_slice(
                format!(
                    "similarity index {}%\nrename from ",
                    score * 100 / MAX_SCORE
                )
                .as_bytes(),
            );
            quote(out, &o.path);
            out.extend_from_slice(b"\nrename to ");
            quote(out, &n.path);
            out.push(b'\n');
        }
        let (id_a, id_b) = (
            old.map_or(Oid::ZERO_SHA1, |s| s.id),
            new.map_or(Oid::ZERO_SHA1, |s| s.id),
        );
        if id_a == id_b {
            return Ok(Section::default());
        }
        let (abbr_a, abbr_b) = (
            unique_abbrev(&self.odb, id_a, self.abbrev),
            unique_abbrev(&self.odb, id_b, self.abbrev),
        );
        out.extend_from_slice(format!("index {abbr_a}..{abbr_b}").as_bytes());
        if mode_a == mode_b {
            out.extend_from_slice(format!(" {mode_a:06o}").as_bytes());
        }
        out.push(b'\n');

        let mut label_a = Vec::new();
        let mut label_b = Vec::new();
        match old {
            Some(_) => quote_prefixed(&mut label_a, b"a/", name_a),
            None => label_a.extend_from_slice(b"/dev/null"),
        }
        match new {
            Some(_) => quote_prefixed(&mut label_b, b"b/", name_b),
            None => label_b.extend_from_slice(b"/dev/null"),
        }

        let blob_a = old.map(|s| self.content(s)).transpose()?;
        let blob_b = new.map(|s| self.content(s)).transpose()?;
        let bytes_a = blob_a.as_ref().map_or(&[][..], |c| c.bytes());
        let bytes_b = blob_b.as_ref().map_or(&[][..], |c| c.bytes());
        let out = &mut self.out;
        if is_binary(bytes_a) || is_binary(bytes_b) {
            out.extend_from_slice(b"Binary files ");
            out.extend_from_slice(&label_a);
            out.extend_from_slice(b" and ");
            out.extend_from_slice(&label_b);
            out.extend_from_slice(b" differ\n");
            return Ok(Section {
                binary: true,
                ..Section::default()
            });
        }
        let patch = match (&blob_a, &blob_b) {
            // Blobs carry their ids; buffers would be hashed again by libgit2.
            (Some(Content::Blob(a)), Some(Content::Blob(b))) => {
                Patch::from_blobs(a, None, b, None, Some(&mut self.opts))?
            }
            _ => Patch::from_buffers(bytes_a, None, bytes_b, None, Some(&mut self.opts))?,
        };
        if patch.num_hunks() == 0 {
            return Ok(Section::default());
        }
        for (prefix, label) in [(&b"--- "[..], &label_a), (&b"+++ "[..], &label_b)] {
            out.extend_from_slice(prefix);
            out.extend_from_slice(label);
            if label.contains(&b' ') {
                out.push(b'\t');
            }
            out.push(b'\n');
        }
        let start = out.len();
        let (mut additions, mut deletions) = (0, 0);
        for h in 0..patch.num_hunks() {
            let (hunk, lines) = patch.hunk(h)?;
            out.extend_from_slice(hunk.header());
            for l in 0..lines {
                let line = patch.line_in_hunk(h, l)?;
                // Other origins ('=', '>', '<') are the "\ No newline at end of
                // file" markers: their content is printed as is, without a prefix.
                if let c @ (' ' | '+' | '-') = line.origin() {
                    additions += u64::from(c == '+');
                    deletions += u64::from(c == '-');
                    out.push(c as u8);
                }
                out.extend_from_slice(line.content());
            }
        }
        Ok(Section {
            additions,
            deletions,
            binary: false,
            hunks: Some(start..out.len()),
        })
    }

    fn content(&self, side: &Side) -> Result<Content<'r>, git2::Error> {
        if side.mode == GITLINK {
            // A submodule shows as one line naming its commit.
            return Ok(Content::Text(
                format!("Subproject commit {}\n", side.id).into_bytes(),
            ));
        }
        Ok(Content::Blob(self.repo.find_blob(side.id)?))
    }
}

enum Content<'r> {
    Blob(git2::Blob<'r>),
    Text(Vec<u8>),
}

impl Content<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Content::Blob(b) => b.content(),
            Content::Text(t) => t,
        }
    }
}

fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_PROBE)].contains(&0)
}
