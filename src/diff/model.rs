//! The GitHub-compatible file model: one changed file of a pull request, shaped like
//! an entry of GitHub's `GET /repos/{owner}/{repo}/pulls/{n}/files` answer.
//!
//! Purpose: both sources (GitHub's API and the local git fallback) produce this one
//! type, so agents cannot tell them apart. It must never carry anything GitHub would
//! not (no local paths, no object ids beyond what the contract names).

use serde::{Deserialize, Serialize};

/// How a file changed, in GitHub's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Removed,
    Modified,
    Renamed,
    Copied,
    /// Only the mode changed (GitHub's word for a change without content change).
    Changed,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Added => "added",
            FileStatus::Removed => "removed",
            FileStatus::Modified => "modified",
            FileStatus::Renamed => "renamed",
            FileStatus::Copied => "copied",
            FileStatus::Changed => "changed",
        }
    }
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path after the change (the new name for a rename).
    pub filename: String,
    pub status: FileStatus,
    pub additions: u64,
    pub deletions: u64,
    /// additions + deletions, as GitHub counts it.
    pub changes: u64,
    /// The hunks as GitHub shows them: from the first `@@` on, without the
    /// `diff --git`/`index`/`---`/`+++` header, without a trailing newline.
    /// `None` for binary files and for changes without content (pure renames,
    /// mode changes, empty files).
    pub patch: Option<String>,
    /// The old path of a renamed or copied file.
    pub previous_filename: Option<String>,
    pub binary: bool,
}
