//! Issue references in a pull request's title and body: `#8`, `fixes #8`,
//! `acme/evals#8`, or an issue's URL — what GitHub itself links.
//!
//! Pure; the caller decides which references are an incident's issues.

use std::sync::LazyLock;

use regex::Regex;

use crate::types::{IssueNumber, RepoName};

/// `#8` or `owner/repo#8`, not inside a word (so `abc#8` and `C#8` are not refs).
static SHORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[^\w/#])(?:([A-Za-z0-9][A-Za-z0-9-]{0,38})/([A-Za-z0-9._-]{1,100}))?#(\d{1,9})\b",
    )
    .expect("a valid pattern")
});
/// `https://host/owner/repo/issues/8` (also `/pull/8`: GitHub redirects).
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https?://[^\s/]+/([A-Za-z0-9][A-Za-z0-9-]{0,38})/([A-Za-z0-9._-]{1,100})/(?:issues|pull)/(\d{1,9})\b")
        .expect("a valid pattern")
});

/// The most references one text yields (a PR body listing thousands is not a fix).
const MAX_REFS: usize = 50;

/// Every issue `text` references, `#N` meaning `here`'s; each once, in order.
pub fn issue_refs(text: &str, here: &RepoName) -> Vec<(RepoName, IssueNumber)> {
    let mut out: Vec<(RepoName, IssueNumber)> = Vec::new();
    let mut push = |repo: RepoName, n: &str| {
        if let Ok(n) = n.parse::<u64>()
            && n > 0
            && !out.iter().any(|(r, m)| *r == repo && m.0 == n)
            && out.len() < MAX_REFS
        {
            out.push((repo, IssueNumber(n)));
        }
    };
    for c in URL.captures_iter(text) {
        if let Ok(repo) = format!("{}/{}", &c[1], &c[2]).parse::<RepoName>() {
            push(repo, &c[3]);
        }
    }
    for c in SHORT.captures_iter(text) {
        let repo = match (c.get(1), c.get(2)) {
            (Some(o), Some(r)) => match format!("{}/{}", o.as_str(), r.as_str()).parse() {
                Ok(repo) => repo,
                Err(_) => continue,
            },
            _ => here.clone(),
        };
        push(repo, &c[3]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<String> {
        issue_refs(text, &"acme/evals".parse().unwrap())
            .into_iter()
            .map(|(r, n)| format!("{}#{}", r.full(), n.0))
            .collect()
    }

    #[test]
    fn the_forms_github_links() {
        assert_eq!(refs("Roll back the image, fixes #8"), ["acme/evals#8"]);
        assert_eq!(refs("#8"), ["acme/evals#8"]);
        assert_eq!(
            refs("see acme/incidents#12 and (#8)"),
            ["acme/incidents#12", "acme/evals#8"]
        );
        assert_eq!(
            refs("https://github.com/Acme/Evals/issues/8 again #8"),
            ["acme/evals#8"]
        );
    }

    #[test]
    fn lookalikes_are_not_refs() {
        for s in [
            "C#8",
            "abc#8",
            "#0",
            "#x",
            "https://example.com/#8",
            "issue 8",
        ] {
            assert!(refs(s).is_empty(), "{s:?}: {:?}", refs(s));
        }
        let many: String = (1..500).map(|i| format!("#{i} ")).collect();
        assert_eq!(refs(&many).len(), MAX_REFS);
    }
}
