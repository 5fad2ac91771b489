//! Identifier newtypes shared by every module.
//!
//! Purpose: make it impossible to pass an unvalidated owner/repo into a path or URL,
//! or to confuse a PR number with an issue id. Validation happens once, here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused; safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "owner {0:?} is not a valid GitHub account name (letters, digits and single hyphens, at most 39 characters, not starting or ending with a hyphen)"
    )]
    Owner(String),
    #[error(
        "repository name {0:?} is not a valid GitHub repository name (letters, digits, '.', '_', '-', at most 100 characters, not '.' or '..')"
    )]
    Repo(String),
    #[error("{0:?} is not of the form OWNER/REPO")]
    Form(String),
}

/// A repository `owner/name`, validated against GitHub's naming rules and kept in
/// lowercase: GitHub names are case-insensitive, so caches, locks, permission
/// checks and store keys all use this one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName {
    owner: String,
    name: String,
}

impl RepoName {
    pub fn new(owner: &str, name: &str) -> Result<Self, NameError> {
        if !valid_owner(owner) {
            return Err(NameError::Owner(truncate_for_error(owner)));
        }
        if !valid_repo(name) {
            return Err(NameError::Repo(truncate_for_error(name)));
        }
        Ok(Self {
            owner: owner.to_ascii_lowercase(),
            name: name.to_ascii_lowercase(),
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `owner/name` in lowercase.
    pub fn full(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

impl std::str::FromStr for RepoName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (owner, name) = s
            .split_once('/')
            .ok_or_else(|| NameError::Form(truncate_for_error(s)))?;
        Self::new(owner, name)
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl Serialize for RepoName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RepoName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn truncate_for_error(s: &str) -> String {
    s.chars().take(120).collect()
}

/// GitHub account names: alphanumerics and single hyphens, no leading or trailing
/// hyphen, at most 39 characters.
pub fn valid_owner(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// GitHub repository names: alphanumerics, '.', '_', '-', at most 100, not '.' or '..'.
pub fn valid_repo(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A pull request (or issue) number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrNumber(pub u64);

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An issue number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IssueNumber(pub u64);

impl fmt::Display for IssueNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A GitHub user's login, validated as an account name and kept in lowercase
/// (logins are case-insensitive): what may be assigned or named as an owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    /// `name` with or without a leading `@`; `None` when it is no account name.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.strip_prefix('@').unwrap_or(name);
        valid_owner(name).then(|| Self(name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Login {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s).ok_or_else(|| NameError::Owner(truncate_for_error(s)))
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A full 40-hex commit id, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Sha(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a 40-character hexadecimal commit id")]
pub struct ShaError(pub String);

impl Sha {
    pub fn new(s: &str) -> Result<Self, ShaError> {
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(ShaError(truncate_for_error(s)))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Sha {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha::new(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GitHub App installation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstallationId(pub u64);

impl fmt::Display for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The only way to read the value: grep for it when auditing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_are_validated_and_lowercased() {
        let a: RepoName = "Acme/Widgets".parse().unwrap();
        let b: RepoName = "acme/widgets".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.full(), "acme/widgets");
        for bad in [
            "acme/..",
            "acme/.",
            "acme/a/b",
            "-acme/x",
            "ac--me/x",
            "acme/%2e%2e",
            "acme/",
        ] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad} accepted");
        }
        assert!(RepoName::new(&"a".repeat(40), "x").is_err());
        assert!(RepoName::new("a", &"x".repeat(101)).is_err());
        assert!(RepoName::new("a", "x.y_z-1").is_ok());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
