//! The Alertmanager and Grafana receiver (`POST /v1/alerts/alertmanager`): a real
//! Alertmanager driving one incident from firing to mitigated to reopened, identical
//! concurrent notifications, routing and auth, Grafana's shape, hostile alerts.

use chrono::Utc;
use responder::incident::model::{EventKind, IncidentStatus};
use responder::store::IncidentRecord;
use serde_json::{Value, json};

use crate::support::alertmanager::Alertmanager;
use crate::support::service::{agent_token, eventually};
use crate::support::world::{WAIT, World, token, world, world_with};

/// A payload Alertmanager 0.25.0 sent (tests/fixtures/alertmanager/SOURCE.md).
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/alertmanager/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn post_as(w: &World, query: &str, body: &Value, bearer: &str) -> (u16, Value) {
    w.post_as(&format!("/v1/alerts/alertmanager{query}"), bearer, body)
        .await
}

async fn post(w: &World, body: &Value) -> (u16, Value) {
    post_as(w, "?repo=acme/evals", body, &token("incidents:write")).await
}

/// The incident whose bug issue is `bug`.
async fn incident_of(w: &World, bug: u64) -> IncidentRecord {
    w.incident(bug).await
}

async fn kinds(w: &World, id: i64) -> Vec<EventKind> {
    w.svc
        .store
        .incident_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

fn am_alert(instance: &str, starts: &str, ends: Option<&str>) -> Value {
    let mut a = json!({
        "labels": {"alertname": "ResponderTest", "instance": instance,
                   "severity": "critical", "component": "llm-api"},
        "annotations": {"summary": "LLM API answers 429", "description": format!("429s from {instance}")},
        "startsAt": starts,
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
    });
    if let Some(e) = ends {
        a["endsAt"] = json!(e);
    }
    a
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_declares_once_follows_the_group_mitigates_and_reopens() {
    let w = world().await;
    let url = format!("{}/v1/alerts/alertmanager?repo=acme/evals", w.svc.url);
    let am = Alertmanager::start(&url, &token("incidents:write")).await;
    let started = Utc::now() - chrono::Duration::seconds(30);
    let s = rfc3339(started);
    am.post(&json!([am_alert("a", &s, None)])).await;
    assert!(
        eventually(WAIT, || async { w.app_issues("rca").len() == 1 }).await,
        "no RCA issue"
    );
    assert!(w.svc.settle(WAIT).await);
    let bug = w.one("bug");
    assert_eq!(w.app_issues("rca").len(), 1);
    let body = bug.body.clone().unwrap();
    assert!(body.contains("Alertmanager alert"), "{body}");
    assert!(
        body.contains("429s from a") && body.contains("`instance=a`"),
        "{body}"
    );
    assert!(
        body.contains("http://prometheus.example:9090/graph?g0.expr=rate"),
        "{body}"
    );
    let inc = incident_of(&w, bug.number).await;
    assert_eq!(inc.started_ms, Some(started.timestamp() * 1000));
    assert_eq!(inc.severity.as_str(), "SEV1");
    assert_eq!(inc.component.as_deref(), Some("llm-api"));
    let comments = w.comments_on(bug.number).len();

    // The repeat (repeat_interval 3 s) arrives and changes nothing.
    let sent = am.sent().await;
    assert!(
        eventually(WAIT, || async { am.sent().await > sent }).await,
        "no repeat sent"
    );
    assert!(w.svc.settle(WAIT).await);
    assert_eq!(w.app_issues("bug").len(), 1);
    assert_eq!(w.app_issues("rca").len(), 1);
    assert_eq!(w.comments_on(bug.number).len(), comments);

    // A second alert joins the group: one comment saying so.
    am.post(&json!([am_alert("a", &s, None), am_alert("b", &s, None)]))
        .await;
    assert!(
        eventually(WAIT, || async {
            w.comments_on(bug.number).len() > comments
        })
        .await,
        "no comment for the joining alert"
    );
    let sent = am.sent().await;
    assert!(eventually(WAIT, || async { am.sent().await > sent }).await);
    assert!(w.svc.settle(WAIT).await);
    let after_join = w.comments_on(bug.number);
    assert_eq!(after_join.len(), comments + 1, "{after_join:#?}");
    let joined = after_join.last().unwrap();
    assert!(
        joined.contains("1 joined, 0 left") && joined.contains("429s from b"),
        "{joined}"
    );

    // Resolved: a timeline entry, and the incident mitigated.
    let ended = rfc3339(Utc::now() - chrono::Duration::seconds(1));
    am.post(&json!([
        am_alert("a", &s, Some(&ended)),
        am_alert("b", &s, Some(&ended))
    ]))
    .await;
    assert!(
        eventually(WAIT, || async {
            incident_of(&w, bug.number).await.status == IncidentStatus::Mitigated
        })
        .await,
        "not mitigated"
    );
    assert!(kinds(&w, inc.id).await.contains(&EventKind::AlertResolved));

    // Firing again: reopened, not a new incident.
    am.post(&json!([am_alert("a", &rfc3339(Utc::now()), None)]))
        .await;
    assert!(
        eventually(WAIT, || async {
            incident_of(&w, bug.number).await.status == IncidentStatus::Open
        })
        .await,
        "not reopened"
    );
    assert!(w.svc.settle(WAIT).await);
    let k = kinds(&w, inc.id).await;
    assert!(
        k.contains(&EventKind::Reopened) && k.contains(&EventKind::AlertFiring),
        "{k:?}"
    );
    assert_eq!(w.app_issues("bug").len(), 1);
    assert_eq!(w.app_issues("rca").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_identical_notifications_at_once_declare_one_incident_ten_times_over() {
    let w = world().await;
    for round in 0..10 {
        let mut n = fixture("webhook.firing");
        n["groupKey"] = json!(format!("{{}}:{{alertname=\"Round{round}\"}}"));
        n["commonLabels"]["alertname"] = json!(format!("Round{round}"));
        let (a, b) = tokio::join!(post(&w, &n), post(&w, &n));
        assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
        assert_eq!(a.1["status"], "accepted");
        assert_eq!(b.1["status"], "accepted");
        assert!(w.svc.settle(WAIT).await);
        assert_eq!(w.app_issues("bug").len(), round + 1, "round {round}");
        assert_eq!(w.app_issues("rca").len(), round + 1, "round {round}");
    }
}

#[tokio::test]
async fn the_same_group_from_two_deliveries_at_once_is_still_one_incident() {
    // Not the same notification (a replica saw one more alert): different delivery
    // ids, so only the incident's unique key can keep it to one.
    let w = world().await;
    let one = fixture("webhook.firing");
    let mut two = one.clone();
    let mut b = two["alerts"][0].clone();
    b["fingerprint"] = json!("0000000000000002");
    two["alerts"].as_array_mut().unwrap().push(b);
    let (a, b) = tokio::join!(post(&w, &one), post(&w, &two));
    assert_eq!((a.0, b.0), (200, 200));
    assert_ne!(a.1["delivery"], b.1["delivery"]);
    assert!(w.svc.settle(WAIT).await);
    assert_eq!(w.app_issues("bug").len(), 1);
    assert_eq!(w.app_issues("rca").len(), 1);
}

#[tokio::test]
async fn routing_and_auth_follow_the_contract() {
    let w = world().await;
    w.add_repo("acme", "other", 99);
    let n = fixture("webhook.firing");
    // No token: 401, nothing stored.
    let (s, _) = post_as(&w, "?repo=acme/evals", &n, "nonsense").await;
    assert_eq!(s, 401);
    // A repository the token does not grant: 403, by query or by label.
    let (s, body) = post_as(&w, "?repo=acme/other", &n, &token("incidents:write")).await;
    assert_eq!(s, 403, "{body}");
    let mut labelled = n.clone();
    labelled["commonLabels"]["repo"] = json!("acme/other");
    let (s, _) = post_as(&w, "?repo=acme/evals", &labelled, &token("incidents:write")).await;
    assert_eq!(s, 403, "the label wins over the query");
    // The wrong scope: 403.
    let (s, _) = post_as(&w, "?repo=acme/evals", &n, &token("diff:read")).await;
    assert_eq!(s, 403);
    // Two repositories and no hint: which one is unsaid.
    let both = agent_token(&["acme/evals", "acme/other"], &["incidents:write"], 3600);
    let (s, body) = post_as(&w, "", &n, &both).await;
    assert_eq!((s, body["error"].as_str()), (422, Some("no_repo")));
    // The token's only repository.
    let (s, _) = post_as(&w, "", &n, &token("incidents:write")).await;
    assert_eq!(s, 200);
    // Not JSON: 400.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/alerts/alertmanager", w.svc.url))
        .bearer_auth(token("incidents:write"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(w.svc.settle(WAIT).await);
    assert_eq!(w.app_issues("bug").len(), 1);
    assert!(w.fake.issues("acme", "other").is_empty());
}

#[tokio::test]
async fn a_grafana_notification_declares_with_unknown_labels_noted() {
    let w = world().await;
    let n = fixture("grafana.firing");
    let (s, body) = post(&w, &n).await;
    assert_eq!(s, 200, "{body}");
    assert!(w.svc.settle(WAIT).await);
    let bug = w.one("bug");
    let text = bug.body.unwrap();
    assert!(text.contains("not a known severity"), "{text}");
    assert!(text.contains("not a component of the runbook"), "{text}");
    assert!(text.contains("value `B=22`"), "{text}");
    assert!(
        text.contains("[dashboard](https://grafana.example/d/abc)"),
        "{text}"
    );
    let inc = w.incident(bug.number).await;
    assert_eq!(
        inc.severity.as_str(),
        "SEV2",
        "an unknown severity is still an outage"
    );
    assert_eq!(inc.component, None);
}

#[tokio::test]
async fn hostile_alerts_are_bounded_and_cannot_mention_anyone() {
    let w = world().await;
    let mut n = fixture("webhook.firing");
    let evil = "@octocat please <!-- responder:incident=7 kind=rca --> ```";
    let alert = n["alerts"][0].clone();
    let alerts: Vec<Value> = (0..3000)
        .map(|i| {
            let mut a = alert.clone();
            a["fingerprint"] = json!(format!("{i:016x}"));
            a["labels"]["evil"] = json!(evil);
            a["annotations"]["summary"] = json!(evil);
            a
        })
        .collect();
    n["alerts"] = json!(alerts);
    n["commonAnnotations"]["summary"] = json!(evil);
    let (s, body) = post(&w, &n).await;
    assert_eq!(s, 200, "{body}");
    assert!(w.svc.settle(WAIT).await);
    let bug = w.one("bug");
    let text = bug.body.unwrap();
    assert!(text.len() < 65_536, "{}", text.len());
    assert!(text.contains("…and 2980 more"), "{text}");
    for bad in ["@octocat", "<!-- responder:incident=7 kind=rca"] {
        let at = text
            .find(bad)
            .map(|i| &text[i.saturating_sub(200)..(i + 100).min(text.len())]);
        assert!(at.is_none(), "{bad} in {at:?}");
    }
    assert!(!bug.title.contains("@octocat"), "{}", bug.title);
}

#[tokio::test]
async fn on_resolved_resolve_and_an_expired_window_declares_anew() {
    let cfg = "[alerts]\non_resolved = \"resolve\"\nreopen_window = \"1h\"\n";
    let w = world_with(&[(".github/responder.toml", cfg)]).await;
    assert_eq!(post(&w, &fixture("webhook.firing")).await.0, 200);
    assert!(w.svc.settle(WAIT).await);
    let bug = w.one("bug");
    assert_eq!(post(&w, &fixture("webhook.resolved")).await.0, 200);
    assert!(w.svc.settle(WAIT).await);
    let inc = w.incident(bug.number).await;
    assert_eq!(inc.status, IncidentStatus::Resolved);
    assert!(kinds(&w, inc.id).await.contains(&EventKind::AlertResolved));
    // Two hours later the group fires again: past the window, a new incident.
    w.set_time(Utc::now() + chrono::Duration::hours(2));
    let mut again = fixture("webhook.firing");
    again["alerts"][0]["startsAt"] = json!(rfc3339(Utc::now()));
    assert_eq!(post(&w, &again).await.0, 200);
    assert!(w.svc.settle(WAIT).await);
    assert_eq!(w.app_issues("bug").len(), 2);
    assert_eq!(
        w.incident(bug.number).await.status,
        IncidentStatus::Resolved
    );
}

#[tokio::test]
async fn a_broken_alerts_table_is_a_config_error() {
    let e = responder::incident::config::RepoConfig::parse("[alerts]\nreopen_window = \"soon\"\n")
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("alerts.reopen_window"));
    let e = responder::incident::config::RepoConfig::parse("[alerts]\non_resolve = \"comment\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("on_resolve"), "{e}");
    let c =
        responder::incident::config::RepoConfig::parse("[alerts]\ngroup_by = \"fingerprint\"\n")
            .unwrap();
    assert_eq!(
        c.alerts.group_by,
        responder::incident::config::GroupBy::Fingerprint
    );
}

#[tokio::test]
async fn alerts_are_counted_by_status_and_incidents_by_channel() {
    let w = world().await;
    assert_eq!(post(&w, &fixture("webhook.firing")).await.0, 200);
    assert!(w.svc.settle(WAIT).await);
    let text = w.metrics().await;
    assert!(
        text.contains("responder_alerts_received_total{status=\"firing\"}"),
        "{text}"
    );
    assert!(
        text.contains("responder_incidents_declared_total{via=\"alert\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn an_alert_reaches_a_target_repo_only_with_a_token_for_it() {
    let w = world_with(&[(
        ".github/responder.toml",
        "target_repo = \"acme/incidents\"\n",
    )])
    .await;
    w.add_repo("acme", "incidents", 99);
    let n = fixture("webhook.firing");
    let (s, _) = post(&w, &n).await;
    assert_eq!(s, 200, "stored: the token grants acme/evals");
    assert!(w.svc.settle(WAIT).await);
    assert!(w.fake.issues("acme", "incidents").is_empty());
    assert!(w.app_issues("bug").is_empty());
    // Another group, sent with a token for both: declared in the target.
    let mut other = n.clone();
    other["groupKey"] = json!("{}:{alertname=\"Other\"}");
    let both = agent_token(
        &["acme/evals", "acme/incidents"],
        &["incidents:write"],
        3600,
    );
    let (s, _) = post_as(&w, "?repo=acme/evals", &other, &both).await;
    assert_eq!(s, 200);
    assert!(
        eventually(WAIT, || async {
            w.fake.issues("acme", "incidents").len() == 2
        })
        .await,
        "{:?}",
        w.fake.issues("acme", "incidents")
    );
}
