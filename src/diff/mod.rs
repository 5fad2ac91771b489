//! PR diffs: cache → GitHub API → git2 fallback, and the GitHub-compatible file model.

pub mod cache;
pub mod engine;
pub mod error;
pub mod flight;
pub mod gitfmt;
pub mod mirror;
pub mod model;
pub mod pool;
mod rename;

pub use cache::{CacheError, CachedDiff, DiffCache, etag};
pub use engine::{LocalDiff, diff};
pub use error::{GitError, GitErrorKind};
pub use flight::{Abandoned, SingleFlight};
pub use mirror::{FetchStats, Mirrors, pr_refspecs};
pub use model::{FileEntry, FileStatus};
pub use pool::GitPool;
