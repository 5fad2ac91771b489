//! The verified, durable webhook inbox through the real router and store.

use std::sync::Arc;
use std::time::Duration;

use responder::store::DeliveryStatus;
use responder::types::Secret;
use responder::webhook::signature;

use crate::support::service::{Recorder, TestService, WEBHOOK_SECRET, eventually, webhook_fixture};

async fn stored(svc: &TestService) -> usize {
    svc.store.list_deliveries(None, 1000).await.unwrap().len()
}

#[tokio::test]
async fn real_payloads_are_accepted_stored_once_and_handled_once() {
    let rec = Recorder::new();
    let r = rec.clone();
    let svc = TestService::start(move |s| {
        s.registry
            .on("issues", r.clone())
            .on("issue_comment", r.clone())
            .on("pull_request", r);
    })
    .await;
    let cases = [
        ("issues", "issues.opened"),
        ("issues", "issues.labeled"),
        ("issues", "issues.closed"),
        ("issue_comment", "issue_comment.created"),
        ("pull_request", "pull_request.opened"),
    ];
    for (i, (event, fixture)) in cases.iter().enumerate() {
        let body = webhook_fixture(fixture);
        let id = format!("delivery-{i}");
        let resp = svc.deliver(event, &id, &body).await;
        assert_eq!(resp.status(), 202, "{fixture}");
        let again = svc.deliver(event, &id, &body).await;
        assert_eq!(again.status(), 200, "{fixture} redelivered");
        let json: serde_json::Value = again.json().await.unwrap();
        assert_eq!(json["status"], "duplicate");
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            rec.calls().iter().filter(|c| c.starts_with("done")).count() == 5
        })
        .await,
        "handled: {:?}",
        rec.calls()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = rec.calls();
    for i in 0..5 {
        assert_eq!(
            calls
                .iter()
                .filter(|c| **c == format!("done delivery-{i}"))
                .count(),
            1,
            "{calls:?}"
        );
    }
    assert_eq!(stored(&svc).await, 5);
    let d = svc.store.delivery("delivery-0").await.unwrap().unwrap();
    assert_eq!(d.repo.as_deref(), Some("codertocat/hello-world"));
    assert_eq!(d.action.as_deref(), Some("opened"));
    assert_eq!(d.status, DeliveryStatus::Done);
}

#[tokio::test]
async fn bad_signatures_are_refused_and_nothing_is_stored() {
    let svc = TestService::start(|_| {}).await;
    let body = webhook_fixture("issues.opened");
    let good = signature::sign(&Secret::new(WEBHOOK_SECRET), &body);
    let wrong = signature::sign(&Secret::new("not-the-secret"), &body);
    let sha1 = "sha1=d03207e4b030cf234e3447bac4d93add4c6643d8".to_string();
    let truncated = good[..good.len() - 2].to_string();
    let non_hex = format!("sha256={}", "g".repeat(64));
    let mut flipped = good.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    for (name, sig) in [
        ("unsigned", None),
        ("wrong secret", Some(wrong)),
        ("sha1 only", Some(sha1)),
        ("truncated", Some(truncated)),
        ("non-hex", Some(non_hex)),
        ("one digit changed", Some(flipped)),
    ] {
        let resp = svc
            .post_webhook("issues", &format!("bad-{name}"), &body, sig.as_deref())
            .await;
        assert_eq!(resp.status(), 401, "{name}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"], "bad_signature", "{name}");
    }
    let mut changed_body = body.clone();
    changed_body[10] ^= 1;
    assert_eq!(
        svc.post_webhook("issues", "bad-body", &changed_body, Some(&good))
            .await
            .status(),
        401
    );
    assert_eq!(stored(&svc).await, 0);
    // The good signature still works afterwards.
    assert_eq!(
        svc.post_webhook("issues", "good", &body, Some(&good))
            .await
            .status(),
        202
    );
    assert_eq!(stored(&svc).await, 1);
}

#[tokio::test]
async fn malformed_json_gets_a_400_naming_where_it_broke_and_service_keeps_serving() {
    let svc = TestService::start(|_| {}).await;
    let resp = svc
        .deliver(
            "issues",
            "m1",
            br#"{"action": "opened", "repository": {"full_name": 42}}"#,
        )
        .await;
    assert_eq!(resp.status(), 400);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["error"], "malformed_payload");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("repository.full_name"),
        "{json}"
    );

    let resp = svc
        .deliver("issues", "m2", b"{\"action\": \"opened\",\n \"issue\": {")
        .await;
    assert_eq!(resp.status(), 400);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert!(
        json["message"].as_str().unwrap().contains("line 2"),
        "{json}"
    );

    let resp = svc.deliver("issues", "m3", b"{} trailing").await;
    assert_eq!(resp.status(), 400);

    let missing = svc
        .post_webhook(
            "",
            "m4",
            b"{}",
            Some(&signature::sign(&Secret::new(WEBHOOK_SECRET), b"{}")),
        )
        .await;
    assert_eq!(missing.status(), 400);
    assert_eq!(stored(&svc).await, 0);

    let health = reqwest::get(format!("{}/healthz", svc.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        svc.deliver("ping", "p1", &webhook_fixture("ping"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn failing_handler_is_retried_with_backoff_then_marked_dead() {
    let flaky = Recorder::with(2, Duration::ZERO);
    let broken = Recorder::with(usize::MAX, Duration::ZERO);
    let (f, b) = (flaky.clone(), broken.clone());
    let svc = TestService::start(move |s| {
        s.worker_config.max_attempts = 4;
        s.registry.on("issues.opened", f).on("issues.closed", b);
    })
    .await;
    svc.deliver("issues", "flaky", &webhook_fixture("issues.opened"))
        .await;
    svc.deliver("issues", "broken", &webhook_fixture("issues.closed"))
        .await;
    let store = svc.store.clone();
    assert!(
        eventually(Duration::from_secs(10), || async {
            let d = store.delivery("broken").await.unwrap().unwrap();
            d.status == DeliveryStatus::Dead
        })
        .await
    );
    let d = svc.store.delivery("broken").await.unwrap().unwrap();
    assert_eq!(d.attempts, 4);
    assert_eq!(d.last_error.as_deref(), Some("injected failure"));
    assert_eq!(broken.calls().len(), 4);

    let d = svc.store.delivery("flaky").await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Done);
    assert_eq!(d.attempts, 3);

    // An operator queues the dead one again: it gets a fresh budget.
    svc.store.retry_delivery("broken").await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            broken.calls().len() == 8
        })
        .await
    );
}

#[tokio::test]
async fn one_repository_is_handled_in_arrival_order_while_others_run_in_parallel() {
    let rec = Recorder::with(0, Duration::from_millis(150));
    let r = rec.clone();
    let svc = TestService::start(move |s| {
        s.registry.on("issues", r);
    })
    .await;
    let opened: serde_json::Value =
        serde_json::from_slice(&webhook_fixture("issues.opened")).unwrap();
    let for_repo = |repo: &str| {
        let mut v = opened.clone();
        v["repository"]["full_name"] = repo.into();
        serde_json::to_vec(&v).unwrap()
    };
    for i in 0..3 {
        svc.deliver("issues", &format!("a{i}"), &for_repo("acme/one"))
            .await;
        svc.deliver("issues", &format!("b{i}"), &for_repo("Acme/Two"))
            .await;
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            rec.calls().iter().filter(|c| c.starts_with("done")).count() == 6
        })
        .await
    );
    let calls = rec.calls();
    for repo in ["a", "b"] {
        let seq: Vec<_> = calls
            .iter()
            .filter(|c| c.split(' ').nth(1).unwrap().starts_with(repo))
            .cloned()
            .collect();
        let expected: Vec<String> = (0..3)
            .flat_map(|i| [format!("start {repo}{i}"), format!("done {repo}{i}")])
            .collect();
        assert_eq!(seq, expected, "repo {repo} not in order: {calls:?}");
    }
    // Two repositories ran side by side: some delivery of one started while a
    // delivery of the other was in its handler.
    // Either may start first, so look from both sides.
    let overlapped = calls.iter().enumerate().any(|(i, c)| {
        let other = match c.as_str() {
            s if s.starts_with("start a") => "start b",
            s if s.starts_with("start b") => "start a",
            _ => return false,
        };
        let done = calls
            .iter()
            .position(|d| *d == c.replace("start", "done"))
            .unwrap();
        calls[i..done].iter().any(|x| x.starts_with(other))
    });
    assert!(
        overlapped,
        "repositories did not run in parallel: {calls:?}"
    );
}

#[tokio::test]
async fn healthz_and_metrics_report_state() {
    let svc = TestService::start(|_| {}).await;
    svc.deliver("issues", "h1", &webhook_fixture("issues.opened"))
        .await;
    let health: serde_json::Value = reqwest::get(format!("{}/healthz", svc.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["store"]["ok"], true);
    assert_eq!(health["github_app"]["configured"], false);
    assert!(
        health["github_app"]["missing"]
            .to_string()
            .contains("GITHUB_APP_ID")
    );
    let text = reqwest::get(format!("{}/metrics", svc.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("responder_deliveries_accepted_total"),
        "{text}"
    );
    assert!(text.contains("responder_deliveries_received_total"));
}

#[tokio::test]
async fn bodies_over_githubs_25_mib_limit_are_refused() {
    let svc = TestService::start(|_| {}).await;
    let mut big = b"{\"zen\":\"".to_vec();
    big.resize(25 * 1024 * 1024 + 10, b'a');
    big.extend_from_slice(b"\"}");
    let resp = svc.deliver("ping", "big-1", &big).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(stored(&svc).await, 0);
}

#[tokio::test]
async fn the_operator_commands_list_retry_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let broken = Recorder::with(usize::MAX, Duration::ZERO);
    let b = broken.clone();
    let svc = TestService::start_with(crate::support::service::test_args(&data), move |s| {
        s.worker_config.max_attempts = 1;
        s.registry.on("issues", b);
    })
    .await;
    svc.deliver("issues", "op-dead", &webhook_fixture("issues.opened"))
        .await;
    let store = svc.store.clone();
    assert!(
        eventually(Duration::from_secs(10), || async {
            store.delivery("op-dead").await.unwrap().unwrap().status == DeliveryStatus::Dead
        })
        .await
    );
    svc.stop().await;

    let database = crate::support::service::test_args(&data).database_url;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_responder"));
        cmd.args(args).env_clear().env("RESPONDER_DATA_DIR", &data);
        if let Some(url) = &database {
            cmd.env("DATABASE_URL", url);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&["deliveries", "--status", "dead"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("op-dead")
            && out.contains("injected failure")
            && out.contains("issues.opened"),
        "{out}"
    );
    let (ok, out) = run(&["deliveries", "retry", "op-dead"]);
    assert!(ok, "{out}");
    let (_, out) = run(&["deliveries", "--status", "pending"]);
    assert!(out.contains("op-dead"), "{out}");
    let (ok, out) = run(&["deliveries", "retry", "no-such-delivery"]);
    assert!(!ok && out.contains("no-such-delivery"), "{out}");

    let payload = tmp.path().join("payload.json");
    std::fs::write(&payload, webhook_fixture("installation.created")).unwrap();
    let (ok, out) = run(&[
        "replay",
        payload.to_str().unwrap(),
        "--event",
        "installation",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("installation.created: 1 handler(s) ran"),
        "{out}"
    );
    let (ok, out) = run(&[
        "replay",
        payload.to_str().unwrap(),
        "--event",
        "installation",
        "--action",
        "deleted",
    ]);
    assert!(ok && out.contains("installation.deleted"), "{out}");
}

#[tokio::test]
async fn a_batch_with_repeated_and_known_ids_stores_each_delivery_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store =
        responder::store::Store::connect(&format!("sqlite://{}/t.db", tmp.path().display()))
            .await
            .unwrap();
    let d = |id: &str| ping(id, "{}");
    use responder::store::InsertOutcome::*;
    let out = store
        .insert_deliveries(&[d("a"), d("b"), d("a")])
        .await
        .unwrap();
    assert!(
        matches!(out[..], [Accepted(_), Accepted(_), Duplicate]),
        "{out:?}"
    );
    let out = store.insert_deliveries(&[d("b"), d("c")]).await.unwrap();
    assert!(matches!(out[..], [Duplicate, Accepted(_)]), "{out:?}");
    assert_eq!(store.list_deliveries(None, 10).await.unwrap().len(), 3);
}

/// A repeated id keeps the payload stored with it; a payload is stored compressed, by
/// the row id, and reads back byte for byte; the prefetch bound is on the size as
/// received, not as stored.
#[tokio::test]
async fn a_repeat_keeps_its_stored_payload_and_payloads_are_stored_compressed() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", tmp.path().display());
    let store = responder::store::Store::connect(&url).await.unwrap();
    let d = ping;
    use responder::store::InsertOutcome::*;
    // One delivery that must be new; its row id.
    let accepted = |delivery| {
        let store = store.clone();
        async move {
            match store.insert_deliveries(&[delivery]).await.unwrap()[..] {
                [Accepted(id)] => id,
                ref other => panic!("a new id is accepted, not {other:?}"),
            }
        }
    };
    let first = accepted(d("a", r#"{"n":1}"#)).await;
    let out = store
        .insert_deliveries(&[d("a", r#"{"n":2}"#)])
        .await
        .unwrap();
    assert_eq!(out, [Duplicate]);
    assert_eq!(store.delivery_payload(first).await.unwrap(), r#"{"n":1}"#);

    // GitHub's issues.opened payload (tests/fixtures/github/webhooks).
    let big = String::from_utf8(webhook_fixture("issues.opened")).unwrap();
    let b = accepted(d("b", &big)).await;
    assert_eq!(store.delivery_payload(b).await.unwrap(), big);
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (encoding, size, stored): (i64, i64, i64) =
        sqlx::query_as("SELECT encoding, size, length(body) FROM delivery_payloads WHERE id = ?")
            .bind(b)
            .fetch_one(&raw)
            .await
            .unwrap();
    assert_eq!((encoding, size), (1, big.len() as i64));
    assert!(stored * 3 < size, "{stored} bytes stored for {size}");

    let mut small = store
        .small_payloads(&[first, b], big.len() as i64)
        .await
        .unwrap();
    small.sort();
    assert_eq!(small, [(first, r#"{"n":1}"#.to_string()), (b, big.clone())]);
    // Compressed, `b` is far under this bound; as received it is over it.
    let under = store
        .small_payloads(&[first, b], big.len() as i64 - 1)
        .await
        .unwrap();
    assert_eq!(under, [(first, r#"{"n":1}"#.to_string())]);

    // A damaged row is an error that names it, and the service reads the others.
    sqlx::query("UPDATE delivery_payloads SET body = x'00ff' WHERE id = ?")
        .bind(b)
        .execute(&raw)
        .await
        .unwrap();
    let err = store.delivery_payload(b).await.unwrap_err().to_string();
    assert!(err.contains(&format!("delivery row {b}")), "{err}");
    assert_eq!(store.delivery_payload(first).await.unwrap(), r#"{"n":1}"#);
}

/// Migration 0035 moves payloads stored by 0034 (text keyed by delivery id) into the
/// new table unchanged, readable through the store.
#[tokio::test]
async fn payloads_stored_before_compression_read_back_after_the_migration() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db?mode=rwc", tmp.path().display());
    let text = r#"{"zen":"Keep it logically awesome. é"}"#;
    crate::support::old_store::before_0035(&url, text).await;

    let store = responder::store::Store::connect(&url).await.unwrap();
    let id = store.delivery("old").await.unwrap().unwrap().id;
    assert_eq!(store.delivery_payload(id).await.unwrap(), text);
    assert_eq!(
        store
            .small_payloads(&[id], text.len() as i64)
            .await
            .unwrap(),
        [(id, text.to_string())]
    );
}

/// Panics on the delivery `boom`, as a handler with a bug would.
struct PanicsOnBoom;

#[async_trait::async_trait]
impl responder::webhook::Handler for PanicsOnBoom {
    async fn handle(
        &self,
        event: &responder::webhook::Event,
    ) -> Result<(), responder::webhook::HandlerError> {
        if event.delivery_id == "boom" {
            panic!("index out of bounds: the len is 0 but the index is 3");
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_handler_fails_its_delivery_until_dead_and_its_repository_moves_on() {
    let rec = Recorder::new();
    let r = rec.clone();
    let svc = TestService::start(move |s| {
        s.worker_config.max_attempts = 3;
        s.registry
            .on("issues.opened", Arc::new(PanicsOnBoom))
            .on("issues.closed", r);
    })
    .await;
    // Both fixtures are of codertocat/hello-world: `after` waits behind `boom`.
    svc.deliver("issues", "boom", &webhook_fixture("issues.opened"))
        .await;
    svc.deliver("issues", "after", &webhook_fixture("issues.closed"))
        .await;
    let store = svc.store.clone();
    assert!(
        eventually(Duration::from_secs(10), || async {
            store.delivery("boom").await.unwrap().unwrap().status == DeliveryStatus::Dead
        })
        .await,
        "{:?}",
        store.delivery("boom").await.unwrap()
    );
    let boom = store.delivery("boom").await.unwrap().unwrap();
    assert_eq!(boom.attempts, 3);
    let error = boom.last_error.unwrap_or_default();
    assert!(
        error.contains("panicked") && error.contains("the len is 0"),
        "{error}"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            rec.calls().contains(&"done after".to_string())
        })
        .await,
        "the repository's next delivery was never handled: {:?}",
        store.delivery("after").await.unwrap()
    );
}

fn inbox_row(id: &str, repo: &str) -> responder::store::NewDelivery {
    responder::store::NewDelivery {
        delivery_id: id.into(),
        event: "issues".into(),
        action: Some("opened".into()),
        repo: Some(repo.into()),
        installation_id: None,
        payload: "{}".into(),
    }
}

#[tokio::test]
async fn a_delivery_whose_process_died_at_every_attempt_is_dead_when_claimed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let store =
        responder::store::Store::connect(&format!("sqlite://{}/t.db", tmp.path().display()))
            .await
            .unwrap();
    store
        .insert_deliveries(&[inbox_row("kills", "a/b"), inbox_row("next", "a/b")])
        .await
        .unwrap();
    // A lease already over: each claim is another process taking over from a dead one.
    let expired = -1_000;
    for (worker, attempt) in [("w1", 1), ("w2", 2)] {
        let claimed = store
            .claim_deliveries(worker, 10, expired, 2)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert_eq!(claimed[0].delivery_id, "kills");
        assert_eq!(claimed[0].status, DeliveryStatus::Running);
        assert_eq!(claimed[0].attempts, attempt);
    }
    let claimed = store.claim_deliveries("w3", 10, expired, 2).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0].status, DeliveryStatus::Dead);
    assert_eq!(claimed[0].attempts, 2);
    assert!(
        claimed[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("process stopped"),
        "{claimed:?}"
    );
    let claimed = store.claim_deliveries("w4", 10, 30_000, 2).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].delivery_id, "next");
}

#[tokio::test]
async fn a_worker_recovers_only_its_dead_predecessors_and_expired_claims() {
    let tmp = tempfile::tempdir().unwrap();
    let store =
        responder::store::Store::connect(&format!("sqlite://{}/t.db", tmp.path().display()))
            .await
            .unwrap();
    store
        .insert_deliveries(&[
            inbox_row("mine", "a/one"),
            inbox_row("live", "a/two"),
            inbox_row("expired", "a/three"),
        ])
        .await
        .unwrap();
    for (worker, lease) in [
        ("host/1/old", 30_000),
        ("host/12/other", 30_000),
        ("elsewhere/1/x", -1_000),
    ] {
        assert_eq!(
            store
                .claim_deliveries(worker, 1, lease, 8)
                .await
                .unwrap()
                .len(),
            1
        );
    }
    assert_eq!(store.recover_claims("host/1/").await.unwrap(), 2);
    let status = |id: &'static str| {
        let store = store.clone();
        async move { store.delivery(id).await.unwrap().unwrap().status }
    };
    assert_eq!(status("mine").await, DeliveryStatus::Pending);
    assert_eq!(status("expired").await, DeliveryStatus::Pending);
    assert_eq!(status("live").await, DeliveryStatus::Running);
}

#[tokio::test]
async fn listing_deliveries_beside_a_live_worker_leaves_its_work_in_flight_alone() {
    let slow = Recorder::with(0, Duration::from_secs(3));
    let s = slow.clone();
    let svc = TestService::start(move |svc| {
        svc.registry.on("issues", s);
    })
    .await;
    svc.deliver("issues", "in-flight", &webhook_fixture("issues.opened"))
        .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            slow.calls().contains(&"start in-flight".to_string())
        })
        .await
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_responder"));
    cmd.args(["deliveries"])
        .env_clear()
        .env("RESPONDER_DATA_DIR", &svc.data_dir);
    if let Some(url) = crate::support::service::test_args(&svc.data_dir).database_url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("in-flight"), "{text}");
    let d = svc.store.delivery("in-flight").await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Running, "{d:?}");
    assert!(svc.settle(Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let starts = slow
        .calls()
        .iter()
        .filter(|c| *c == "start in-flight")
        .count();
    assert_eq!(starts, 1, "handled twice: {:?}", slow.calls());
}

#[tokio::test]
async fn a_lock_held_by_another_instance_is_busy_not_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let store =
        responder::store::Store::connect(&format!("sqlite://{}/t.db", tmp.path().display()))
            .await
            .unwrap();
    assert!(
        store
            .try_lock("incident:acme/x", "one", 60_000)
            .await
            .unwrap()
    );
    let err = store
        .lock("incident:acme/x", "two", 60_000, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(err, responder::store::StoreError::Busy(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("incident:acme/x"), "{err}");
    store.unlock("incident:acme/x", "one").await.unwrap();
    store
        .lock("incident:acme/x", "two", 60_000, Duration::from_millis(200))
        .await
        .unwrap();
}

/// The store the flow tests run on: SQLite, or PostgreSQL under
/// `RESPONDER_TEST_DATABASE=postgres`.
async fn flow_store(dir: &std::path::Path) -> responder::store::Store {
    let url = crate::support::service::test_args(dir)
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}/t.db", dir.display()));
    responder::store::Store::connect(&url).await.unwrap()
}

fn ids(claimed: &[responder::store::Delivery]) -> Vec<&str> {
    claimed.iter().map(|d| d.delivery_id.as_str()).collect()
}

#[tokio::test]
async fn a_batch_claim_takes_a_run_of_fresh_deliveries_of_each_repository_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let store = flow_store(tmp.path()).await;
    store
        .insert_deliveries(&[
            inbox_row("a1", "acme/a"),
            inbox_row("b1", "acme/b"),
            inbox_row("a2", "acme/a"),
            inbox_row("a3", "acme/a"),
            inbox_row("b2", "acme/b"),
        ])
        .await
        .unwrap();
    let claimed = store.claim_batches("w", 10, 2, 30_000, 8).await.unwrap();
    assert_eq!(ids(&claimed), ["a1", "b1", "a2", "b2"], "{claimed:?}");
    assert!(
        claimed
            .iter()
            .all(|d| d.status == DeliveryStatus::Running && d.attempts == 1),
        "{claimed:?}"
    );
    // a2 waits behind a failure of a1: handed back, it counts no attempt and is fresh
    // again, so it rides in the next batch with a3.
    let row = |id: &str| claimed.iter().find(|d| d.delivery_id == id).unwrap().id;
    assert_eq!(store.release_claimed("w", &[row("a2")]).await.unwrap(), 1);
    let a2 = store.delivery("a2").await.unwrap().unwrap();
    assert_eq!((a2.status, a2.attempts), (DeliveryStatus::Pending, 0));
    assert!(
        store
            .claim_batches("w", 10, 8, 30_000, 8)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .complete_deliveries(&[row("a1"), row("b1"), row("b2")])
        .await
        .unwrap();
    let claimed = store.claim_batches("w", 10, 8, 30_000, 8).await.unwrap();
    assert_eq!(ids(&claimed), ["a2", "a3"], "{claimed:?}");
    assert!(claimed.iter().all(|d| d.attempts == 1), "{claimed:?}");
}

#[tokio::test]
async fn a_crashed_batch_charges_the_crash_to_the_delivery_that_was_running() {
    let tmp = tempfile::tempdir().unwrap();
    let store = flow_store(tmp.path()).await;
    store
        .insert_deliveries(&[
            inbox_row("kills", "a/b"),
            inbox_row("innocent", "a/b"),
            inbox_row("last", "a/b"),
        ])
        .await
        .unwrap();
    // Leases already over: each claim is another process taking over from a dead one.
    let expired = -1_000;
    let claimed = store.claim_batches("w1", 10, 8, expired, 2).await.unwrap();
    assert_eq!(ids(&claimed), ["kills", "innocent", "last"]);
    // Left over by a crash, the head is a suspect: claimed alone, nothing behind it.
    let claimed = store.claim_batches("w2", 10, 8, expired, 2).await.unwrap();
    assert_eq!(ids(&claimed), ["kills"]);
    assert_eq!(claimed[0].attempts, 2);
    let claimed = store.claim_batches("w3", 10, 8, expired, 2).await.unwrap();
    assert_eq!(ids(&claimed), ["kills"]);
    assert_eq!(claimed[0].status, DeliveryStatus::Dead);
    // The deliveries queued behind it were charged once (the batch that crashed) and
    // still run, each alone, within their budget.
    let claimed = store.claim_batches("w4", 10, 8, 30_000, 2).await.unwrap();
    assert_eq!(ids(&claimed), ["innocent"]);
    assert_eq!(
        (claimed[0].status, claimed[0].attempts),
        (DeliveryStatus::Running, 2)
    );
    store.complete_deliveries(&[claimed[0].id]).await.unwrap();
    let claimed = store.claim_batches("w4", 10, 8, 30_000, 2).await.unwrap();
    assert_eq!(ids(&claimed), ["last"]);
    assert_eq!(claimed[0].status, DeliveryStatus::Running);
}

/// Fails `flaky` once; makes `first` slow (so the others queue up behind it and are
/// claimed together); notes, as `a1` runs, whether `a3` is already claimed.
struct BatchProbe {
    calls: std::sync::Mutex<Vec<String>>,
    failed: std::sync::atomic::AtomicBool,
    store: std::sync::OnceLock<responder::store::Store>,
}

#[async_trait::async_trait]
impl responder::webhook::Handler for BatchProbe {
    async fn handle(
        &self,
        event: &responder::webhook::Event,
    ) -> Result<(), responder::webhook::HandlerError> {
        let id = event.delivery_id.as_str();
        self.calls.lock().unwrap().push(id.to_string());
        match id {
            "first" => tokio::time::sleep(Duration::from_millis(500)).await,
            "a1" => {
                let store = self.store.get().expect("store set");
                let a3 = store.delivery("a3").await.unwrap().unwrap();
                self.calls
                    .lock()
                    .unwrap()
                    .push(format!("a3 {}", a3.status.as_str()));
            }
            "flaky" if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) => {
                return Err(responder::webhook::HandlerError::Retry(
                    "injected failure".into(),
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failure_in_a_batch_is_retried_before_the_deliveries_behind_it_and_the_rest_complete() {
    let probe = Arc::new(BatchProbe {
        calls: Default::default(),
        failed: false.into(),
        store: Default::default(),
    });
    let p = probe.clone();
    let svc = TestService::start(move |s| {
        s.registry.on("issues", p);
    })
    .await;
    probe.store.set(svc.store.clone()).unwrap();
    let body = webhook_fixture("issues.opened");
    svc.deliver("issues", "first", &body).await;
    // Once `first` runs, the rest queue up behind it in its repository.
    assert!(
        eventually(Duration::from_secs(10), || async {
            !probe.calls.lock().unwrap().is_empty()
        })
        .await
    );
    for id in ["a1", "flaky", "a3"] {
        svc.deliver("issues", id, &body).await;
    }
    let store = svc.store.clone();
    assert!(
        eventually(Duration::from_secs(10), || async {
            let all = store.list_deliveries(None, 10).await.unwrap();
            all.len() == 4 && all.iter().all(|d| d.status == DeliveryStatus::Done)
        })
        .await,
        "{:?}",
        store.list_deliveries(None, 10).await.unwrap()
    );
    let calls = probe.calls.lock().unwrap().clone();
    // a1, flaky and a3 came in one claim (a3 was running while a1 ran); flaky's
    // failure handed a3 back to wait for flaky's retry.
    assert_eq!(
        calls,
        ["first", "a1", "a3 running", "flaky", "flaky", "a3"],
        "{calls:?}"
    );
    let attempts = |id: &'static str| {
        let store = store.clone();
        async move { store.delivery(id).await.unwrap().unwrap().attempts }
    };
    assert_eq!(attempts("a1").await, 1);
    assert_eq!(attempts("flaky").await, 2);
    // Handed back unattempted, then claimed once more.
    assert_eq!(attempts("a3").await, 1);
}

/// A worker whose shutdown sender is gone (its owner dropped it without sending
/// `true`) stops instead of spinning: before, `changed()` returned at once on every turn
/// and the worker claimed in a loop at full speed for as long as the process lived.
#[tokio::test]
async fn a_worker_stops_when_its_shutdown_sender_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let settings =
        responder::settings::Settings::from_args(&crate::support::service::test_args(tmp.path()))
            .unwrap();
    let service = responder::Service::new(settings).await.unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = service.spawn_worker(stop_rx);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !worker.is_finished(),
        "the worker runs while its sender lives"
    );
    drop(stop);
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops once its shutdown sender is dropped")
        .unwrap();
}

/// A store on the database the run is for: SQLite in `dir`, or a fresh PostgreSQL
/// database when `RESPONDER_TEST_DATABASE=postgres`; with its URL.
async fn store_for_this_run(dir: &std::path::Path) -> (responder::store::Store, String) {
    let url = crate::support::service::test_args(dir)
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}/t.db", dir.display()));
    (responder::store::Store::connect(&url).await.unwrap(), url)
}

fn ping(id: &str, payload: &str) -> responder::store::NewDelivery {
    responder::store::NewDelivery {
        delivery_id: id.into(),
        event: "ping".into(),
        action: None,
        repo: None,
        installation_id: None,
        payload: payload.into(),
    }
}

/// The rows and payloads of a batch go in one statement list, the payloads matched to
/// their rows by delivery id: each new delivery gets its own payload, a known one keeps
/// the payload stored with it, and a repeat within the batch adds nothing.
#[tokio::test]
async fn each_new_delivery_of_a_batch_gets_its_own_payload_and_a_known_one_keeps_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_for_this_run(tmp.path()).await;
    use responder::store::InsertOutcome::*;
    let [Accepted(known)] = store
        .insert_deliveries(&[ping("known", r#"{"n":"first"}"#)])
        .await
        .unwrap()[..]
    else {
        panic!("a new delivery is accepted");
    };
    let big = String::from_utf8(webhook_fixture("issues.opened")).unwrap();
    let out = store
        .insert_deliveries(&[
            ping("x", r#"{"n":"x"}"#),
            ping("known", r#"{"n":"second"}"#),
            ping("y", &big),
            ping("x", r#"{"n":"x again"}"#),
        ])
        .await
        .unwrap();
    let [Accepted(x), Duplicate, Accepted(y), Duplicate] = out[..] else {
        panic!("{out:?}");
    };
    assert_eq!(store.delivery_payload(x).await.unwrap(), r#"{"n":"x"}"#);
    assert_eq!(store.delivery_payload(y).await.unwrap(), big);
    assert_eq!(
        store.delivery_payload(known).await.unwrap(),
        r#"{"n":"first"}"#
    );
    assert_eq!(store.list_deliveries(None, 10).await.unwrap().len(), 3);
}

/// A batch whose payload statement fails stores none of its rows (a row never exists
/// without its payload), and the writer connection is not left inside the failed
/// transaction: the next batch, and the same deliveries sent again, are stored.
#[tokio::test]
async fn a_batch_that_fails_part_way_stores_nothing_and_the_next_batch_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, url) = store_for_this_run(tmp.path()).await;
    // Refuses any payload of exactly 16 bytes as received.
    let poison = r#"{"poison":"yes"}"#;
    assert_eq!(poison.len(), 16);
    if url.starts_with("postgres") {
        let raw = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.size = 16 THEN RAISE EXCEPTION 'poisoned payload'; END IF; RETURN NEW; \
             END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER poison BEFORE INSERT ON delivery_payloads \
             FOR EACH ROW EXECUTE FUNCTION poison();",
        )
        .execute(&raw)
        .await
        .unwrap();
    } else {
        let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "CREATE TRIGGER poison BEFORE INSERT ON delivery_payloads WHEN NEW.size = 16 \
             BEGIN SELECT RAISE(ABORT, 'poisoned payload'); END;",
        )
        .execute(&raw)
        .await
        .unwrap();
    }
    let err = store
        .insert_deliveries(&[ping("a", "{}"), ping("bad", poison)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("poisoned payload"), "{err}");
    assert!(store.list_deliveries(None, 10).await.unwrap().is_empty());

    use responder::store::InsertOutcome::*;
    let out = store
        .insert_deliveries(&[ping("a", "{}"), ping("b", r#"{"b":1}"#)])
        .await
        .unwrap();
    assert!(matches!(out[..], [Accepted(_), Accepted(_)]), "{out:?}");
    let out = store.insert_deliveries(&[ping("c", "[]")]).await.unwrap();
    assert!(matches!(out[..], [Accepted(_)]), "{out:?}");
    assert_eq!(store.list_deliveries(None, 10).await.unwrap().len(), 3);
}
