//! PR diffs: cache → GitHub API → git2 fallback, and the GitHub-compatible file model.

pub mod engine;
pub mod error;
pub mod gitfmt;
pub mod model;
mod rename;

pub use engine::{LocalDiff, diff};
pub use error::{GitError, GitErrorKind};
pub use model::{FileEntry, FileStatus};
