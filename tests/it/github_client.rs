//! The real GitHub client (octocrab transport, App JWT, installation tokens) against
//! the fake GitHub at a base URL with a path (`/api/v3`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use responder::clock::{Clock, ManualClock};
use responder::github::app::AppAuth;
use responder::github::{AppClient, GitHub, GitHubError, RetryPolicy};
use responder::settings::AppCredentials;
use responder::types::{PrNumber, RepoName, Secret};

use crate::support::fake_github::{FakeGitHub, Fault, RepoOpts};
use crate::support::git_fixture::many_files;

const INSTALLATION: u64 = 77;

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        write_spacing: Duration::ZERO,
        timeout: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

fn app(pem: &str, app_id: &str) -> AppAuth {
    let creds = AppCredentials {
        app_id: app_id.into(),
        private_key: Secret::new(pem),
        key_variable: "GITHUB_APP_PRIVATE_KEY",
    };
    AppAuth::new(&creds, "GITHUB_APP_PRIVATE_KEY").unwrap()
}

fn client(fake: &FakeGitHub, clock: Arc<dyn Clock>) -> AppClient {
    AppClient::new(
        &fake.api_url(),
        Some(app(fake.private_key_pem(), &fake.app_id().to_string())),
        clock,
        fast_policy(),
    )
    .unwrap()
}

/// A fake with `acme/widgets` (PR #1 of 250 files) covered by installation 77.
async fn fake_with_repo(tmp: &std::path::Path) -> (FakeGitHub, RepoName) {
    let fake = FakeGitHub::start().await;
    let bare = many_files(tmp, 250);
    fake.add_repo(
        "acme",
        "widgets",
        bare,
        RepoOpts {
            installation: Some(INSTALLATION),
            public: false,
        },
    );
    fake.add_pull("acme", "widgets", 1);
    (fake, "acme/widgets".parse().unwrap())
}

fn token_requests(fake: &FakeGitHub) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.ends_with("/access_tokens") && r.status == 201)
        .count()
}

#[tokio::test]
async fn the_fake_refuses_a_wrong_key_and_a_stale_jwt_and_accepts_the_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;

    let good = client(&fake, Arc::new(responder::clock::SystemClock));
    assert_eq!(good.repository(&repo).await.unwrap().default_branch, "main");

    let wrong = AppClient::new(
        &fake.api_url(),
        Some(app(fake.wrong_private_key_pem(), "424242")),
        Arc::new(responder::clock::SystemClock),
        fast_policy(),
    )
    .unwrap();
    let err = wrong.repository(&repo).await.unwrap_err();
    assert!(matches!(err, GitHubError::Unauthorized { .. }), "{err:?}");

    let stale = Arc::new(ManualClock::new(Utc::now() - chrono::Duration::minutes(20)));
    let err = client(&fake, stale).repository(&repo).await.unwrap_err();
    assert!(matches!(err, GitHubError::Unauthorized { .. }), "{err:?}");

    // PKCS#8 works as well as PKCS#1.
    let pkcs8 = AppClient::new(
        &fake.api_url(),
        Some(app(fake.private_key_pkcs8_pem(), "424242")),
        Arc::new(responder::clock::SystemClock),
        fast_policy(),
    )
    .unwrap();
    assert!(pkcs8.repository(&repo).await.is_ok());
}

#[tokio::test]
async fn tokens_are_cached_refreshed_near_expiry_and_after_a_401() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;
    let start = Utc::now();
    let clock = Arc::new(ManualClock::new(start));
    fake.set_now(start.timestamp());
    let gh = client(&fake, clock.clone());

    gh.repository(&repo).await.unwrap();
    gh.pull(&repo, PrNumber(1)).await.unwrap();
    assert_eq!(token_requests(&fake), 1, "second call reuses the token");

    // 54 minutes in: still more than five minutes left.
    clock.advance(chrono::Duration::minutes(54));
    fake.set_now(clock.now().timestamp());
    gh.repository(&repo).await.unwrap();
    assert_eq!(token_requests(&fake), 1);

    // 56 minutes in: within five minutes of expiry → a new token.
    clock.advance(chrono::Duration::minutes(2));
    fake.set_now(clock.now().timestamp());
    gh.repository(&repo).await.unwrap();
    assert_eq!(token_requests(&fake), 2);

    // GitHub revokes it: the 401 drops the token, one refresh, the call succeeds.
    fake.revoke_all_tokens();
    gh.repository(&repo).await.unwrap();
    assert_eq!(token_requests(&fake), 3);
}

#[tokio::test]
async fn ten_concurrent_callers_cause_one_token_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;
    let gh = Arc::new(client(&fake, Arc::new(responder::clock::SystemClock)));
    gh.remember_installation(&repo, responder::types::InstallationId(INSTALLATION));
    let calls = (0..10).map(|_| {
        let (gh, repo) = (gh.clone(), repo.clone());
        tokio::spawn(async move { gh.repository(&repo).await.map(|r| r.full_name) })
    });
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), "acme/widgets");
    }
    assert_eq!(token_requests(&fake), 1);
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_5xx_retried_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;
    let gh = client(&fake, Arc::new(responder::clock::SystemClock));
    gh.repository(&repo).await.unwrap();

    fake.fault(
        "GET",
        "/repos/acme/widgets",
        Fault::SecondaryRateLimit { retry_after: 1 },
        1,
    );
    let t = Instant::now();
    assert_eq!(
        gh.repository(&repo).await.unwrap().full_name,
        "acme/widgets"
    );
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        t.elapsed()
    );

    fake.fault("GET", "/repos/acme/widgets", Fault::Status(502), 1);
    assert!(gh.repository(&repo).await.is_ok(), "502 then 200 succeeds");

    fake.clear_requests();
    fake.fault("GET", "/repos/acme/widgets", Fault::Status(502), 5);
    let err = gh.repository(&repo).await.unwrap_err();
    assert!(
        matches!(err, GitHubError::Other { status: 502, .. }),
        "{err:?}"
    );
    let tries = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/repos/acme/widgets")
        .count();
    assert_eq!(tries, 5, "one try and four bounded retries");
}

#[tokio::test]
async fn a_post_answered_502_is_not_repeated() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;
    let gh = client(&fake, Arc::new(responder::clock::SystemClock));
    fake.fault("POST", "/repos/acme/widgets/issues", Fault::Status(502), 1);
    let issue = responder::github::NewIssue {
        title: "t".into(),
        body: "b".into(),
        ..Default::default()
    };
    let err = gh.create_issue(&repo, &issue).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/repos/acme/widgets/issues")
        .count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn failures_come_back_as_their_distinct_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;
    let gh = client(&fake, Arc::new(responder::clock::SystemClock));
    let files = "/repos/acme/widgets/pulls/1/files";

    fake.fault("GET", files, Fault::Status(404), 1);
    assert!(matches!(
        gh.pull_files(&repo, PrNumber(1)).await,
        Err(GitHubError::NotFound { .. })
    ));

    fake.fault(
        "GET",
        files,
        Fault::Forbidden {
            permission: "pull_requests=read".into(),
        },
        1,
    );
    match gh.pull_files(&repo, PrNumber(1)).await {
        Err(GitHubError::Forbidden {
            permission: Some(p),
            ..
        }) => assert_eq!(p, "pull_requests=read"),
        other => panic!("{other:?}"),
    }

    fake.fault("GET", files, Fault::TooLarge, 1);
    assert!(matches!(
        gh.pull_files(&repo, PrNumber(1)).await,
        Err(GitHubError::TooLarge { .. })
    ));

    fake.fault("GET", files, Fault::NotAvailable(422), 1);
    assert!(matches!(
        gh.pull_files(&repo, PrNumber(1)).await,
        Err(GitHubError::NotAvailable { status: 422, .. })
    ));

    assert!(matches!(
        gh.pull(&repo, PrNumber(99)).await,
        Err(GitHubError::NotFound { .. })
    ));
    let elsewhere: RepoName = "acme/not-installed".parse().unwrap();
    assert!(matches!(
        gh.repository(&elsewhere).await,
        Err(GitHubError::NotInstalled { .. })
    ));
}

#[tokio::test]
async fn pagination_follows_link_on_the_base_path_with_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;
    let gh = client(&fake, Arc::new(responder::clock::SystemClock));
    let files = gh.pull_files(&repo, PrNumber(1)).await.unwrap();
    assert_eq!(files.len(), 250);
    assert_eq!(
        gh.pull(&repo, PrNumber(1)).await.unwrap().changed_files,
        Some(250)
    );
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/pulls/1/files"))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages.iter().all(|r| r.authed && r.status == 200),
        "{pages:?}"
    );
}

/// Captures every log line (all levels, all crates) of the test's thread.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_full_flow_logs_no_token_jwt_or_key() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let tmp = tempfile::tempdir().unwrap();
    let (fake, repo) = fake_with_repo(tmp.path()).await;
    let gh = client(&fake, Arc::new(responder::clock::SystemClock));
    gh.repository(&repo).await.unwrap();
    gh.pull_files(&repo, PrNumber(1)).await.unwrap();
    fake.revoke_all_tokens();
    fake.fault("GET", "/repos/acme/widgets", Fault::Status(502), 1);
    gh.repository(&repo).await.unwrap();
    let err = gh.pull(&repo, PrNumber(404)).await.unwrap_err();
    let token = gh.git_token(&repo).await.unwrap().unwrap();
    let jwt = AppAuth::new(
        &AppCredentials {
            app_id: "424242".into(),
            private_key: Secret::new(fake.private_key_pem()),
            key_variable: "GITHUB_APP_PRIVATE_KEY",
        },
        "GITHUB_APP_PRIVATE_KEY",
    )
    .unwrap()
    .jwt(&responder::clock::SystemClock)
    .unwrap();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "the capture works: {logs}");
    assert!(!logs.contains(token.expose()), "installation token in logs");
    assert!(!logs.contains("ghs_"), "a token-shaped string in logs");
    assert!(!logs.contains(&jwt.expose()[..20]), "JWT header in logs");
    assert!(!logs.contains("eyJ"), "a JWT-shaped string in logs");
    let key_line = fake.private_key_pem().lines().nth(1).unwrap();
    assert!(!logs.contains(key_line), "key material in logs");
    for text in [err.to_string(), format!("{err:?}"), format!("{token:?}")] {
        assert!(
            !text.contains(token.expose()) && !text.contains("eyJ"),
            "{text}"
        );
    }
}
