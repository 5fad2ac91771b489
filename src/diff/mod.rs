//! PR diffs: cache → GitHub API → git2 fallback, and the GitHub-compatible file model.
