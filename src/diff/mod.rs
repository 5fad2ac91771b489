//! PR diffs: cache → GitHub API → git2 fallback, and the GitHub-compatible file model.

pub mod answer;
mod batch;
pub mod cache;
pub mod engine;
pub mod error;
pub mod flight;
pub mod gitfmt;
mod hot;
pub mod mirror;
pub mod model;
pub mod pool;
pub use crate::recent;
mod rename;
mod sections;
pub mod service;
mod socket;
pub mod view;
mod writeback;

pub use answer::{DiffAnswer, DiffError, Source, Via};
pub use cache::{CacheError, CacheMeta, CachedDiff, DiffCache, etag};
pub use engine::{LocalDiff, diff};
pub use error::{GitError, GitErrorKind};
pub use flight::{Abandoned, SingleFlight};
pub use mirror::{FetchStats, Mirrors, pr_refspecs};
pub use model::{FileEntry, FileStatus};
pub use pool::GitPool;
pub use service::{DiffConfig, DiffService};
