//! Page cursors of the MCP tools: opaque to agents, bound to what they page.
//!
//! Purpose: a cursor names the tool, the pull request, the exact version of its
//! diff (merge base and head) and the path filter it was issued for, plus where
//! the next page starts. A cursor used for another PR, another filter, or after the
//! PR's head moved is refused with the reason, so pages of two versions never mix.
//! It holds no secret and grants nothing: every call is authorised on its own
//! arguments. Stateless, so any instance can continue a page another one began.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::pages::Position;

/// Marks the format, so a later one can be told apart.
const PREFIX: &str = "rc1.";

/// What one cursor is for and where it continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `files` or `diff`.
    #[serde(rename = "t")]
    pub tool: String,
    /// `owner/name`, lowercase.
    #[serde(rename = "r")]
    pub repo: String,
    #[serde(rename = "n")]
    pub number: u64,
    #[serde(rename = "m")]
    pub merge_base: String,
    #[serde(rename = "h")]
    pub head: String,
    /// A digest of the path filter.
    #[serde(rename = "p")]
    pub paths: String,
    #[serde(rename = "f")]
    pub file: usize,
    #[serde(rename = "o")]
    pub offset: usize,
}

/// The version of a PR's diff a page was cut from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    pub repo: &'a str,
    pub number: u64,
    pub merge_base: &'a str,
    pub head: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error(
        "the cursor is not one this server issued (it may be truncated): start again without a cursor"
    )]
    Malformed,
    #[error(
        "the cursor was issued by {issued_by} for another pull request or other `paths`: call again with the arguments of the call that returned it, or start without a cursor"
    )]
    OtherArguments { issued_by: String },
    #[error(
        "the pull request moved on since this cursor was issued: the cursor is for head {old_head} (merge base {old_base}), the pull request is now at head {new_head} (merge base {new_base}). Pages of two versions would not fit together: start again without a cursor"
    )]
    Moved {
        old_head: String,
        old_base: String,
        new_head: String,
        new_base: String,
    },
}

/// A digest of a path filter, order-insensitive.
pub fn paths_digest(paths: &[String]) -> String {
    let mut sorted: Vec<&str> = paths.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let digest = Sha256::digest(sorted.join("\0").as_bytes());
    hex::encode(&digest[..8])
}

impl Cursor {
    pub fn new(tool: &str, v: &Version<'_>, paths: &[String], at: Position) -> Self {
        Self {
            tool: tool.to_string(),
            repo: v.repo.to_ascii_lowercase(),
            number: v.number,
            merge_base: v.merge_base.to_string(),
            head: v.head.to_string(),
            paths: paths_digest(paths),
            file: at.file,
            offset: at.offset,
        }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor serialises");
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    pub fn decode(s: &str) -> Result<Self, CursorError> {
        let raw = s
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(CursorError::Malformed)?;
        let json = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| CursorError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)
    }

    /// Where to continue, if this cursor belongs to `tool` paging `v` with `paths`.
    /// The PR and filter are checked before the version, so a moved head is only
    /// reported for the cursor's own PR.
    pub fn resume(
        &self,
        tool: &str,
        v: &Version<'_>,
        paths: &[String],
    ) -> Result<Position, CursorError> {
        if self.tool != tool
            || !self.repo.eq_ignore_ascii_case(v.repo)
            || self.number != v.number
            || self.paths != paths_digest(paths)
        {
            return Err(CursorError::OtherArguments {
                issued_by: format!("pull_request_{}", self.tool),
            });
        }
        if self.head != v.head || self.merge_base != v.merge_base {
            return Err(CursorError::Moved {
                old_head: self.head.clone(),
                old_base: self.merge_base.clone(),
                new_head: v.head.to_string(),
                new_base: v.merge_base.to_string(),
            });
        }
        Ok(Position {
            file: self.file,
            offset: self.offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v<'a>(head: &'a str) -> Version<'a> {
        Version {
            repo: "Acme/Widgets",
            number: 7,
            merge_base: "mb1",
            head,
        }
    }

    #[test]
    fn a_cursor_resumes_only_the_pr_version_and_filter_it_was_issued_for() {
        let paths = vec!["src/**".to_string(), "*.md".to_string()];
        let at = Position {
            file: 12,
            offset: 300,
        };
        let c = Cursor::new("diff", &v("h1"), &paths, at).encode();
        assert!(c.starts_with("rc1."));
        let back = Cursor::decode(&c).unwrap();
        let reordered = vec!["*.md".to_string(), "src/**".to_string()];
        assert_eq!(back.resume("diff", &v("h1"), &reordered), Ok(at));
        assert!(matches!(
            back.resume("files", &v("h1"), &paths),
            Err(CursorError::OtherArguments { .. })
        ));
        assert!(matches!(
            back.resume("diff", &v("h1"), &[]),
            Err(CursorError::OtherArguments { .. })
        ));
        let moved = back.resume("diff", &v("h2"), &paths).unwrap_err();
        assert!(moved.to_string().contains("moved on"), "{moved}");
        assert!(moved.to_string().contains("h1") && moved.to_string().contains("h2"));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        assert_eq!(Cursor::decode("abc"), Err(CursorError::Malformed));
        assert_eq!(Cursor::decode("rc1.!!!"), Err(CursorError::Malformed));
        assert_eq!(
            Cursor::decode(&format!("rc1.{}", URL_SAFE_NO_PAD.encode(b"{}"))),
            Err(CursorError::Malformed)
        );
    }
}
