//! Who calls the MCP tools, and what they may do: an agent token's grants and
//! scopes (HTTP, or stdio started with a token), or the local operator (stdio
//! without a token: the process already holds the App's credentials, as
//! `responder diff` does).
//!
//! Purpose: one place deciding which tools a caller sees and which repositories it
//! may name. A refusal never says whether a repository exists.

use crate::agent_token::Agent;
use crate::types::RepoName;

pub const DIFF_READ: &str = "diff:read";
pub const INCIDENTS_WRITE: &str = "incidents:write";

#[derive(Debug, Clone)]
pub enum Access {
    Token(Agent),
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("the token does not grant scope {scope} on {repo}")]
    Repo { repo: String, scope: String },
    #[error("the token's scopes do not include {needs}, which {tool} needs")]
    Scope { tool: String, needs: String },
}

impl Access {
    /// Who is asking, for logs and for incidents' `declared_by`.
    pub fn who(&self) -> &str {
        match self {
            Self::Token(a) => &a.sub,
            Self::Local => "local",
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        match self {
            Self::Token(a) => a.scopes.iter().any(|s| s == scope),
            Self::Local => true,
        }
    }

    /// Whether the caller holds any of `scopes` (tools readable with either).
    pub fn has_any(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.has_scope(s))
    }

    /// Allowed only when the caller may use `scope` on `repo`; the refusal reads the
    /// same whether or not the repository exists.
    pub fn authorize(&self, repo: &RepoName, scope: &str) -> Result<(), AccessError> {
        match self {
            Self::Local => Ok(()),
            Self::Token(a) => a.authorize(repo, scope).map_err(|_| AccessError::Repo {
                repo: repo.to_string(),
                scope: scope.to_string(),
            }),
        }
    }

    /// Whether the caller may use any of `scopes` on `repo`.
    pub fn may_any(&self, repo: &RepoName, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.authorize(repo, s).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent_token::Grant;

    fn agent(scopes: &[&str]) -> Access {
        Access::Token(Agent {
            sub: "a".into(),
            grants: vec![Grant::parse("acme/widgets").unwrap()],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn grants_and_scopes_decide_and_the_refusal_names_only_what_was_asked() {
        let a = agent(&[DIFF_READ]);
        let refused = a.authorize(&"acme/secret".parse().unwrap(), DIFF_READ);
        assert_eq!(
            refused.unwrap_err().to_string(),
            "the token does not grant scope diff:read on acme/secret"
        );
        assert!(
            a.authorize(&"ACME/Widgets".parse().unwrap(), DIFF_READ)
                .is_ok()
        );
        assert!(
            a.authorize(&"acme/widgets".parse().unwrap(), INCIDENTS_WRITE)
                .is_err()
        );
        assert!(!a.has_scope(INCIDENTS_WRITE));
        assert!(Access::Local.has_scope(INCIDENTS_WRITE));
        assert!(
            Access::Local
                .authorize(&"any/repo".parse().unwrap(), DIFF_READ)
                .is_ok()
        );
    }
}
