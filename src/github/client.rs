//! `AppClient`: the `GitHub` trait over GitHub's REST API, as the App (or anonymously
//! when no App is configured).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::GitHub;
use super::app::AppAuth;
use super::error::GitHubError;
use super::models::*;
use super::repo_files::{Kept, RepoFiles, common_top};
use super::transport::{Auth, Req, Resp, RetryPolicy, Transport};
use crate::clock::Clock;
use crate::recent::Recent;
use crate::types::{InstallationId, IssueNumber, PrNumber, RepoName, Secret, Sha};

/// GitHub's files endpoint never returns more than this many entries.
pub const FILES_CAP: usize = 3000;
/// The most issues of one label read when looking for a marker (ten pages): an
/// issue an earlier attempt created is among the newest, but a busy repository may
/// have opened a hundred others since.
pub const MAX_LABELLED_ISSUES: usize = 1000;

/// An installation lookup's answer, shared by the callers that waited for it.
type Looked = Result<InstallationId, GitHubError>;

pub struct AppClient {
    transport: Transport,
    /// Which installation covers a repository: bounded, and trusted for an hour
    /// (installation events also clear it).
    installations: Recent<RepoName, InstallationId>,
    /// Installation lookups under way, one gate per repository: a burst of cold
    /// requests for one repository (fifty PRs at once) asks GitHub, and signs an
    /// App JWT, once rather than once each. Lookups of other repositories do not
    /// wait for it.
    looking_up: std::sync::Mutex<HashMap<RepoName, Arc<tokio::sync::Mutex<Option<Looked>>>>>,
    /// `<slug>[bot]`, asked of GitHub once per set of credentials.
    bot_login: tokio::sync::OnceCell<String>,
    /// Config files read before, with the ETag that revalidates them.
    repo_files: RepoFiles,
}

impl AppClient {
    pub fn new(
        api_url: &str,
        app: Option<AppAuth>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        Ok(Self {
            transport: Transport::new(api_url, app, clock, policy)?,
            installations: Recent::new(100_000, Some(Duration::from_secs(3600))),
            looking_up: std::sync::Mutex::default(),
            bot_login: tokio::sync::OnceCell::new(),
            repo_files: RepoFiles::new(),
        })
    }

    /// The installation covering `repo`: remembered, or asked of GitHub once.
    pub async fn installation_for(&self, repo: &RepoName) -> Result<InstallationId, GitHubError> {
        if let Some(id) = self.installations.get(repo) {
            return Ok(id);
        }
        let gate = {
            let mut gates = self.looking_up.lock().unwrap_or_else(|e| e.into_inner());
            gates.entry(repo.clone()).or_default().clone()
        };
        let mut turn = gate.lock().await;
        // Whoever held the gate before has the answer, found or not (a burst for
        // a repository without the App hears so together, not one after another).
        let found = match turn.as_ref() {
            Some(looked) => looked.clone(),
            None => {
                // Found by a gate that closed just before this one opened.
                let looked = match self.installations.get(repo) {
                    Some(id) => Ok(id),
                    None => self.look_up_installation(repo).await,
                };
                *turn = Some(looked.clone());
                looked
            }
        };
        drop(turn);
        let mut gates = self.looking_up.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and ours: nobody else waits at this gate.
        if Arc::strong_count(&gate) == 2 {
            gates.remove(repo);
        }
        found
    }

    async fn look_up_installation(&self, repo: &RepoName) -> Result<InstallationId, GitHubError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let req = Req::get(format!(
            "/repos/{}/{}/installation",
            repo.owner(),
            repo.name()
        ));
        let inst: Installation = match self.transport.send(Auth::App, &req).await {
            Ok(resp) => resp.json(&req.what())?,
            Err(GitHubError::NotFound { .. }) => {
                return Err(GitHubError::NotInstalled {
                    repo: repo.to_string(),
                });
            }
            Err(e) => return Err(e),
        };
        let id = InstallationId(inst.id);
        self.installations.insert(repo.clone(), id);
        Ok(id)
    }

    async fn auth_for(&self, repo: &RepoName) -> Result<Auth, GitHubError> {
        if !self.transport.has_app() {
            return Ok(Auth::Anonymous);
        }
        Ok(Auth::Installation(self.installation_for(repo).await?))
    }

    async fn send(&self, repo: &RepoName, req: Req) -> Result<Resp, GitHubError> {
        let auth = self.auth_for(repo).await?;
        self.transport.send(auth, &req).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        repo: &RepoName,
        path: String,
    ) -> Result<T, GitHubError> {
        let req = Req::get(path);
        let what = req.what();
        self.send(repo, req).await?.json(&what)
    }

    /// Follows `Link: rel="next"` by path and query on the configured base (never to
    /// another host, and always with our credentials), up to `max_items`.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        auth: Auth,
        first: String,
        max_items: usize,
    ) -> Result<Vec<T>, GitHubError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(path) = next.take() {
            let req = Req::get(path);
            let resp = self.transport.send(auth, &req).await?;
            let page: Vec<T> = resp.json(&req.what())?;
            out.extend(page);
            if out.len() >= max_items {
                break;
            }
            next = next_link(&resp.headers);
        }
        Ok(out)
    }

    fn repo_path(repo: &RepoName) -> String {
        format!("/repos/{}/{}", repo.owner(), repo.name())
    }

    /// `GET contents/<dir>` of the default branch (`""`: the root), conditional on
    /// `etag`: `Ok(None)` when GitHub answered 304, else the listing's new ETag.
    async fn listing_changed(
        &self,
        repo: &RepoName,
        dir: &str,
        etag: Option<&str>,
    ) -> Result<Option<Option<String>>, GitHubError> {
        let path = match dir {
            "" => format!("{}/contents", Self::repo_path(repo)),
            _ => format!("{}/contents/{}", Self::repo_path(repo), encode_path(dir)),
        };
        let mut req = Req::get(path);
        req.if_none_match = etag.map(str::to_owned);
        let resp = self.send(repo, req).await?;
        if resp.status == http::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let tag = resp
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Some(tag))
    }

    /// Reads `paths` afresh and keeps them with the ETag of the listing of `top`
    /// (or of the root, when `top` does not exist).
    async fn read_config_files(
        &self,
        repo: &RepoName,
        paths: &[String],
        top: &str,
    ) -> Result<Vec<Option<FileContent>>, GitHubError> {
        let (listing, etag, files) = match self.listing_changed(repo, top, None).await {
            Ok(etag) => {
                let reads = paths.iter().map(|p| self.file(repo, p, None));
                let files = futures_util::future::try_join_all(reads).await?;
                (top, etag.flatten(), files)
            }
            Err(GitHubError::NotFound { .. }) => {
                let etag = self.listing_changed(repo, "", None).await?.flatten();
                ("", etag, vec![None; paths.len()])
            }
            Err(e) => return Err(e),
        };
        match etag {
            Some(etag) => self.repo_files.keep(
                repo,
                paths,
                Kept {
                    listing: listing.to_owned(),
                    etag,
                    files: files.clone(),
                },
            ),
            // Nothing to revalidate with: read again next time.
            None => self.repo_files.forget(repo, paths),
        }
        Ok(files)
    }
}

/// The path and query of the `rel="next"` link, if any.
fn next_link(headers: &http::HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let uri: http::Uri = url.parse().ok()?;
        Some(uri.path_and_query()?.as_str().to_string())
    })
}

/// Percent-encodes a repository file path for a URL, keeping `/`.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl GitHub for AppClient {
    async fn repository(&self, repo: &RepoName) -> Result<Repository, GitHubError> {
        self.get_json(repo, Self::repo_path(repo)).await
    }

    async fn pull(&self, repo: &RepoName, number: PrNumber) -> Result<PullRequest, GitHubError> {
        self.get_json(repo, format!("{}/pulls/{number}", Self::repo_path(repo)))
            .await
    }

    async fn pull_files(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<DiffEntry>, GitHubError> {
        let auth = self.auth_for(repo).await?;
        let first = format!(
            "{}/pulls/{number}/files?per_page=100",
            Self::repo_path(repo)
        );
        self.all_pages(auth, first, FILES_CAP + 100).await
    }

    async fn pull_diff(&self, repo: &RepoName, number: PrNumber) -> Result<Vec<u8>, GitHubError> {
        let mut req = Req::get(format!("{}/pulls/{number}", Self::repo_path(repo)));
        req.accept = "application/vnd.github.diff";
        let resp = self.send(repo, req).await?;
        Ok(resp.body.to_vec())
    }

    async fn merge_base(
        &self,
        repo: &RepoName,
        base: &Sha,
        head: &Sha,
    ) -> Result<Sha, GitHubError> {
        #[derive(Deserialize)]
        struct Compare {
            merge_base_commit: Commit,
        }
        #[derive(Deserialize)]
        struct Commit {
            sha: Sha,
        }
        let c: Compare = self
            .get_json(
                repo,
                format!(
                    "{}/compare/{base}...{head}?per_page=1",
                    Self::repo_path(repo)
                ),
            )
            .await?;
        Ok(c.merge_base_commit.sha)
    }

    async fn issue(&self, repo: &RepoName, number: IssueNumber) -> Result<Issue, GitHubError> {
        self.get_json(repo, format!("{}/issues/{number}", Self::repo_path(repo)))
            .await
    }

    async fn create_issue(&self, repo: &RepoName, issue: &NewIssue) -> Result<Issue, GitHubError> {
        let req = Req::new(
            Method::POST,
            format!("{}/issues", Self::repo_path(repo)),
            Some(json!(issue)),
        );
        let what = req.what();
        self.send(repo, req).await?.json(&what)
    }

    async fn update_issue(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        update: &IssueUpdate,
    ) -> Result<Issue, GitHubError> {
        let req = Req::new(
            Method::PATCH,
            format!("{}/issues/{number}", Self::repo_path(repo)),
            Some(json!(update)),
        );
        let what = req.what();
        self.send(repo, req).await?.json(&what)
    }

    async fn issues_with_label(
        &self,
        repo: &RepoName,
        label: &str,
    ) -> Result<Vec<Issue>, GitHubError> {
        let auth = self.auth_for(repo).await?;
        let path = format!(
            "{}/issues?state=all&per_page=100&labels={}",
            Self::repo_path(repo),
            encode_path(label)
        );
        self.all_pages(auth, path, MAX_LABELLED_ISSUES).await
    }

    async fn comment(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        let req = Req::new(
            Method::POST,
            format!("{}/issues/{number}/comments", Self::repo_path(repo)),
            Some(json!({ "body": body })),
        );
        let what = req.what();
        self.send(repo, req).await?.json(&what)
    }

    async fn comments(
        &self,
        repo: &RepoName,
        number: IssueNumber,
    ) -> Result<Vec<Comment>, GitHubError> {
        let auth = self.auth_for(repo).await?;
        self.all_pages(
            auth,
            format!(
                "{}/issues/{number}/comments?per_page=100",
                Self::repo_path(repo)
            ),
            10_000,
        )
        .await
    }

    async fn add_labels(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        labels: &[String],
    ) -> Result<(), GitHubError> {
        let mut req = Req::new(
            Method::POST,
            format!("{}/issues/{number}/labels", Self::repo_path(repo)),
            Some(json!({ "labels": labels })),
        );
        req.idempotent = true; // adding a label twice leaves one label
        self.send(repo, req).await.map(drop)
    }

    async fn remove_label(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        label: &str,
    ) -> Result<(), GitHubError> {
        let req = Req::new(
            Method::DELETE,
            format!(
                "{}/issues/{number}/labels/{}",
                Self::repo_path(repo),
                encode_path(label)
            ),
            None,
        );
        match self.send(repo, req).await {
            Ok(_) | Err(GitHubError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn ensure_label(
        &self,
        repo: &RepoName,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<(), GitHubError> {
        let mut req = Req::new(
            Method::POST,
            format!("{}/labels", Self::repo_path(repo)),
            Some(json!({ "name": name, "color": color, "description": description })),
        );
        req.idempotent = true; // a repeat answers 422 already_exists, which is success here
        match self.send(repo, req).await {
            Ok(_) => Ok(()),
            Err(GitHubError::Invalid { codes, .. })
                if codes.iter().any(|c| c == "already_exists") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn permission(&self, repo: &RepoName, user: &str) -> Result<Permission, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            permission: String,
            #[serde(default)]
            role_name: Option<String>,
        }
        let path = format!(
            "{}/collaborators/{}/permission",
            Self::repo_path(repo),
            encode_path(user)
        );
        let what = format!("GET {path}");
        let a: Answer = self.get_json(repo, path).await?;
        // role_name carries `maintain`/`triage`, which `permission` folds into write/read.
        a.role_name
            .as_deref()
            .and_then(Permission::parse)
            .or_else(|| Permission::parse(&a.permission))
            .ok_or(GitHubError::Unexpected {
                what,
                message: format!("unknown permission {:?}", a.permission),
            })
    }

    async fn file(
        &self,
        repo: &RepoName,
        path: &str,
        git_ref: Option<&str>,
    ) -> Result<Option<FileContent>, GitHubError> {
        #[derive(Deserialize)]
        struct Content {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            encoding: String,
            #[serde(default)]
            content: String,
            sha: String,
        }
        let mut url = format!("{}/contents/{}", Self::repo_path(repo), encode_path(path));
        if let Some(r) = git_ref {
            url.push_str(&format!("?ref={}", encode_path(r)));
        }
        let what = format!("GET {url}");
        let c: Content = match self.get_json(repo, url).await {
            Ok(c) => c,
            Err(GitHubError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if c.kind != "file" || c.encoding != "base64" {
            return Err(GitHubError::Unexpected {
                what,
                message: format!(
                    "{path} is a {} with encoding {:?}, not a base64 file",
                    c.kind, c.encoding
                ),
            });
        }
        let cleaned: String = c.content.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map_err(|e| GitHubError::Unexpected {
                what: what.clone(),
                message: format!("content is not base64: {e}"),
            })?;
        let text = String::from_utf8(bytes).map_err(|_| GitHubError::Unexpected {
            what,
            message: format!("{path} is not UTF-8 text"),
        })?;
        Ok(Some(FileContent { text, sha: c.sha }))
    }

    async fn config_files(
        &self,
        repo: &RepoName,
        paths: &[String],
    ) -> Result<Vec<Option<FileContent>>, GitHubError> {
        let Some(top) = common_top(paths) else {
            let reads = paths.iter().map(|p| self.file(repo, p, None));
            return futures_util::future::try_join_all(reads).await;
        };
        if let Some(kept) = self.repo_files.kept(repo, paths) {
            match self
                .listing_changed(repo, &kept.listing, Some(&kept.etag))
                .await
            {
                Ok(None) => return Ok(kept.files),
                // Changed, or gone (`top` deleted): read afresh.
                Ok(Some(_)) | Err(GitHubError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.read_config_files(repo, paths, top).await
    }

    async fn branch_sha(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Ref {
            object: Object,
        }
        #[derive(Deserialize)]
        struct Object {
            sha: String,
        }
        match self
            .get_json::<Ref>(
                repo,
                format!(
                    "{}/git/ref/heads/{}",
                    Self::repo_path(repo),
                    encode_path(branch)
                ),
            )
            .await
        {
            Ok(r) => Ok(Some(r.object.sha)),
            Err(GitHubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_branch(
        &self,
        repo: &RepoName,
        branch: &str,
        sha: &str,
    ) -> Result<(), GitHubError> {
        let req = Req::new(
            Method::POST,
            format!("{}/git/refs", Self::repo_path(repo)),
            Some(json!({ "ref": format!("refs/heads/{branch}"), "sha": sha })),
        );
        self.send(repo, req).await.map(drop)
    }

    async fn put_file(
        &self,
        repo: &RepoName,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
        blob_sha: Option<&str>,
    ) -> Result<(), GitHubError> {
        let mut body = json!({
            "message": message,
            "content": base64::engine::general_purpose::STANDARD.encode(content),
            "branch": branch,
        });
        if let Some(sha) = blob_sha {
            body["sha"] = json!(sha);
        }
        let req = Req::new(
            Method::PUT,
            format!("{}/contents/{}", Self::repo_path(repo), encode_path(path)),
            Some(body),
        );
        self.send(repo, req).await.map(drop)
    }

    async fn open_pull_for_branch(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<PullSummary>, GitHubError> {
        let path = format!(
            "{}/pulls?state=open&head={}:{}",
            Self::repo_path(repo),
            encode_path(repo.owner()),
            encode_path(branch)
        );
        let pulls: Vec<PullSummary> = self.get_json(repo, path).await?;
        Ok(pulls.into_iter().next())
    }

    async fn create_pull(
        &self,
        repo: &RepoName,
        pull: &NewPull,
    ) -> Result<PullSummary, GitHubError> {
        let req = Req::new(
            Method::POST,
            format!("{}/pulls", Self::repo_path(repo)),
            Some(json!(pull)),
        );
        let what = req.what();
        self.send(repo, req).await?.json(&what)
    }

    async fn hook_deliveries(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<HookDelivery>, GitHubError> {
        let mut out = Vec::new();
        let mut next = Some("/app/hook/deliveries?per_page=100".to_string());
        while let Some(path) = next.take() {
            let req = Req::get(path);
            let resp = self.transport.send(Auth::App, &req).await?;
            let page: Vec<HookDelivery> = resp.json(&req.what())?;
            let reached_since = page.iter().any(|d| d.delivered_at < since);
            out.extend(page.into_iter().filter(|d| d.delivered_at >= since));
            if !reached_since {
                next = next_link(&resp.headers);
            }
        }
        Ok(out)
    }

    async fn bot_login(&self) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        self.bot_login
            .get_or_try_init(|| async {
                let req = Req::get("/app".to_string());
                let app: App = self
                    .transport
                    .send(Auth::App, &req)
                    .await?
                    .json(&req.what())?;
                Ok(format!("{}[bot]", app.slug))
            })
            .await
            .cloned()
    }

    async fn redeliver(&self, delivery: u64) -> Result<(), GitHubError> {
        let req = Req::new(
            Method::POST,
            format!("/app/hook/deliveries/{delivery}/attempts"),
            None,
        );
        self.transport.send(Auth::App, &req).await.map(drop)
    }

    async fn git_token(&self, repo: &RepoName) -> Result<Option<Secret>, GitHubError> {
        match self.auth_for(repo).await? {
            Auth::Installation(id) => Ok(Some(self.transport.installation_token(id).await?)),
            _ => Ok(None),
        }
    }

    fn remember_installation(&self, repo: &RepoName, installation: InstallationId) {
        self.installations.insert(repo.clone(), installation);
    }

    fn forget_installations(&self) {
        self.installations.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_keeps_path_and_query_only() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::LINK,
            "<https://ghe.example/api/v3/repos/a/b/pulls/1/files?per_page=100&page=2>; rel=\"next\", <https://ghe.example/api/v3/repos/a/b/pulls/1/files?per_page=100&page=9>; rel=\"last\"".parse().unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("/api/v3/repos/a/b/pulls/1/files?per_page=100&page=2")
        );
        h.insert(
            http::header::LINK,
            "<https://x/y?page=1>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(
            encode_path(".github/responder.toml"),
            ".github/responder.toml"
        );
        assert_eq!(encode_path("docs/über a.md"), "docs/%C3%BCber%20a.md");
    }
}
