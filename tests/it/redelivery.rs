//! The redelivery job against the fake GitHub: which failed deliveries it asks for,
//! that it asks once, and that `serve` runs it and counts it.

use std::sync::Arc;
use std::time::Duration;

use responder::clock::SystemClock;
use responder::settings::{Settings, SettingsArgs};
use responder::store::{NewDelivery, Store};
use responder::webhook::redelivery::{JOB, RedeliveryConfig, RedeliveryJob};

use crate::support::fake_github::{FakeGitHub, Fault};
use crate::support::service::{TestService, app_args, eventually, test_args};

async fn job_for(fake: &FakeGitHub, dir: &std::path::Path) -> RedeliveryJob {
    let settings = Settings::from_args(&app_args(dir, fake)).unwrap();
    let store = Store::connect(&settings.database_url).await.unwrap();
    RedeliveryJob {
        store,
        github: responder::service::github_client(&settings).unwrap(),
        clock: Arc::new(SystemClock),
        config: RedeliveryConfig::every(Duration::from_secs(900)),
    }
}

fn inbox_row(guid: &str) -> NewDelivery {
    NewDelivery {
        delivery_id: guid.into(),
        event: "issues".into(),
        action: Some("opened".into()),
        repo: Some("octo/app".into()),
        installation_id: None,
        payload: "{}".into(),
    }
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

#[tokio::test]
async fn failed_deliveries_missing_from_the_inbox_are_redelivered_once() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_for(&fake, dir.path()).await;
    let now = chrono::Utc::now().timestamp();

    // Failed before the last run: that run's business, not this one's.
    fake.set_now(now - 3600);
    fake.add_hook_delivery("before-last-run", "issues", Some("opened"), 500);
    fake.clear_now();
    job.store
        .record_job_run(JOB, (now - 1800) * 1000, "seeded")
        .await
        .unwrap();

    let missing = fake.add_hook_delivery("missing", "issues", Some("opened"), 502);
    let no_answer = fake.add_hook_delivery("no-answer", "issue_comment", Some("created"), 0);
    fake.add_hook_delivery("in-inbox", "issues", Some("closed"), 500);
    fake.add_hook_delivery("recovered", "issues", Some("opened"), 500);
    fake.add_hook_delivery("recovered", "issues", Some("opened"), 202);
    fake.add_hook_delivery("fine", "issues", Some("opened"), 202);
    job.store
        .insert_deliveries(&[inbox_row("in-inbox")])
        .await
        .unwrap();

    let report = job.run_once().await.unwrap();
    assert_eq!(sorted(fake.redeliveries()), [missing, no_answer]);
    let mut requested = report.requested.clone();
    requested.sort();
    assert_eq!(requested, ["missing", "no-answer"]);
    assert!(report.refused.is_empty());
    assert_eq!(
        report.listed, 6,
        "the delivery before the last run is not listed"
    );

    let rows = job.store.list_redeliveries(10).await.unwrap();
    assert_eq!(rows.len(), 2);
    let row = rows.iter().find(|r| r.guid == "no-answer").unwrap();
    assert_eq!(
        (
            row.event.as_str(),
            row.action.as_deref(),
            row.status_code,
            row.hook_delivery_id
        ),
        ("issue_comment", Some("created"), 0, no_answer as i64)
    );
    let run = job.store.job_run(JOB).await.unwrap().unwrap();
    assert!(run.last_run_at >= now * 1000, "the run's start is recorded");

    // GitHub's redelivery failed too: a new failed attempt with the same guid. The
    // job does not ask again (an operator decides), and a second run asks nothing new.
    fake.add_hook_delivery("missing", "issues", Some("opened"), 502);
    let again = job.run_once().await.unwrap();
    assert!(again.requested.is_empty(), "{again:?}");
    assert_eq!(sorted(fake.redeliveries()), [missing, no_answer]);
}

#[tokio::test]
async fn the_first_run_looks_back_as_far_as_github_keeps_deliveries() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_for(&fake, dir.path()).await;
    let now = chrono::Utc::now().timestamp();
    fake.set_now(now - 4 * 86_400);
    fake.add_hook_delivery("expired", "issues", Some("opened"), 500);
    fake.set_now(now - 2 * 86_400);
    let two_days_ago = fake.add_hook_delivery("two-days-ago", "issues", Some("opened"), 500);
    fake.clear_now();

    job.run_once().await.unwrap();
    assert_eq!(fake.redeliveries(), [two_days_ago]);
}

#[tokio::test]
async fn a_refused_redelivery_is_asked_for_again_on_the_next_run() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_for(&fake, dir.path()).await;
    let id = fake.add_hook_delivery("flaky", "issues", Some("opened"), 500);
    fake.fault(
        "POST",
        "/app/hook/deliveries/*/attempts",
        Fault::Status(502),
        1,
    );

    let first = job.run_once().await.unwrap();
    assert_eq!(first.refused, ["flaky"]);
    assert!(fake.redeliveries().is_empty());
    assert!(job.store.list_redeliveries(10).await.unwrap().is_empty());
    assert!(
        job.store.job_run(JOB).await.unwrap().is_none(),
        "a run with a refusal does not move the starting point"
    );

    let second = job.run_once().await.unwrap();
    assert_eq!(second.requested, ["flaky"]);
    assert_eq!(fake.redeliveries(), [id]);
}

#[tokio::test]
async fn a_listing_failure_is_an_error_and_records_no_run() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let job = job_for(&fake, dir.path()).await;
    fake.fault("GET", "/app/hook/deliveries", Fault::Status(404), 1);
    let err = job.run_once().await.unwrap_err();
    assert!(err.to_string().contains("/app/hook/deliveries"), "{err}");
    assert!(job.store.job_run(JOB).await.unwrap().is_none());
}

#[tokio::test]
async fn serve_runs_the_job_and_counts_requests_in_metrics() {
    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let id = fake.add_hook_delivery("lost-while-down", "issues", Some("opened"), 503);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut job = None;
    let svc = TestService::start_with(app_args(dir.path(), &fake), |s| {
        let config = s.redelivery.as_mut().expect("on with App settings");
        assert_eq!(config.interval, Duration::from_secs(15 * 60), "the default");
        config.initial_delay = Duration::ZERO;
        job = s.spawn_redelivery(stop_rx);
    })
    .await;

    assert!(
        eventually(Duration::from_secs(10), || async {
            fake.redeliveries() == [id]
        })
        .await,
        "redelivery requested: {:?}",
        fake.redeliveries()
    );
    // The fake logs the request before the job has its answer and counts it.
    let metrics = || async {
        reqwest::get(format!("{}/metrics", svc.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let counted = eventually(Duration::from_secs(10), || async {
        metrics()
            .await
            .lines()
            .any(|l| l.starts_with("responder_redeliveries_requested_total"))
    })
    .await;
    assert!(counted, "{}", metrics().await);

    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(5), job.unwrap())
        .await
        .expect("the job stops on shutdown")
        .unwrap();
    svc.stop().await;
}

#[tokio::test]
async fn the_job_is_off_without_app_settings_or_with_a_zero_interval() {
    let dir = tempfile::tempdir().unwrap();
    let no_app = Settings::from_args(&test_args(dir.path())).unwrap();
    let service = responder::Service::new(no_app).await.unwrap();
    assert!(service.redelivery.is_none());

    let fake = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let zero = SettingsArgs {
        redelivery_interval: "0".into(),
        ..app_args(dir.path(), &fake)
    };
    let service = responder::Service::new(Settings::from_args(&zero).unwrap())
        .await
        .unwrap();
    assert!(service.redelivery.is_none());
}

#[test]
fn a_bad_or_too_short_interval_names_its_variable() {
    for bad in ["soon", "30s"] {
        let args = SettingsArgs {
            redelivery_interval: bad.into(),
            ..SettingsArgs::default()
        };
        let problems = Settings::from_args(&args).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].variable, "RESPONDER_REDELIVERY_INTERVAL",
            "{bad}"
        );
    }
    let hourly = SettingsArgs {
        redelivery_interval: "1h".into(),
        ..SettingsArgs::default()
    };
    assert_eq!(
        Settings::from_args(&hourly).unwrap().redelivery_interval,
        Some(Duration::from_secs(3600))
    );
}
