//! A stateful fake GitHub over HTTP: REST under `/api/v3` and at the root, App JWT
//! and installation-token auth, git smart HTTP, fault injection and a request log.
//! Responder's real clients (octocrab, git2) talk to it as they would to GitHub.
//!
//! It must never be reachable beyond 127.0.0.1, and never log a credential.

mod auth;
mod conditional;
mod errors;
mod faults;
mod git_http;
mod git_repo;
pub mod git_stall;
mod paginate;
mod routes_app;
mod routes_issues;
mod routes_manifest;
mod routes_pulls;
mod routes_repos;
mod server;
mod shapes;
mod state;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub use faults::Fault;
pub use state::{BOT_LOGIN, Comment, HookDelivery, Issue, Label, LoggedRequest, Pull};

use faults::FaultRule;
use state::{Repo, Shared, State, Token};

/// The App's id as the fake knows it.
pub const APP_ID: u64 = 424242;
/// The slug of every App registered through the fake's manifest flow. A constant,
/// not a re-export: the benches include this module and would flag an unused import.
pub const MANIFEST_APP_SLUG: &str = routes_manifest::SLUG;
const APP_KEY: &str = include_str!("../../fixtures/keys/app.pem");
const APP_KEY_PKCS8: &str = include_str!("../../fixtures/keys/app.pkcs8.pem");
const OTHER_KEY: &str = include_str!("../../fixtures/keys/other.pem");

/// How a repository is served.
#[derive(Clone, Debug, Default)]
pub struct RepoOpts {
    /// The installation covering it; `None`: the App is not installed there.
    pub installation: Option<u64>,
    /// Public repositories can be read anonymously.
    pub public: bool,
}

/// A running fake; the server stops when this is dropped.
pub struct FakeGitHub {
    shared: Shared,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeGitHub {
    /// Binds 127.0.0.1 on a free port and serves on its own runtime thread, so tests
    /// may block (e.g. run `git clone`) without starving it.
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared: Shared = Arc::new(Mutex::new(State::new(format!("http://{addr}"), APP_ID)));
        let app = server::router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("fake-github".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let serve = axum::serve(listener, app);
                    tokio::select! {
                        _ = serve => {},
                        _ = rx => {},
                    }
                });
                // Open keep-alive connections must not keep the thread alive.
                rt.shutdown_background();
            })
            .expect("spawn fake thread");
        Self {
            shared,
            addr,
            shutdown: Some(tx),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().expect("state lock")
    }

    /// `http://127.0.0.1:PORT/api/v3` (the REST API is also served at the root).
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// `http://127.0.0.1:PORT`: repositories are at `/{owner}/{repo}.git`.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The App id JWTs must carry as `iss`.
    pub fn app_id(&self) -> u64 {
        APP_ID
    }

    /// The App's private key, PKCS#1 PEM (as GitHub hands it out).
    pub fn private_key_pem(&self) -> &'static str {
        APP_KEY
    }

    /// The same key as PKCS#8 PEM.
    pub fn private_key_pkcs8_pem(&self) -> &'static str {
        APP_KEY_PKCS8
    }

    /// An unrelated RSA key, for "signed with the wrong key" tests.
    pub fn wrong_private_key_pem(&self) -> &'static str {
        OTHER_KEY
    }

    /// A valid App JWT (iat = now − 30 s, exp = now + 9 min on the fake's clock).
    pub fn app_jwt(&self) -> String {
        let now = self.now();
        mint_jwt(APP_KEY, &APP_ID.to_string(), now - 30, now + 540)
    }

    /// Freezes the fake's clock at unix time `t` (tokens and JWTs use it).
    pub fn set_now(&self, t: i64) {
        self.state().now_override = Some(t);
    }

    /// Back to real time.
    pub fn clear_now(&self) {
        self.state().now_override = None;
    }

    /// The fake's current unix time.
    pub fn now(&self) -> i64 {
        self.state().now()
    }

    /// Lifetime of tokens issued from now on (default 3600 s).
    pub fn set_token_ttl(&self, secs: i64) {
        self.state().token_ttl = secs;
    }

    /// Invalidates every token issued so far (GitHub then answers 401).
    pub fn revoke_all_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Issues a token for `installation` directly, skipping the JWT exchange.
    pub fn issue_token(&self, installation: u64) -> String {
        let mut st = self.state();
        let token = format!(
            "ghs_{}",
            (0..36)
                .map(|_| fastrand::alphanumeric())
                .collect::<String>()
        );
        let expires_at = st.now() + st.token_ttl;
        st.tokens.insert(
            token.clone(),
            Token {
                installation,
                expires_at,
                only: None,
            },
        );
        token
    }

    /// Serves the bare repository at `bare` as `owner/name`.
    pub fn add_repo(&self, owner: &str, name: &str, bare: impl AsRef<Path>, opts: RepoOpts) {
        let mut st = self.state();
        let id = st.next_id();
        let repo = Repo {
            id,
            owner: owner.into(),
            name: name.into(),
            bare: bare.as_ref().to_path_buf(),
            installation: opts.installation,
            public: opts.public,
            next_number: 1,
            issues: Vec::new(),
            pulls: Vec::new(),
            comments: Vec::new(),
            labels: Vec::new(),
            permissions: Default::default(),
            dropped_patches: Default::default(),
        };
        st.repos.insert(state::key(owner, name), repo);
    }

    /// Registers PR `number` from `refs/pull/N/head` into `main`.
    pub fn add_pull(&self, owner: &str, name: &str, number: u64) {
        self.add_pull_with_base(owner, name, number, "main");
    }

    /// Registers PR `number` from `refs/pull/N/head` into branch `base`.
    pub fn add_pull_with_base(&self, owner: &str, name: &str, number: u64, base: &str) {
        let bare = self
            .state()
            .repo(owner, name)
            .expect("add_repo first")
            .bare
            .clone();
        let head = git_repo::rev_parse(&bare, &format!("refs/pull/{number}/head"))
            .unwrap_or_else(|| panic!("{owner}/{name} has no refs/pull/{number}/head"));
        let head_ref =
            git_repo::branch_at(&bare, &head).unwrap_or_else(|| format!("pull-{number}"));
        let mut st = self.state();
        let (id, now) = (st.next_id(), st.now());
        let repo = st.repo_mut(owner, name).expect("repo");
        repo.next_number = repo.next_number.max(number + 1);
        repo.pulls.push(Pull {
            id,
            number,
            title: format!("Pull request #{number}"),
            body: None,
            state: "open".into(),
            head_ref,
            base_ref: base.into(),
            created_at: now,
            tracks_branch: false,
        });
    }

    /// Makes the files endpoint omit `patch` for `filename` in PR `n` (a text file).
    pub fn drop_patch(&self, owner: &str, name: &str, n: u64, filename: &str) {
        self.state()
            .repo_mut(owner, name)
            .expect("repo")
            .dropped_patches
            .insert((n, filename.into()));
    }

    /// Makes the git server of `owner/name` stall (see [`GitStall`]).
    pub fn stall_git(&self, owner: &str, name: &str, stall: git_stall::GitStall) {
        self.state()
            .git_stalls
            .insert(state::key(owner, name), stall);
    }

    /// Makes the files endpoint list at most `n` files (still 200, like GitHub).
    pub fn cap_files(&self, n: usize) {
        self.state().cap_files = Some(n);
    }

    /// Opens an issue directly (as the App's bot) and returns its number.
    pub fn add_issue(
        &self,
        owner: &str,
        name: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> u64 {
        self.add_issue_by(owner, name, BOT_LOGIN, title, body, labels)
    }

    /// Opens an issue directly as `user` and returns its number.
    pub fn add_issue_by(
        &self,
        owner: &str,
        name: &str,
        user: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> u64 {
        let mut st = self.state();
        let (id, now) = (st.next_id(), st.now());
        let repo = st.repo_mut(owner, name).expect("repo");
        let number = repo.take_number();
        repo.issues.push(Issue {
            id,
            number,
            title: title.into(),
            body: Some(body.into()),
            state: "open".into(),
            state_reason: None,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            assignees: Vec::new(),
            user: user.into(),
            created_at: now,
            updated_at: now,
            closed_at: None,
        });
        number
    }

    /// Changes issue `n` as a person would on GitHub: `edit` gets the stored issue.
    pub fn edit_issue(&self, owner: &str, name: &str, n: u64, edit: impl FnOnce(&mut Issue)) {
        let mut st = self.state();
        let now = st.now();
        let i = st
            .repo_mut(owner, name)
            .expect("repo")
            .issue_mut(n)
            .expect("issue");
        edit(i);
        i.updated_at = now;
    }

    /// The text of `path` on `branch`, read from the repository itself.
    pub fn file_on(&self, owner: &str, name: &str, branch: &str, path: &str) -> Option<String> {
        let bare = self.state().repo(owner, name)?.bare.clone();
        let tip = git_repo::rev_parse(&bare, &format!("refs/heads/{branch}"))?;
        let entry = git_repo::entry(&bare, &tip, path)?;
        String::from_utf8(git_repo::blob(&bare, &entry.sha).ok()?).ok()
    }

    /// Commits on `branch` that its default branch lacks.
    pub fn commits_ahead(&self, owner: &str, name: &str, branch: &str) -> u64 {
        let bare = self.state().repo(owner, name).expect("repo").bare.clone();
        let base = git_repo::default_branch(&bare);
        git_repo::commit_count(
            &bare,
            &format!("refs/heads/{base}"),
            &format!("refs/heads/{branch}"),
        )
    }

    /// Creates a repository label.
    pub fn add_label(&self, owner: &str, name: &str, label: &str, color: &str) {
        let mut st = self.state();
        let id = st.next_id();
        st.repo_mut(owner, name).expect("repo").labels.push(Label {
            id,
            name: label.into(),
            color: color.into(),
            description: None,
        });
    }

    /// Issues of `owner/name`, in creation order.
    pub fn issues(&self, owner: &str, name: &str) -> Vec<Issue> {
        self.state()
            .repo(owner, name)
            .map(|r| r.issues.clone())
            .unwrap_or_default()
    }

    /// Pull requests of `owner/name`, in creation order.
    pub fn pulls(&self, owner: &str, name: &str) -> Vec<Pull> {
        self.state()
            .repo(owner, name)
            .map(|r| r.pulls.clone())
            .unwrap_or_default()
    }

    /// Comments on issue or PR `n`, oldest first.
    pub fn comments(&self, owner: &str, name: &str, n: u64) -> Vec<Comment> {
        self.state()
            .repo(owner, name)
            .map(|r| {
                r.comments
                    .iter()
                    .filter(|c| c.issue == n)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Repository labels.
    pub fn labels(&self, owner: &str, name: &str) -> Vec<Label> {
        self.state()
            .repo(owner, name)
            .map(|r| r.labels.clone())
            .unwrap_or_default()
    }

    /// Sets `user`'s role: admin, maintain, write, triage, read or none.
    pub fn set_permission(&self, owner: &str, name: &str, user: &str, role: &str) {
        self.state()
            .repo_mut(owner, name)
            .expect("repo")
            .permissions
            .insert(user.into(), role.into());
    }

    /// Seeds a webhook delivery and returns its id.
    pub fn add_hook_delivery(
        &self,
        guid: &str,
        event: &str,
        action: Option<&str>,
        status_code: u16,
    ) -> u64 {
        let mut st = self.state();
        let (id, now) = (st.next_id(), st.now());
        st.deliveries.push(HookDelivery {
            id,
            guid: guid.into(),
            event: event.into(),
            action: action.map(str::to_string),
            status_code,
            delivered_at: now,
            redelivery: false,
            installation_id: None,
            repository_id: None,
        });
        id
    }

    /// Grants the App `permission` at `level` (`read`, `write`), or takes it away
    /// with `None`; the fake starts with `app.yml`'s `default_permissions`.
    pub fn set_app_permission(&self, permission: &str, level: Option<&str>) {
        let mut st = self.state();
        match level {
            Some(l) => st.app_permissions.insert(permission.into(), l.into()),
            None => st.app_permissions.remove(permission),
        };
    }

    /// Manifests posted to the new-App form (with the organisation, if any), in order.
    pub fn registered_manifests(&self) -> Vec<(Option<String>, serde_json::Value)> {
        self.state().registered_manifests.clone()
    }

    /// The webhook secret of the App converted last (what GitHub will sign with).
    pub fn issued_webhook_secret(&self) -> Option<String> {
        self.state().issued_webhook_secrets.last().cloned()
    }

    /// Delivery ids redelivery was requested for, in order.
    pub fn redeliveries(&self) -> Vec<u64> {
        self.state().redeliveries.clone()
    }

    /// The next `times` requests with `method` (or `*`) whose path (after
    /// `/api/v3`) matches `pattern` (`*` = one segment) get `fault`.
    pub fn fault(&self, method: &str, pattern: &str, fault: Fault, times: u32) {
        self.fault_after(method, pattern, 0, fault, times);
    }

    /// Like [`fault`](Self::fault), but lets the first `skip` matching requests
    /// through (e.g. fail the second issue created, not the first).
    pub fn fault_after(&self, method: &str, pattern: &str, skip: u32, fault: Fault, times: u32) {
        self.state().faults.push(FaultRule {
            method: method.into(),
            pattern: pattern.into(),
            fault,
            remaining: times,
            skip,
        });
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().requests.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An RS256 JWT with `iss`, `iat`, `exp`, signed with `pem`.
pub fn mint_jwt(pem: &str, iss: &str, iat: i64, exp: i64) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
    let claims = serde_json::json!({"iss": iss, "iat": iat, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("sign JWT")
}
