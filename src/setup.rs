//! The App identity the running service uses, and one-click setup, which replaces it.
//!
//! Purpose: at startup pick the App credentials (the environment, else the file setup
//! stored); during setup remember each `state` handed to a browser, exchange GitHub's
//! code for the new App's credentials, store them (0600) and switch the webhook
//! secret and the GitHub client over without a restart. No HTTP here (that is
//! `http::setup`), and no key or secret ever reaches a log line or an error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::clock::SystemClock;
use crate::github::app::{AppAuth, KeyError};
use crate::github::credentials::{self, CredentialsError, StoredApp};
use crate::github::{AppClient, GitHubError, RetryPolicy, SwappableGitHub, manifest};
use crate::settings::{AppCredentials, Settings};
use crate::types::Secret;

/// How long a browser has between the setup page and GitHub's redirect back.
pub const STATE_TTL: Duration = Duration::from_secs(60 * 60);
/// Setup states remembered at once; the oldest is dropped beyond this, so an
/// unauthenticated page cannot grow memory without bound.
pub const MAX_STATES: usize = 256;

/// Where the App credentials in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    None,
    Environment,
    /// `$RESPONDER_DATA_DIR/app-credentials.json`, read at startup.
    File,
    /// Registered through the setup page while this process ran.
    Setup,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Environment => "environment",
            Source::File => credentials::FILE_NAME,
            Source::Setup => "one-click setup",
        }
    }
}

/// The App identity in use: read on every webhook and health check, replaced whole.
#[derive(Debug, Clone)]
pub struct LiveApp {
    pub app: Option<AppCredentials>,
    pub webhook_secrets: Vec<Secret>,
    pub source: Source,
    /// The App's page on GitHub, when setup or the file told us.
    pub html_url: Option<String>,
}

impl LiveApp {
    /// The settings still missing; empty when webhooks can be verified and GitHub
    /// called as the App. The same list `/healthz` gives.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.app.is_none() {
            missing.push("GITHUB_APP_ID");
            missing.push("GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH");
        }
        if self.webhook_secrets.is_empty() {
            missing.push("GITHUB_WEBHOOK_SECRET");
        }
        missing
    }

    pub fn is_configured(&self) -> bool {
        self.missing().is_empty()
    }
}

/// The environment's App settings when it has them; else the stored file, whole (id,
/// key and webhook secret belong together: they were issued for one App). Returns the
/// settings to run with and where the App credentials came from. Logs the choice,
/// never the values.
pub fn with_stored_credentials(
    mut settings: Settings,
) -> Result<(Settings, LiveApp), CredentialsError> {
    let mut html_url = None;
    let source = if settings.app.is_some() {
        if credentials::path(&settings.data_dir).exists() {
            tracing::info!(
                file = credentials::FILE_NAME,
                "GitHub App settings come from the environment; the stored credentials file is ignored"
            );
        }
        Source::Environment
    } else {
        match credentials::load(&settings.data_dir)? {
            Some(stored) => {
                if !settings.webhook_secrets.is_empty() {
                    tracing::warn!(
                        "GITHUB_WEBHOOK_SECRET is set without GITHUB_APP_ID; using the webhook secret stored with the App by one-click setup instead"
                    );
                }
                tracing::info!(
                    app_id = %stored.app_id,
                    file = %credentials::path(&settings.data_dir).display(),
                    "GitHub App credentials come from the file one-click setup stored"
                );
                settings.app = Some(AppCredentials {
                    app_id: stored.app_id,
                    private_key: stored.private_key,
                    key_variable: credentials::FILE_NAME,
                });
                settings.webhook_secrets = vec![stored.webhook_secret];
                html_url = stored.html_url;
                Source::File
            }
            None => Source::None,
        }
    };
    let live = LiveApp {
        app: settings.app.clone(),
        webhook_secrets: settings.webhook_secrets.clone(),
        source,
        html_url,
    };
    Ok((settings, live))
}

/// What the setup page posts to GitHub.
#[derive(Debug, Clone)]
pub struct Registration {
    /// `$GITHUB_SERVER_URL/settings/apps/new?state=…` (or the organisation's).
    pub action: String,
    /// The manifest JSON, the form's `manifest` field.
    pub manifest: String,
    pub state: String,
}

/// The App setup registered; safe to show.
#[derive(Debug, Clone)]
pub struct Registered {
    pub app_id: u64,
    pub slug: String,
    pub html_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "the GitHub App is already configured; to replace it, delete {0} (or change the GITHUB_APP_* variables) and restart"
    )]
    AlreadyConfigured(String),
    #[error("{0:?} is not a GitHub organisation name")]
    BadOrg(String),
    #[error(
        "this setup link is unknown or expired (it works once, within an hour); start again from the setup page"
    )]
    UnknownState,
    /// GitHub answers 404 for a code it no longer knows; said plainly, since the
    /// generic 404 message would send the user looking for a missing resource.
    #[error(
        "GitHub no longer accepts this setup code: a code works once, within an hour, and this one was used already or has expired. Start again from the setup page"
    )]
    SpentCode,
    #[error("GitHub did not hand over the new App's credentials: {0}")]
    Exchange(GitHubError),
    #[error("the new App's private key cannot be used: {0}")]
    Key(KeyError),
    #[error(
        "the App {html_url} was registered, but its credentials could not be stored: {source}. Fix that, delete the App on GitHub and register again"
    )]
    Store {
        html_url: String,
        source: CredentialsError,
    },
    #[error("cannot build a GitHub client for GITHUB_API_URL: {0}")]
    Client(GitHubError),
}

/// One-click setup and the identity cell.
pub struct Setup {
    live: RwLock<Arc<LiveApp>>,
    github: Arc<SwappableGitHub>,
    states: Mutex<HashMap<String, Instant>>,
    /// One exchange at a time: two callbacks racing must not both switch the App.
    finishing: tokio::sync::Mutex<()>,
    configured: watch::Sender<bool>,
    data_dir: PathBuf,
    api_url: String,
    server_url: String,
    public_url: String,
}

impl Setup {
    pub fn new(settings: &Settings, live: LiveApp, github: Arc<SwappableGitHub>) -> Self {
        let (configured, _) = watch::channel(live.is_configured());
        Self {
            live: RwLock::new(Arc::new(live)),
            github,
            states: Mutex::new(HashMap::new()),
            finishing: tokio::sync::Mutex::new(()),
            configured,
            data_dir: settings.data_dir.clone(),
            api_url: settings.api_url.clone(),
            server_url: settings.server_url.clone(),
            public_url: settings.public_url.clone(),
        }
    }

    /// The identity in use now.
    pub fn live(&self) -> Arc<LiveApp> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Turns true once the service is configured (at once if it started so).
    pub fn watch_configured(&self) -> watch::Receiver<bool> {
        self.configured.subscribe()
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// A fresh registration for the setup page; `org` targets an organisation.
    pub fn begin(&self, org: Option<&str>) -> Result<Registration, SetupError> {
        if self.live().is_configured() {
            return Err(self.already());
        }
        let action_base = match org {
            None => format!("{}/settings/apps/new", self.server_url),
            Some(o) if crate::types::valid_owner(o) => {
                format!("{}/organizations/{o}/settings/apps/new", self.server_url)
            }
            Some(o) => return Err(SetupError::BadOrg(o.chars().take(60).collect())),
        };
        let state = uuid::Uuid::new_v4().simple().to_string();
        {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            states.retain(|_, born| now.duration_since(*born) < STATE_TTL);
            while states.len() >= MAX_STATES {
                let oldest = states
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => states.remove(&k),
                    None => break,
                };
            }
            states.insert(state.clone(), now);
        }
        Ok(Registration {
            action: format!("{action_base}?state={state}"),
            manifest: manifest::manifest(&self.public_url).to_string(),
            state,
        })
    }

    /// Exchanges GitHub's `code`, stores the credentials and switches to them.
    pub async fn finish(&self, code: &str, state: &str) -> Result<Registered, SetupError> {
        let _one = self.finishing.lock().await;
        if self.live().is_configured() {
            return Err(self.already());
        }
        let known = {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            states
                .remove(state)
                .is_some_and(|born| born.elapsed() < STATE_TTL)
        };
        if !known {
            tracing::warn!("setup callback with an unknown or expired state refused");
            return Err(SetupError::UnknownState);
        }
        let new = manifest::convert(&self.api_url, code)
            .await
            .map_err(|e| match e {
                GitHubError::NotFound { .. } => SetupError::SpentCode,
                e => SetupError::Exchange(e),
            })?;
        let creds = AppCredentials {
            app_id: new.id.to_string(),
            private_key: new.pem.clone(),
            key_variable: credentials::FILE_NAME,
        };
        let auth = AppAuth::new(&creds, credentials::FILE_NAME).map_err(SetupError::Key)?;
        let client = AppClient::new(
            &self.api_url,
            Some(auth),
            Arc::new(SystemClock),
            RetryPolicy::default(),
        )
        .map_err(SetupError::Client)?;
        let stored = StoredApp {
            app_id: creds.app_id.clone(),
            private_key: new.pem.clone(),
            webhook_secret: new.webhook_secret.clone(),
            slug: Some(new.slug.clone()),
            html_url: Some(new.html_url.clone()),
        };
        let path =
            credentials::save(&self.data_dir, &stored).map_err(|source| SetupError::Store {
                html_url: new.html_url.clone(),
                source,
            })?;
        self.github.replace(Arc::new(client));
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(LiveApp {
            app: Some(creds),
            webhook_secrets: vec![new.webhook_secret],
            source: Source::Setup,
            html_url: Some(new.html_url.clone()),
        });
        self.configured.send_replace(true);
        tracing::info!(app_id = new.id, slug = %new.slug, file = %path.display(), "GitHub App registered by one-click setup; in use now");
        Ok(Registered {
            app_id: new.id,
            slug: new.slug,
            html_url: new.html_url,
        })
    }

    fn already(&self) -> SetupError {
        SetupError::AlreadyConfigured(credentials::path(&self.data_dir).display().to_string())
    }
}
