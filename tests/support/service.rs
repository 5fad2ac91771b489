//! A real `Service` (store, inbox, worker, router) on a loopback port, for tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use responder::Service;
use responder::service::ServiceOptions;
use responder::settings::{Settings, SettingsArgs};
use responder::store::Store;
use responder::types::Secret;
use responder::webhook::signature;
use tokio::sync::watch;

pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// Posts signed webhooks to a service at `url`.
pub struct WebhookClient {
    pub url: String,
}

impl WebhookClient {
    /// Signs `body` with the test secret and posts it as GitHub would.
    pub async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> reqwest::Response {
        let sig = signature::sign(&Secret::new(WEBHOOK_SECRET), body);
        self.post_webhook(event, delivery, body, Some(&sig)).await
    }

    pub async fn post_webhook(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(format!("{}/webhook", self.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        req.send().await.expect("request reaches the service")
    }
}

pub struct TestService {
    pub client: WebhookClient,
    pub url: String,
    pub store: Store,
    pub data_dir: PathBuf,
    /// The RCA due-reminder job of this service (tests call `run_once`).
    pub reminders: Arc<responder::incident::service::RcaReminders>,
    /// The RCA timeline writer of this service (tests call `run_once`).
    pub timeline: Arc<responder::incident::service::TimelineWriter>,
    /// Wakes when the worker records an outcome: see [`TestService::settle`].
    outcomes: watch::Receiver<u64>,
    stop: watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

/// Settings for a test: a fresh data directory and the test webhook secret.
///
/// With `RESPONDER_TEST_DATABASE=postgres` the service gets a fresh PostgreSQL
/// database instead of SQLite (see `tests/it/postgres.rs`).
pub fn test_args(data_dir: &Path) -> SettingsArgs {
    let database_url = match std::env::var("RESPONDER_TEST_DATABASE").as_deref() {
        Ok("postgres") => Some(crate::support::postgres::database_for(data_dir)),
        _ => None,
    };
    SettingsArgs {
        data_dir: data_dir.to_path_buf(),
        database_url,
        github_webhook_secret: Some(WEBHOOK_SECRET.into()),
        ..SettingsArgs::default()
    }
}

impl TestService {
    /// Starts a service in a new temporary data directory; `configure` may register
    /// handlers or change the worker's settings before it runs.
    pub async fn start(configure: impl FnOnce(&mut Service)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let args = test_args(tmp.path());
        let mut me = Self::start_with(args, configure).await;
        me._tmp = Some(tmp);
        me
    }

    pub async fn start_with(args: SettingsArgs, configure: impl FnOnce(&mut Service)) -> Self {
        Self::start_with_options(args, ServiceOptions::default(), configure).await
    }

    /// Like [`start_with`](Self::start_with), with a GitHub retry policy or clock.
    /// Unless `args` name a public URL, it is the loopback address the service is
    /// bound to.
    pub async fn start_with_options(
        mut args: SettingsArgs,
        mut options: ServiceOptions,
        configure: impl FnOnce(&mut Service),
    ) -> Self {
        // The harness is not `responder`: the template sandbox must start the real binary.
        options.template_sandbox.exe = env!("CARGO_BIN_EXE_responder").into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        if args.public_url.is_none() {
            args.public_url = Some(url.clone());
        }
        let settings = Settings::from_args(&args).expect("test settings are valid");
        let mut service = Service::with_options(settings, options)
            .await
            .expect("service starts");
        service.worker_config.backoff_base = Duration::from_millis(20);
        service.worker_config.backoff_max = Duration::from_millis(200);
        configure(&mut service);
        let (stop, stop_rx) = watch::channel(false);
        let worker = service.spawn_worker(stop_rx);
        let reminders = Arc::new(service.reminders());
        let timeline = Arc::new(service.timeline_writer());
        let outcomes = service.outcomes();
        let http = service.serve_http(listener, std::future::pending());
        tokio::spawn(async move { http.await.unwrap() });
        Self {
            client: WebhookClient { url: url.clone() },
            url,
            store: service.state.store.clone(),
            data_dir: args.data_dir,
            reminders,
            timeline,
            outcomes,
            stop,
            worker: Some(worker),
            _tmp: None,
        }
    }

    /// Waits until no delivery is pending, running or waiting for a retry: the store
    /// is asked again each time the worker records an outcome, never on a timer.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let mut outcomes = self.outcomes.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Mark what was seen before asking, so an outcome recorded meanwhile wakes us.
            outcomes.borrow_and_update();
            let all = self.store.list_deliveries(None, 1000).await.unwrap();
            if all.iter().all(|d| {
                matches!(
                    d.status,
                    responder::store::DeliveryStatus::Done | responder::store::DeliveryStatus::Dead
                )
            }) {
                return true;
            }
            match tokio::time::timeout_at(deadline, outcomes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }

    /// Stops the worker (handing back work in flight) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(w) = self.worker.take() {
            w.await.unwrap();
        }
    }
}

/// Settings pointing a service at `fake`: its API and git base, the App's id and key,
/// and `agent_secret` for the agent API.
pub fn fake_args(
    data_dir: &Path,
    fake: &super::fake_github::FakeGitHub,
    agent_secret: &str,
) -> SettingsArgs {
    SettingsArgs {
        github_api_url: fake.api_url(),
        github_server_url: fake.server_url(),
        github_app_id: Some(fake.app_id().to_string()),
        github_app_private_key: Some(fake.private_key_pem().to_string()),
        agent_secret: Some(agent_secret.to_string()),
        ..test_args(data_dir)
    }
}

/// A GitHub retry policy without waits, for tests.
pub fn fast_policy() -> responder::github::RetryPolicy {
    responder::github::RetryPolicy {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        write_spacing: Duration::ZERO,
        timeout: Duration::from_secs(10),
        ..responder::github::RetryPolicy::default()
    }
}

impl std::ops::Deref for TestService {
    type Target = WebhookClient;
    fn deref(&self) -> &WebhookClient {
        &self.client
    }
}

/// Polls `check` until it is true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A GitHub example payload from `tests/fixtures/github/webhooks/NAME.json`.
pub fn webhook_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/github/webhooks")
        .join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A handler that counts calls and can be told to fail.
pub struct Recorder {
    pub calls: std::sync::Mutex<Vec<String>>,
    pub fail_times: std::sync::atomic::AtomicUsize,
    pub delay: Duration,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Self::with(0, Duration::ZERO)
    }
    pub fn with(fail_times: usize, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            calls: Default::default(),
            fail_times: fail_times.into(),
            delay,
        })
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl responder::webhook::Handler for Recorder {
    async fn handle(
        &self,
        event: &responder::webhook::Event,
    ) -> Result<(), responder::webhook::HandlerError> {
        use std::sync::atomic::Ordering;
        self.calls
            .lock()
            .unwrap()
            .push(format!("start {}", event.delivery_id));
        tokio::time::sleep(self.delay).await;
        if self
            .fail_times
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(responder::webhook::HandlerError::Retry(
                "injected failure".into(),
            ));
        }
        self.calls
            .lock()
            .unwrap()
            .push(format!("done {}", event.delivery_id));
        Ok(())
    }
}

/// The agent-token secret test services use.
pub const AGENT_SECRET: &str = "test-agent-secret-0123456789abcdef";

/// Settings pointing a service at `fake` as its GitHub, with the agent API on.
pub fn app_args(data_dir: &Path, fake: &crate::support::fake_github::FakeGitHub) -> SettingsArgs {
    fake_args(data_dir, fake, AGENT_SECRET)
}

/// An agent token for `repos` with `scopes`, valid for `ttl_secs` (negative: expired).
pub fn agent_token(repos: &[&str], scopes: &[&str], ttl_secs: i64) -> String {
    let secret = Secret::new(AGENT_SECRET);
    let repos: Vec<String> = repos.iter().map(|r| r.to_string()).collect();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let now = chrono::Utc::now().timestamp();
    let (ttl, now) = if ttl_secs > 0 {
        (ttl_secs, now)
    } else {
        (60, now - 60 + ttl_secs)
    };
    responder::agent_token::mint(&secret, &repos, &scopes, ttl, Some("test-agent"), now).unwrap()
}
