//! What an agent asked to see of a diff: `?path=GLOB` filters and a `max_bytes` budget
//! that cuts at a file boundary and says so — never silently.

use bytes::Bytes;
use globset::{Glob, GlobSet, GlobSetBuilder};

use super::model::FileEntry;
use super::service::split_files;

/// Path filters; empty means every file.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    set: Option<GlobSet>,
}

impl PathFilter {
    pub fn new(globs: &[String]) -> Result<Self, String> {
        if globs.is_empty() {
            return Ok(Self::default());
        }
        let mut b = GlobSetBuilder::new();
        for g in globs {
            b.add(Glob::new(g).map_err(|e| format!("path filter {g:?} is not a valid glob: {e}"))?);
        }
        Ok(Self {
            set: Some(b.build().map_err(|e| e.to_string())?),
        })
    }

    /// A file matches when its path (or, for a rename, its old path) matches.
    pub fn matches(&self, f: &FileEntry) -> bool {
        match &self.set {
            None => true,
            Some(set) => {
                set.is_match(&f.filename)
                    || f.previous_filename
                        .as_deref()
                        .is_some_and(|p| set.is_match(p))
            }
        }
    }

    pub fn is_all(&self) -> bool {
        self.set.is_none()
    }
}

/// A unified diff as sent: the kept files' parts, and what was left out for the budget.
pub struct CutDiff {
    pub body: Bytes,
    pub truncated: bool,
    pub omitted: Vec<String>,
}

/// Keeps the parts of `unified` whose files match `filter`, then as many whole files as
/// fit in `max_bytes`; omitted files are named in a closing line.
pub fn cut(
    unified: &Bytes,
    files: &[FileEntry],
    filter: &PathFilter,
    max_bytes: Option<usize>,
) -> CutDiff {
    if filter.is_all() && max_bytes.is_none_or(|m| unified.len() <= m) {
        return CutDiff {
            body: unified.clone(),
            truncated: false,
            omitted: Vec::new(),
        };
    }
    let parts = split_files(unified);
    // Parts and files are both in git's order; if they ever disagree, filter nothing
    // rather than drop the wrong file.
    let aligned = parts.len() == files.len();
    let mut body = Vec::new();
    let mut omitted = Vec::new();
    for (i, range) in parts.iter().enumerate() {
        let file = aligned.then(|| &files[i]);
        if let Some(f) = file
            && !filter.matches(f)
        {
            continue;
        }
        let part = &unified[range.clone()];
        if let Some(max) = max_bytes
            && (body.len() + part.len() > max || !omitted.is_empty())
        {
            omitted.push(
                file.map(|f| f.filename.clone())
                    .unwrap_or_else(|| format!("part {}", i + 1)),
            );
            continue;
        }
        body.extend_from_slice(part);
    }
    let truncated = !omitted.is_empty();
    if truncated {
        body.extend_from_slice(
            format!(
                "# responder: truncated at {} bytes; omitted {} files: {}\n",
                max_bytes.unwrap_or(0),
                omitted.len(),
                omitted.join(", ")
            )
            .as_bytes(),
        );
    }
    CutDiff {
        body: body.into(),
        truncated,
        omitted,
    }
}
