//! GitHub's answers classified by content, not just status: callers decide on these
//! kinds, never on a bare code. Messages never carry tokens.

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub answered 404 Not Found for {what}")]
    NotFound { what: String },
    #[error("GitHub refused {what}: {message}{}", permission.as_deref().map(|p| format!(" (the App needs the permission {p})")).unwrap_or_default())]
    Forbidden {
        what: String,
        message: String,
        /// What `X-Accepted-GitHub-Permissions` names, e.g. `issues=write`.
        permission: Option<String>,
    },
    #[error("GitHub says {what} is too large: {message}")]
    TooLarge { what: String, message: String },
    #[error("GitHub could not produce {what} in time ({status}): {message}")]
    NotAvailable {
        what: String,
        status: u16,
        message: String,
    },
    #[error("GitHub rate limit hit for {what}; retry after {until}")]
    RateLimited {
        what: String,
        until: DateTime<Utc>,
        secondary: bool,
    },
    #[error("GitHub rejected the App's credentials for {what}: {message}")]
    Unauthorized { what: String, message: String },
    #[error("GitHub rejected {what} as invalid (422): {message}")]
    Invalid {
        what: String,
        message: String,
        codes: Vec<String>,
        /// The fields GitHub named in `errors` (`assignees`, `title`, …).
        fields: Vec<String>,
    },
    #[error("could not reach GitHub for {what}: {message}")]
    Transport { what: String, message: String },
    #[error("GitHub answered {what} with something unexpected: {message}")]
    Unexpected { what: String, message: String },
    #[error("GitHub answered {status} for {what}: {message}")]
    Other {
        what: String,
        status: u16,
        message: String,
    },
    #[error(
        "the Responder App is not installed on {repo}; install it from the App's public page (Settings → Developer settings → GitHub Apps → Install App) and grant it this repository"
    )]
    NotInstalled { repo: String },
    #[error(
        "the GitHub App is not configured (missing: {missing}); set these variables and restart"
    )]
    NotConfigured { missing: String },
}

impl GitHubError {
    /// Worth repeating later (by the worker) with the same input.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Transport { .. } | Self::NotAvailable { .. }
        ) || matches!(self, Self::Other { status, .. } if *status >= 500)
    }

    /// A 422 that names `field` as the one GitHub refused (e.g. `assignees`: a
    /// login that cannot be assigned in the repository).
    pub fn is_invalid_field(&self, field: &str) -> bool {
        matches!(self, Self::Invalid { fields, .. } if fields.iter().any(|f| f == field))
    }
}

#[derive(Debug, Default, Deserialize)]
struct Body {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrorDetail {
    Object {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        field: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    Text(String),
}

/// Classifies a non-success answer. `now` turns rate-limit headers into a deadline.
pub fn classify(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> GitHubError {
    let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
    let mut message = parsed.message.clone();
    if message.is_empty() {
        message = String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string();
    }
    let codes: Vec<String> = parsed
        .errors
        .iter()
        .filter_map(|e| match e {
            ErrorDetail::Object { code, .. } => code.clone(),
            ErrorDetail::Text(_) => None,
        })
        .collect();
    let fields: Vec<String> = parsed
        .errors
        .iter()
        .filter_map(|e| match e {
            ErrorDetail::Object { field, .. } => field.clone(),
            ErrorDetail::Text(_) => None,
        })
        .collect();
    for detail in &parsed.errors {
        let extra = match detail {
            ErrorDetail::Object {
                message: Some(m), ..
            } => m.as_str(),
            ErrorDetail::Text(t) => t.as_str(),
            _ => "",
        };
        if !extra.is_empty() && !message.contains(extra) {
            message = format!("{message} ({extra})");
        }
    }
    let what = what.to_string();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let lower = message.to_ascii_lowercase();
    let code = status.as_u16();

    if codes.iter().any(|c| c == "not_available") || lower.contains("taking too long") {
        return GitHubError::NotAvailable {
            what,
            status: code,
            message,
        };
    }
    if code == 406 || codes.iter().any(|c| c == "too_large") {
        return GitHubError::TooLarge { what, message };
    }
    if code == 403 || code == 429 {
        let retry_after = header("retry-after").and_then(|v| v.parse::<i64>().ok());
        let remaining = header("x-ratelimit-remaining").and_then(|v| v.parse::<i64>().ok());
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok());
        let secondary = lower.contains("secondary rate limit") || lower.contains("abuse");
        if let Some(secs) = retry_after {
            return GitHubError::RateLimited {
                what,
                until: now + chrono::Duration::seconds(secs.max(0)),
                secondary,
            };
        }
        if remaining == Some(0) {
            let until = reset
                .and_then(|r| DateTime::from_timestamp(r, 0))
                .unwrap_or(now + chrono::Duration::seconds(60));
            return GitHubError::RateLimited {
                what,
                until,
                secondary: false,
            };
        }
        if code == 429 || secondary || lower.contains("rate limit") {
            // GitHub's guidance: no header to go by → wait at least a minute.
            return GitHubError::RateLimited {
                what,
                until: now + chrono::Duration::seconds(60),
                secondary: true,
            };
        }
        return GitHubError::Forbidden {
            what,
            message,
            permission: header("x-accepted-github-permissions").map(str::to_string),
        };
    }
    match code {
        401 => GitHubError::Unauthorized { what, message },
        404 => GitHubError::NotFound { what },
        422 => GitHubError::Invalid {
            what,
            message,
            codes,
            fields,
        },
        _ => GitHubError::Other {
            what,
            status: code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, headers: &[(&str, &str)], body: &str) -> GitHubError {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        classify(
            "GET /x",
            StatusCode::from_u16(status).unwrap(),
            &h,
            body.as_bytes(),
            Utc::now(),
        )
    }

    #[test]
    fn kinds_follow_content() {
        assert!(matches!(
            c(404, &[], r#"{"message":"Not Found"}"#),
            GitHubError::NotFound { .. }
        ));
        let f = c(
            403,
            &[("x-accepted-github-permissions", "issues=write")],
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert!(
            matches!(&f, GitHubError::Forbidden { permission: Some(p), .. } if p == "issues=write"),
            "{f:?}"
        );
        assert!(f.to_string().contains("issues=write"));
        let big = r#"{"message":"Sorry, the diff exceeded the maximum number of files (300).","errors":[{"resource":"PullRequest","field":"diff","code":"too_large"}]}"#;
        assert!(matches!(c(406, &[], big), GitHubError::TooLarge { .. }));
        let slow = r#"{"message":"Server Error: Sorry, this diff is taking too long to generate.","errors":[{"resource":"PullRequest","field":"diff","code":"not_available"}]}"#;
        assert!(matches!(
            c(422, &[], slow),
            GitHubError::NotAvailable { status: 422, .. }
        ));
        assert!(matches!(
            c(502, &[], slow),
            GitHubError::NotAvailable { status: 502, .. }
        ));
        assert!(matches!(
            c(
                403,
                &[("retry-after", "1")],
                r#"{"message":"You have exceeded a secondary rate limit."}"#
            ),
            GitHubError::RateLimited {
                secondary: true,
                ..
            }
        ));
        assert!(matches!(
            c(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "2000000000")
                ],
                r#"{"message":"API rate limit exceeded"}"#
            ),
            GitHubError::RateLimited {
                secondary: false,
                ..
            }
        ));
        assert!(matches!(
            c(401, &[], r#"{"message":"Bad credentials"}"#),
            GitHubError::Unauthorized { .. }
        ));
        let assignees = c(
            422,
            &[],
            r#"{"message":"Validation Failed","errors":[{"value":"bob","resource":"Issue","field":"assignees","code":"invalid"}]}"#,
        );
        assert!(assignees.is_invalid_field("assignees"), "{assignees:?}");
        assert!(!assignees.is_invalid_field("title"));
        assert!(!assignees.is_transient());
        assert!(matches!(
            c(502, &[], "<html>bad gateway</html>"),
            GitHubError::Other { status: 502, .. }
        ));
    }
}
