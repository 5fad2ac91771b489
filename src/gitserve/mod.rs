//! The git mirror for sandboxes: read-only git smart HTTP from Responder's mirrors.
//!
//! Purpose: sandboxes clone and fetch (branches, tags, `refs/pull/N/head`) from the
//! mirror the diff service already keeps, with an agent token, so the installation
//! token never enters a sandbox and a burst of clones costs GitHub one fetch.
//! `refresh` decides when to ask GitHub, `upload_pack` runs git on the mirror,
//! `disk` measures the mirrors for their cap. Authentication and the HTTP framing
//! live at the edge (`http::git`); nothing here ever writes to a mirror except the
//! fetch from GitHub (pushes never reach this module).

mod disk;
mod error;
mod refresh;
mod upload_pack;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use error::ServeError;
pub use refresh::MIRROR_REFSPECS;
pub use upload_pack::PackStream;

use crate::diff::Mirrors;
use crate::github::GitHub;
use crate::types::RepoName;
use refresh::Refresher;
use upload_pack::{Ask, UploadPacks};

/// `RESPONDER_GIT_*`: see `settings::GitMirrorSettings`.
#[derive(Debug, Clone)]
pub struct GitServeConfig {
    pub server_url: String,
    pub ttl: Duration,
    pub upload_packs: usize,
    pub queue_timeout: Duration,
    pub max_bytes: u64,
}

pub struct GitServe {
    refresher: Arc<Refresher>,
    packs: UploadPacks,
}

impl GitServe {
    /// Serves `mirrors` (the diff service's), fetching from `github` as the App.
    pub fn new(github: Arc<dyn GitHub>, mirrors: Mirrors, config: GitServeConfig) -> Arc<Self> {
        Arc::new(Self {
            refresher: Arc::new(Refresher::new(
                github,
                mirrors,
                &config.server_url,
                config.ttl,
                config.max_bytes,
            )),
            packs: UploadPacks::new(config.upload_packs, config.queue_timeout),
        })
    }

    /// `info/refs?service=git-upload-pack`, after bringing the mirror up to date.
    pub async fn advertise(
        &self,
        repo: &RepoName,
        protocol: Option<&str>,
    ) -> Result<PackStream, ServeError> {
        self.serve(repo, protocol, Ask::Advertise).await
    }

    /// `POST git-upload-pack` with the client's (decoded) request.
    pub async fn upload_pack(
        &self,
        repo: &RepoName,
        protocol: Option<&str>,
        request: Bytes,
    ) -> Result<PackStream, ServeError> {
        self.serve(repo, protocol, Ask::Rpc(request)).await
    }

    async fn serve(
        &self,
        repo: &RepoName,
        protocol: Option<&str>,
        ask: Ask,
    ) -> Result<PackStream, ServeError> {
        // v2 lists refs in a POST (`ls-refs`), so every request checks freshness;
        // within the TTL that is one map lookup.
        self.refresher.ensure_fresh(repo).await?;
        let path = self.refresher.mirrors().path_for(repo);
        self.packs.run(&repo.full(), &path, protocol, ask).await
    }

    /// Upload-packs running now (for metrics and tests).
    pub fn running(&self) -> usize {
        self.packs.running()
    }
}

/// git's version line, or why git cannot serve the mirror (`responder check`).
pub fn git_version() -> Result<String, String> {
    let out = std::process::Command::new("git")
        .arg("--version")
        .output()
        .map_err(|e| format!("git is not installed or not on PATH ({e})"))?;
    if !out.status.success() {
        return Err(format!("`git --version` failed ({})", out.status));
    }
    let exec_path = std::process::Command::new("git")
        .arg("--exec-path")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let upload_pack = std::path::Path::new(&exec_path).join("git-upload-pack");
    if !upload_pack.exists() {
        return Err(format!(
            "git is installed but {} is missing",
            upload_pack.display()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
