//! Agent tokens: HS256 JWTs scoped to repositories and scopes (CONTRACT.md).
//!
//! Purpose: mint (`responder token`) and verify (the agent API). Repository grants are
//! matched case-insensitively, as GitHub names are. A verification error never says
//! whether a repository exists.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::types::{RepoName, Secret, valid_owner};

pub const SCOPES: [&str; 4] = ["diff:read", "incidents:write", "runs:write", "git:read"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not valid before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default)]
    pub repos: Vec<String>,
    #[serde(default)]
    pub scope: String,
}

/// One grant: a repository, or every repository of an owner (`owner/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Repo(RepoName),
    Owner(String),
}

impl Grant {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((owner, "*")) if valid_owner(owner) => Ok(Self::Owner(owner.to_ascii_lowercase())),
            _ => s
                .parse::<RepoName>()
                .map(Self::Repo)
                .map_err(|e| e.to_string()),
        }
    }

    pub fn allows(&self, repo: &RepoName) -> bool {
        match self {
            Self::Repo(r) => r == repo,
            Self::Owner(o) => o == repo.owner(),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Repo(r) => write!(f, "{r}"),
            Self::Owner(o) => write!(f, "{o}/*"),
        }
    }
}

/// A verified agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub sub: String,
    pub grants: Vec<Grant>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed, badly signed or expired")]
    Invalid,
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYetValid,
    #[error(
        "the token's lifetime (exp - iat) is over RESPONDER_AGENT_TOKEN_MAX_TTL ({max_secs} s); \
         mint a shorter one with `responder token --ttl`"
    )]
    TooLong { max_secs: i64 },
    #[error("the token does not grant scope {scope} on {repo}")]
    NotAllowed { repo: String, scope: String },
}

impl Agent {
    /// Allowed only when a grant covers `repo` and the token holds `scope`.
    pub fn authorize(&self, repo: &RepoName, scope: &str) -> Result<(), TokenError> {
        if self.scopes.iter().any(|s| s == scope) && self.grants.iter().any(|g| g.allows(repo)) {
            Ok(())
        } else {
            Err(TokenError::NotAllowed {
                repo: repo.to_string(),
                scope: scope.to_string(),
            })
        }
    }
}

/// Verifies `token` at `now`: signature, `exp`, `nbf`, and a lifetime of at most
/// `max_ttl_secs` (from `iat`, or from now when the token has none: a token without
/// `iat` must not outlive the limit either).
pub fn verify(
    secret: &Secret,
    token: &str,
    now: i64,
    max_ttl_secs: i64,
) -> Result<Agent, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.leeway = 0;
    validation.validate_exp = false; // checked below against the injected `now`
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.expose().as_bytes()),
        &validation,
    )
    .map_err(|_| TokenError::Invalid)?;
    let c = data.claims;
    if c.exp <= now {
        return Err(TokenError::Invalid);
    }
    if c.nbf.is_some_and(|nbf| nbf > now) {
        return Err(TokenError::NotYetValid);
    }
    if c.exp - c.iat.unwrap_or(now).min(now) > max_ttl_secs {
        return Err(TokenError::TooLong {
            max_secs: max_ttl_secs,
        });
    }
    let grants = c
        .repos
        .iter()
        .map(|r| Grant::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TokenError::Invalid)?;
    Ok(Agent {
        sub: c.sub.unwrap_or_else(|| "unnamed".into()),
        grants,
        scopes: c.scope.split_whitespace().map(str::to_string).collect(),
    })
}

/// Mints a token; `repos` and `scopes` are validated first.
pub fn mint(
    secret: &Secret,
    repos: &[String],
    scopes: &[String],
    ttl_secs: i64,
    sub: Option<&str>,
    now: i64,
) -> Result<String, String> {
    if repos.is_empty() {
        return Err("at least one --repo OWNER/REPO (or OWNER/*) is required".into());
    }
    let grants = repos
        .iter()
        .map(|r| Grant::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    for s in scopes {
        if !SCOPES.contains(&s.as_str()) {
            return Err(format!(
                "unknown scope {s:?}; scopes are {}",
                SCOPES.join(", ")
            ));
        }
    }
    if ttl_secs <= 0 {
        return Err("--ttl must be positive".into());
    }
    let claims = Claims {
        exp: now + ttl_secs,
        iat: Some(now),
        nbf: None,
        sub: sub.map(str::to_string),
        repos: grants.iter().map(Grant::to_string).collect(),
        scope: scopes.join(" "),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| format!("signing failed: {e}"))
}

/// Refuses a `--ttl` over the service's maximum, naming the setting.
pub fn check_ttl(ttl_secs: i64, max_ttl_secs: i64) -> Result<(), String> {
    if ttl_secs > max_ttl_secs {
        return Err(format!(
            "--ttl is {ttl_secs} s, over RESPONDER_AGENT_TOKEN_MAX_TTL ({max_ttl_secs} s): the \
             service would refuse the token; choose a shorter --ttl, or raise the setting for \
             the service and this command alike"
        ));
    }
    Ok(())
}

/// `30s`, `15m`, `1h`, `7d` → seconds.
pub fn parse_ttl(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30m, 1h or 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?} is not a duration like 30m, 1h or 7d")),
    };
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i64 = 30 * 86400;

    fn secret() -> Secret {
        Secret::new("0123456789abcdef0123456789abcdef")
    }

    fn signed(claims: &Claims) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret().expose().as_bytes()),
        )
        .unwrap()
    }

    fn claims(exp: i64, iat: Option<i64>, nbf: Option<i64>) -> Claims {
        Claims {
            exp,
            iat,
            nbf,
            sub: None,
            repos: vec!["a/b".into()],
            scope: "diff:read".into(),
        }
    }

    #[test]
    fn a_token_whose_nbf_is_in_the_future_is_refused() {
        let early = signed(&claims(5000, Some(1000), Some(2000)));
        assert_eq!(
            verify(&secret(), &early, 1500, MAX).unwrap_err(),
            TokenError::NotYetValid
        );
        assert!(verify(&secret(), &early, 2000, MAX).is_ok());
    }

    #[test]
    fn a_token_granting_more_than_the_maximum_lifetime_is_refused() {
        let now = 1_000_000;
        let long = signed(&claims(now + MAX + 1, Some(now), None));
        let err = verify(&secret(), &long, now, MAX).unwrap_err();
        assert_eq!(err, TokenError::TooLong { max_secs: MAX });
        assert!(err.to_string().contains("RESPONDER_AGENT_TOKEN_MAX_TTL"));
        // Without `iat` the lifetime counts from now; a backdated `iat` cannot hide one.
        let no_iat = signed(&claims(now + MAX + 1, None, None));
        assert!(verify(&secret(), &no_iat, now, MAX).is_err());
        let future_iat = signed(&claims(now + MAX + 100, Some(now + 200), None));
        assert!(verify(&secret(), &future_iat, now, MAX).is_err());
        let ok = signed(&claims(now + MAX, Some(now), None));
        assert!(verify(&secret(), &ok, now, MAX).is_ok());
        assert!(check_ttl(MAX + 1, MAX).is_err());
        assert!(check_ttl(MAX, MAX).is_ok());
    }

    #[test]
    fn grants_match_case_insensitively_and_by_owner() {
        let t = mint(
            &secret(),
            &["Acme/Widgets".into(), "Other/*".into()],
            &["diff:read".into()],
            60,
            Some("agent-7"),
            1000,
        )
        .unwrap();
        let a = verify(&secret(), &t, 1001, MAX).unwrap();
        assert_eq!(a.sub, "agent-7");
        assert!(
            a.authorize(&"acme/widgets".parse().unwrap(), "diff:read")
                .is_ok()
        );
        assert!(
            a.authorize(&"ACME/WIDGETS".parse().unwrap(), "diff:read")
                .is_ok()
        );
        assert!(
            a.authorize(&"other/anything".parse().unwrap(), "diff:read")
                .is_ok()
        );
        assert!(
            a.authorize(&"acme/gadgets".parse().unwrap(), "diff:read")
                .is_err()
        );
        assert!(
            a.authorize(&"acme/widgets".parse().unwrap(), "incidents:write")
                .is_err()
        );
    }

    #[test]
    fn expired_wrongly_signed_and_garbage_tokens_are_invalid() {
        let t = mint(
            &secret(),
            &["a/b".into()],
            &["diff:read".into()],
            60,
            None,
            1000,
        )
        .unwrap();
        assert_eq!(
            verify(&secret(), &t, 1060, MAX).unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            verify(
                &Secret::new("another-secret-another-secret-xx"),
                &t,
                1001,
                MAX
            )
            .unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            verify(&secret(), "not.a.jwt", 1001, MAX).unwrap_err(),
            TokenError::Invalid
        );
        assert!(
            mint(
                &secret(),
                &["a/..".into()],
                &["diff:read".into()],
                60,
                None,
                0
            )
            .is_err()
        );
        assert!(mint(&secret(), &["a/b".into()], &["admin".into()], 60, None, 0).is_err());
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("15m"), Ok(900));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert!(parse_ttl("1y").is_err());
    }
}
