//! Wiring: settings → store, inbox, handlers, worker and router; and the serve loop.
//!
//! Tests build a `Service` the same way `responder serve` does, and may register
//! extra handlers before running it.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::diff::{DiffConfig, DiffService};
use crate::github::app::AppAuth;
use crate::github::{AppClient, GitHub, RetryPolicy, SwappableGitHub};
use crate::gitserve::{GitServe, GitServeConfig};
use crate::http::{self, AppState};
use crate::incident::render::sandbox::SandboxConfig;
use crate::incident::service::{AgentRuns, IncidentService, RcaReminders, TimelineWriter};
use crate::settings::Settings;
use crate::setup::Setup;
use crate::store::Store;
use crate::telemetry;
use crate::webhook::completions::Completions;
use crate::webhook::{
    Inbox, RedeliveryConfig, RedeliveryJob, Registry, Worker, WorkerConfig, handlers,
};

/// What `responder serve` takes from the system, replaceable by tests and tools.
#[derive(Clone)]
pub struct ServiceOptions {
    /// How hard the GitHub client tries (tests drop the spacing between writes).
    pub retry_policy: RetryPolicy,
    /// Time for tokens, incident timestamps and due dates.
    pub clock: Arc<dyn Clock>,
    /// How repositories' own templates are rendered (tests name the binary: theirs
    /// is the test harness, not `responder`).
    pub template_sandbox: SandboxConfig,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            retry_policy: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            template_sandbox: SandboxConfig::default(),
        }
    }
}

pub struct Service {
    pub state: AppState,
    pub registry: Registry,
    pub worker_config: WorkerConfig,
    /// `None` when the job is off: `RESPONDER_REDELIVERY_INTERVAL=0`, or the App is not
    /// configured (it could neither list deliveries nor receive them again); in the
    /// latter case `spawn_redelivery` starts it once one-click setup has run.
    pub redelivery: Option<RedeliveryConfig>,
    work_ready: Arc<Notify>,
    /// Bumped by the worker for every outcome it records.
    recorded: Arc<watch::Sender<u64>>,
}

impl Service {
    /// Opens the store and registers handlers. Work a crash left in flight is taken
    /// back by the worker ([`Service::spawn_worker`]), not here: every command opens a
    /// `Service`, and only `serve` owns the inbox's claims.
    pub async fn new(settings: Settings) -> anyhow::Result<Self> {
        Self::with_options(settings, ServiceOptions::default()).await
    }

    /// [`Service::new`] with another retry policy or clock.
    pub async fn with_options(settings: Settings, options: ServiceOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!(
                "RESPONDER_DATA_DIR: cannot create {}; point it at a writable directory",
                settings.data_dir.display()
            )
        })?;
        let store = Store::connect(&settings.database_url)
            .await
            .context("DATABASE_URL: the store could not be opened")?;
        let (settings, live) = crate::setup::with_stored_credentials(settings)?;
        let swap = Arc::new(SwappableGitHub::new(github_client_with(
            &settings,
            options.clock.clone(),
            options.retry_policy,
        )?));
        let github: Arc<dyn GitHub> = swap.clone();
        let setup = Arc::new(Setup::new(&settings, live, swap));
        let diffs = diff_service(&settings, github.clone())?;
        let git = git_serve(&settings, github.clone(), &diffs);
        let incidents = Arc::new(IncidentService::new(
            github.clone(),
            store.clone(),
            options.clock.clone(),
            options.template_sandbox.clone(),
        ));
        let work_ready = Arc::new(Notify::new());
        let inbox = Inbox::start(store.clone(), work_ready.clone());
        let mut registry = Registry::new();
        handlers::register(&mut registry, &store, &github);
        let redelivery = settings
            .redelivery_interval
            .filter(|_| settings.missing_github().is_empty())
            .map(RedeliveryConfig::every);
        handlers::register_incidents(&mut registry, &incidents, setup.watch_configured());
        let runs = Arc::new(AgentRuns::new(
            incidents.clone(),
            settings.agent_run_retention,
        ));
        let state = AppState {
            settings: Arc::new(settings),
            runs,
            github,
            diffs,
            git,
            store,
            inbox,
            incidents,
            metrics: telemetry::metrics(),
            setup,
            unverified: http::BodyBudget::new(http::UNVERIFIED_BODY_BUDGET),
        };
        Ok(Self {
            state,
            registry,
            worker_config: WorkerConfig::default(),
            redelivery,
            work_ready,
            recorded: Arc::new(watch::channel(0).0),
        })
    }

    /// Wakes each time the worker records a delivery's outcome (the value counts them).
    pub fn outcomes(&self) -> watch::Receiver<u64> {
        self.recorded.subscribe()
    }

    pub fn router(&self) -> Router {
        http::router(self.state.clone())
    }

    /// Serves the router on `listener` with the connection limits of the settings
    /// (header timeout, connection cap) until `signal` resolves and connections drain.
    pub fn serve_http(
        &self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
        let config = http::ServeConfig {
            header_timeout: self.state.settings.header_timeout,
            max_connections: self.state.settings.max_connections,
        };
        http::serve(listener, self.router(), config, signal)
    }

    /// Starts the worker pool; it stops when `shutdown` turns true.
    pub fn spawn_worker(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let worker = Worker {
            store: self.state.store.clone(),
            registry: Arc::new(self.registry.clone()),
            work_ready: self.work_ready.clone(),
            config: self.worker_config.clone(),
            id: crate::webhook::worker::worker_id(&hostname()),
            completions: Completions::start(self.state.store.clone()),
            recorded: self.recorded.clone(),
        };
        tokio::spawn(worker.run(shutdown))
    }

    /// Starts the redelivery job unless it is off; it stops when `shutdown` turns true.
    /// Without App settings but with an interval, it starts once setup configures the App.
    pub fn spawn_redelivery(&self, shutdown: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        let job = |config| RedeliveryJob {
            store: self.state.store.clone(),
            github: self.state.github.clone(),
            clock: Arc::new(SystemClock),
            config,
        };
        if let Some(config) = self.redelivery.clone() {
            return Some(tokio::spawn(job(config).run(shutdown)));
        }
        let interval = self.state.settings.redelivery_interval?;
        let job = job(RedeliveryConfig::every(interval));
        Some(self.spawn_when_configured(shutdown, |stop| job.run(stop)))
    }

    /// Runs a job that talks to GitHub once the App is configured (at start, or
    /// later through the one-click setup), until `shutdown` turns true.
    fn spawn_when_configured<F>(
        &self,
        shutdown: watch::Receiver<bool>,
        job: impl FnOnce(watch::Receiver<bool>) -> F + Send + 'static,
    ) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut configured = self.state.setup.watch_configured();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                ready = configured.wait_for(|c| *c) => if ready.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            job(shutdown).await
        })
    }

    /// The RCA due-reminder job over this service's store, GitHub and clock (tests
    /// call its `run_once` with the injected time).
    pub fn reminders(&self) -> RcaReminders {
        RcaReminders::new(self.state.incidents.clone())
    }

    /// The job that writes incidents' timelines into their RCA bodies (tests call
    /// its `run_once` with the injected time).
    pub fn timeline_writer(&self) -> TimelineWriter {
        TimelineWriter::new(self.state.incidents.clone())
    }

    /// Starts the timeline writer; like the reminders, once the App is configured.
    pub fn spawn_timeline_writer(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let job = self.timeline_writer();
        self.spawn_when_configured(shutdown, |stop| job.run(stop))
    }

    /// Starts the RCA due-reminder job; it waits for the App to be configured (it
    /// comments on issues) and stops when `shutdown` turns true.
    pub fn spawn_reminders(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let job = self.reminders();
        self.spawn_when_configured(shutdown, |stop| job.run(stop))
    }

    /// Serves until `signal` resolves: stops accepting, lets the worker finish or hand
    /// back what is in flight, then returns.
    pub async fn run(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = self.spawn_worker(stop_rx.clone());
        let redelivery = self.spawn_redelivery(stop_rx.clone());
        let timelines = self.spawn_timeline_writer(stop_rx.clone());
        let reminders = self.spawn_reminders(stop_rx);
        let addr = listener.local_addr()?;
        let missing = self.state.setup.live().missing();
        if missing.is_empty() {
            tracing::info!(%addr, "serving");
        } else {
            let setup_page = format!("{}/", self.state.setup.public_url());
            tracing::warn!(%addr, missing = ?missing, setup_page, "serving without GitHub App settings: webhook and GitHub routes answer 503 until they are set; open the setup page to register the App in one click");
        }
        self.serve_http(listener, async move {
            signal.await;
            tracing::info!("shutting down: no new requests; finishing work in flight");
        })
        .await
        .context("the HTTP server failed")?;
        let _ = stop_tx.send(true);
        worker.await.context("the worker panicked")?;
        if let Some(job) = redelivery {
            job.await.context("the redelivery job panicked")?;
        }
        reminders.await.context("the RCA reminder job panicked")?;
        timelines.await.context("the timeline writer panicked")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The App's client, or an anonymous one (public repositories only) without App
/// settings. A key that cannot sign stops startup here, naming its variable.
pub fn github_client(settings: &Settings) -> anyhow::Result<Arc<dyn GitHub>> {
    github_client_with(settings, Arc::new(SystemClock), RetryPolicy::default())
}

/// [`github_client`] with a given clock and retry policy.
pub fn github_client_with(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
) -> anyhow::Result<Arc<dyn GitHub>> {
    let app = match &settings.app {
        Some(creds) => Some(AppAuth::new(creds, creds.key_variable)?),
        None => None,
    };
    let client = AppClient::new(&settings.api_url, app, clock, policy)
        .context("GITHUB_API_URL: cannot build a client for it")?;
    Ok(Arc::new(client))
}

/// Mirror fetches at once, over all repositories (one per repository).
pub const FETCH_THREADS: usize = 8;

/// The diff service over `github`, with mirrors and cache under the data directory.
pub fn diff_service(
    settings: &Settings,
    github: Arc<dyn GitHub>,
) -> anyhow::Result<Arc<DiffService>> {
    let config = DiffConfig {
        data_dir: settings.data_dir.clone(),
        server_url: settings.server_url.clone(),
        cache_bytes: 1 << 30,
        memory_bytes: 256 << 20,
        git_threads: 4,
        fetch_threads: FETCH_THREADS,
        fetch_timeout: settings.git_fetch_timeout,
        head_ttl: std::time::Duration::from_secs(5),
    };
    DiffService::new(github, config).context("RESPONDER_DATA_DIR: cannot create the diff cache")
}

/// The git mirror for sandboxes over the diff service's mirrors.
pub fn git_serve(
    settings: &Settings,
    github: Arc<dyn GitHub>,
    diffs: &DiffService,
) -> Arc<GitServe> {
    let m = &settings.git_mirror;
    let config = GitServeConfig {
        server_url: settings.server_url.clone(),
        ttl: m.ttl,
        upload_packs: m.upload_packs,
        queue_timeout: m.queue_timeout,
        max_bytes: m.max_bytes,
    };
    GitServe::new(github, diffs.mirrors().clone(), config)
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "responder".into())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
