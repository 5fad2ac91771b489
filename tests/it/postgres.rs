//! PostgreSQL: the same flows as SQLite, and several instances sharing one database.
//! Needs `RESPONDER_TEST_POSTGRES_URL` (`bash .ci/run` starts PostgreSQL and sets it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use responder::Service;
use responder::service::ServiceOptions;
use responder::settings::Settings;
use responder::webhook::{Event, Handler, HandlerError};
use serde_json::json;

use crate::support::fake_github::{FakeGitHub, RepoOpts};
use crate::support::git_fixture::RepoBuilder;
use crate::support::postgres::{admin_url, fresh_database};
use crate::support::service::{
    AGENT_SECRET, TestService, WebhookClient, agent_token, eventually, fake_args, fast_policy,
    test_args, webhook_fixture,
};

/// The flow tests of the other modules, run again by this binary on PostgreSQL.
#[test]
fn the_flow_tests_pass_on_postgresql_too() {
    if admin_url().is_none() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "webhook_inbox::",
            "webhook_process::",
            "incidents::",
            "redelivery::",
            "lifecycle::",
            "followups::",
            "agent_runs::service::",
            "diff_api::",
            "--test-threads=4",
        ])
        .env("RESPONDER_TEST_DATABASE", "postgres")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let summary = text
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("on PostgreSQL: {summary}");
    assert!(
        out.status.success(),
        "flow tests failed on PostgreSQL:\n{text}"
    );
    assert!(!summary.contains(" 0 passed"), "{summary}");
}

const CHILD_ENV: &str = "RESPONDER_TEST_PG_CHILD";

/// Appends `done <delivery>` to the shared log.
struct Record(PathBuf);

#[async_trait::async_trait]
impl Handler for Record {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .unwrap();
        // One write per line: both instances append to this file, and `writeln!`
        // on a bare file writes piece by piece, so lines could interleave.
        let line = format!("done {} {}\n", event.delivery_id, std::process::id());
        f.write_all(line.as_bytes()).unwrap();
        Ok(())
    }
}

/// One `serve` of the two-instance test (re-executed by it).
#[tokio::test]
#[ignore = "child process of two_instances_on_one_database_handle_each_delivery_exactly_once"]
async fn child_server() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, url) = spec.split_once('|').unwrap();
    let dir = PathBuf::from(dir);
    let mut args = test_args(&dir.join(format!("data-{}", std::process::id())));
    args.database_url = Some(url.to_string());
    let mut service = Service::new(Settings::from_args(&args).unwrap())
        .await
        .unwrap();
    service
        .registry
        .on("issues", std::sync::Arc::new(Record(dir.join("log"))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Written aside then renamed, so the parent never reads a half-written port.
    let port_file = dir.join(format!("port-{}", std::process::id()));
    std::fs::write(port_file.with_extension("tmp"), port.to_string()).unwrap();
    std::fs::rename(port_file.with_extension("tmp"), &port_file).unwrap();
    service
        .run(listener, responder::service::shutdown_signal())
        .await
        .unwrap();
}

fn spawn(dir: &Path, url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "postgres::child_server",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, format!("{}|{url}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn two_instances_on_one_database_handle_each_delivery_exactly_once() {
    if admin_url().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let url = fresh_database();
    let mut children = vec![spawn(dir, &url), spawn(dir, &url)];
    let mut clients = Vec::new();
    for child in &children {
        let port_file = dir.join(format!("port-{}", child.id()));
        assert!(
            eventually(Duration::from_secs(60), || async { port_file.exists() }).await,
            "an instance did not start"
        );
        clients.push(WebhookClient {
            url: format!(
                "http://127.0.0.1:{}",
                std::fs::read_to_string(&port_file).unwrap()
            ),
        });
    }
    let opened: serde_json::Value =
        serde_json::from_slice(&webhook_fixture("issues.opened")).unwrap();
    let n = 1000;
    for i in 0..n {
        let mut body = opened.clone();
        body["repository"]["full_name"] = json!(format!("acme/repo-{}", i % 7));
        let resp = clients[i % 2]
            .deliver(
                "issues",
                &format!("pg-{i}"),
                &serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(resp.status(), 202);
    }
    let log = dir.join("log");
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let done = eventually(Duration::from_secs(120), || async { lines().len() >= n }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(done, "only {} of {n} deliveries handled", lines().len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut by_instance: HashMap<String, usize> = HashMap::new();
    for l in lines() {
        let mut parts = l.split(' ').skip(1);
        *seen.entry(parts.next().unwrap().to_string()).or_default() += 1;
        *by_instance
            .entry(parts.next().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), n, "every delivery handled");
    assert!(
        seen.values().all(|&c| c == 1),
        "a delivery was handled twice: {:?}",
        seen.iter().filter(|(_, c)| **c > 1).collect::<Vec<_>>()
    );
    assert_eq!(
        by_instance.len(),
        2,
        "both instances worked: {by_instance:?}"
    );
}

#[tokio::test]
async fn incidents_declared_through_two_instances_never_duplicate() {
    if admin_url().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(&tmp.path().join("evals"));
    b.commit_on(
        "main",
        &[("README.md", Some(b"evals\n".as_slice()))],
        "init",
    );
    let fake = FakeGitHub::start().await;
    fake.add_repo(
        "acme",
        "evals",
        b.publish(),
        RepoOpts {
            installation: Some(3),
            public: false,
        },
    );
    let url = fresh_database();
    let mut instances = Vec::new();
    for i in 0..2 {
        let mut args = fake_args(&tmp.path().join(format!("data-{i}")), &fake, AGENT_SECRET);
        args.database_url = Some(url.clone());
        let options = ServiceOptions {
            retry_policy: fast_policy(),
            ..ServiceOptions::default()
        };
        instances.push(TestService::start_with_options(args, options, |_| {}).await);
    }
    let token = agent_token(&["acme/evals"], &["incidents:write"], 3600);
    let body = json!({ "repo": "acme/evals", "title": "Sandboxes crash", "severity": "SEV2",
                       "component": "sandbox", "summary": "pods OOM", "dedup_key": "alert-42" });
    let client = reqwest::Client::new();
    let posts = (0..8).map(|i| {
        let (client, url, token, body) = (
            client.clone(),
            format!("{}/v1/incidents", instances[i % 2].url),
            token.clone(),
            body.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        })
    });
    let mut ids = Vec::new();
    let mut created = 0;
    for p in posts {
        let resp = p.await.unwrap();
        let status = resp.status();
        assert!(
            status == 201 || status == 200,
            "{status}: {:?}",
            resp.text().await
        );
        created += usize::from(status == 201);
        let v: serde_json::Value = resp.json().await.unwrap();
        ids.push(v["id"].clone());
    }
    assert_eq!(created, 1);
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let issues = fake.issues("acme", "evals");
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.title == "[SEV2] Sandboxes crash")
            .count(),
        1,
        "{:?}",
        issues.iter().map(|i| &i.title).collect::<Vec<_>>()
    );
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.title == "[SEV2] RCA: Sandboxes crash")
            .count(),
        1
    );
}

/// Migration 0035 on PostgreSQL: a payload stored by 0034 (text keyed by delivery id)
/// moves into the new table as it was, and a new one is stored compressed; both read
/// back through the store.
#[tokio::test]
async fn payloads_stored_before_compression_read_back_after_the_migration_on_postgres() {
    if admin_url().is_none() {
        return;
    }
    let url = fresh_database();
    let text = r#"{"zen":"Keep it logically awesome. é"}"#;
    crate::support::old_store::before_0035(&url, text).await;
    let raw = sqlx::PgPool::connect(&url).await.unwrap();

    let store = responder::store::Store::connect(&url).await.unwrap();
    let old = store.delivery("old").await.unwrap().unwrap().id;
    assert_eq!(store.delivery_payload(old).await.unwrap(), text);

    let big = String::from_utf8(crate::support::service::webhook_fixture("issues.opened")).unwrap();
    let new = responder::store::NewDelivery {
        delivery_id: "new".into(),
        event: "issues".into(),
        action: Some("opened".into()),
        repo: Some("octo/app".into()),
        installation_id: None,
        payload: big.as_str().into(),
    };
    let [responder::store::InsertOutcome::Accepted(id)] =
        store.insert_deliveries(&[new]).await.unwrap()[..]
    else {
        panic!("a new delivery is accepted");
    };
    let (encoding, size, stored): (i64, i64, i32) = sqlx::query_as(
        "SELECT encoding, size, octet_length(body) FROM delivery_payloads WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&raw)
    .await
    .unwrap();
    assert_eq!((encoding, size), (1, big.len() as i64));
    assert!(
        i64::from(stored) * 3 < size,
        "{stored} bytes stored for {size}"
    );
    let mut both = store
        .small_payloads(&[old, id], big.len() as i64)
        .await
        .unwrap();
    both.sort();
    assert_eq!(both, [(old, text.to_string()), (id, big)]);
}
