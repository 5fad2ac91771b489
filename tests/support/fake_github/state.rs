//! The fake's data: repositories, installations, tokens, issues, faults and the
//! request log, behind one mutex.
//!
//! Plain data and small lookups only; it must never run git or build HTTP answers,
//! and the lock must never be held across an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::faults::FaultRule;
use super::git_repo::FileDiff;
use super::git_stall::GitStall;

/// Shared handle on the fake's state.
pub type Shared = Arc<Mutex<State>>;

/// The login the App acts as when it creates issues and comments.
pub const BOT_LOGIN: &str = "responder-test[bot]";

/// Everything the fake knows.
pub struct State {
    pub server_url: String,
    pub app_id: u64,
    pub now_override: Option<i64>,
    pub token_ttl: i64,
    /// Keyed by lowercase `owner/name`: GitHub names are case-insensitive.
    pub repos: BTreeMap<String, Repo>,
    pub tokens: HashMap<String, Token>,
    pub faults: Vec<FaultRule>,
    pub requests: Vec<LoggedRequest>,
    pub deliveries: Vec<HookDelivery>,
    pub redeliveries: Vec<u64>,
    pub cap_files: Option<usize>,
    /// Repositories whose git server stalls (by `key`).
    pub git_stalls: HashMap<String, GitStall>,
    /// What the App's installations were granted (`issues` → `write`, …): by
    /// default the `default_permissions` of the product's `app.yml`, so a feature
    /// that needs more than the manifest asks for fails here as it would on GitHub.
    pub app_permissions: BTreeMap<String, String>,
    /// Codes the manifest flow handed out, by code.
    pub manifest_codes: HashMap<String, ManifestCode>,
    /// Every manifest posted to the new-App form, with its organisation.
    pub registered_manifests: Vec<(Option<String>, serde_json::Value)>,
    /// Webhook secrets of the Apps converted so far, oldest first.
    pub issued_webhook_secrets: Vec<String>,
    /// Diffs are pure functions of (repo, base, head): recomputing per page is waste.
    pub diff_cache: HashMap<(PathBuf, String, String), Arc<Vec<FileDiff>>>,
    next_id: u64,
}

/// One repository served by the fake.
#[derive(Clone)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub bare: PathBuf,
    pub installation: Option<u64>,
    pub public: bool,
    pub next_number: u64,
    pub issues: Vec<Issue>,
    pub pulls: Vec<Pull>,
    pub comments: Vec<Comment>,
    pub labels: Vec<Label>,
    pub permissions: HashMap<String, String>,
    pub dropped_patches: HashSet<(u64, String)>,
}

/// An issue as stored; answers are built from it.
#[derive(Clone, Debug)]
pub struct Issue {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub user: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// A pull request; head and base SHAs are read live from the bare repository.
#[derive(Clone, Debug)]
pub struct Pull {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub head_ref: String,
    pub base_ref: String,
    pub created_at: i64,
    /// Opened through the API: the head follows the branch, like GitHub's
    /// `refs/pull/N/head` follows pushes. Seeded pulls keep their ref as built.
    pub tracks_branch: bool,
}

/// An issue comment.
#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    pub user: String,
    pub created_at: i64,
}

/// A repository label.
#[derive(Clone, Debug)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

/// A code from the manifest flow, convertible once.
#[derive(Clone, Debug)]
pub struct ManifestCode {
    pub manifest: serde_json::Value,
    pub org: Option<String>,
    pub used: bool,
}

/// An installation access token the fake handed out.
#[derive(Clone, Debug)]
pub struct Token {
    pub installation: u64,
    pub expires_at: i64,
    /// Lowercase `owner/name`s when the token was narrowed with `repositories`.
    pub only: Option<Vec<String>>,
}

/// A webhook delivery listed by `GET /app/hook/deliveries`.
#[derive(Clone, Debug)]
pub struct HookDelivery {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub status_code: u16,
    pub delivered_at: i64,
    pub redelivery: bool,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
}

/// One request as the fake saw it, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path without the `/api/v3` prefix (git paths as requested).
    pub path: String,
    pub query: Option<String>,
    /// The `Accept` header (a PR's diff and its JSON share one path).
    pub accept: Option<String>,
    /// Whether the request carried a valid App JWT or a live installation token.
    pub authed: bool,
    /// Whether it carried any credential at all, valid or not: a refused request
    /// with one is a failed login, one without is git's anonymous first try.
    pub with_credential: bool,
    pub status: u16,
}

/// `default_permissions` of the product's `app.yml`.
fn manifest_permissions() -> BTreeMap<String, String> {
    let manifest = responder::github::manifest::manifest("http://fake.invalid");
    manifest["default_permissions"]
        .as_object()
        .expect("app.yml has default_permissions")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

impl State {
    pub fn new(server_url: String, app_id: u64) -> Self {
        Self {
            server_url,
            app_id,
            now_override: None,
            token_ttl: 3600,
            repos: BTreeMap::new(),
            tokens: HashMap::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            deliveries: Vec::new(),
            redeliveries: Vec::new(),
            cap_files: None,
            git_stalls: HashMap::new(),
            app_permissions: manifest_permissions(),
            manifest_codes: HashMap::new(),
            registered_manifests: Vec::new(),
            issued_webhook_secrets: Vec::new(),
            diff_cache: HashMap::new(),
            next_id: 1000,
        }
    }

    /// Unix seconds: the injected clock if set, else real time.
    pub fn now(&self) -> i64 {
        self.now_override
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    /// A fresh id, unique across every kind of object.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&key(owner, name))
    }

    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&key(owner, name))
    }

    /// The live token `t`, if it exists and has not expired.
    pub fn live_token(&self, t: &str) -> Option<&Token> {
        let now = self.now();
        self.tokens.get(t).filter(|tok| tok.expires_at > now)
    }

    /// Whether token `t` is live and its installation covers `owner/name`.
    pub fn token_covers(&self, t: &str, owner: &str, name: &str) -> bool {
        let Some(tok) = self.live_token(t) else {
            return false;
        };
        let Some(repo) = self.repo(owner, name) else {
            return false;
        };
        let k = key(owner, name);
        repo.installation == Some(tok.installation)
            && tok.only.as_ref().is_none_or(|only| only.contains(&k))
    }

    /// Repositories of installation `id`, in name order.
    pub fn installation_repos(&self, id: u64) -> Vec<&Repo> {
        self.repos
            .values()
            .filter(|r| r.installation == Some(id))
            .collect()
    }
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Takes the next issue/PR number: both share one counter, as on GitHub.
    pub fn take_number(&mut self) -> u64 {
        let n = self.next_number;
        self.next_number += 1;
        n
    }

    pub fn issue_mut(&mut self, n: u64) -> Option<&mut Issue> {
        self.issues.iter_mut().find(|i| i.number == n)
    }

    /// The label named `name`, compared case-insensitively as GitHub does.
    pub fn label(&self, name: &str) -> Option<&Label> {
        self.labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }
}

/// The map key of a repository: lowercase `owner/name`.
pub fn key(owner: &str, name: &str) -> String {
    format!(
        "{}/{}",
        owner.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}
