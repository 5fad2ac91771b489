//! Incident declarations end to end: the real service (router, inbox, worker, store,
//! GitHub client) against the fake GitHub. Each channel — issue form, `/incident`
//! comment, API — must open exactly one bug and one RCA issue and one comment,
//! however often GitHub redelivers or fails.

use responder::incident::model::severity::Severity;
use responder::incident::runbook::Runbook;
use responder::types::IssueNumber;
use serde_json::json;

use crate::support::fake_github::{Fault, Issue};
use crate::support::world::{FORM_BODY, INSTALLATION, World, world, world_cfg, world_with};

fn labels(i: &Issue) -> Vec<String> {
    let mut l = i.labels.clone();
    l.sort();
    l
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The bug and RCA issues of a SEV2 `llm-api` incident titled `title`, with their
/// cross-links, runbook content and labels; the comment on `source` links both.
fn assert_declared(w: &World, title: &str, component: Option<&str>, source: Option<u64>) {
    assert_declared_with(w, title, component, source, 1)
}

/// [`assert_declared`] where the declaring issue holds `comments` comments, the
/// last one Responder's declaration.
fn assert_declared_with(
    w: &World,
    title: &str,
    component: Option<&str>,
    source: Option<u64>,
    comments: usize,
) {
    let rb = Runbook::builtin();
    let bug = w.one("bug");
    let rca = w.one("rca");
    assert_eq!(bug.title, format!("[SEV2] {title}"));
    assert_eq!(rca.title, format!("[SEV2] RCA: {title}"));
    let mut want = vec!["incident", "sev2", "bug"];
    want.extend(component);
    assert_eq!(labels(&bug), sorted(&want));
    assert_eq!(labels(&rca), sorted(&["incident", "rca", "sev2"]));
    let bug_body = bug.body.clone().unwrap();
    let rca_body = rca.body.clone().unwrap();
    for item in &rb.severity(Severity::Sev2).checklist {
        assert!(
            bug_body.contains(&format!("- [ ] {item}")),
            "checklist item {item:?} missing"
        );
    }
    if let Some(c) = component {
        for cmd in &rb.component(c).unwrap().commands {
            assert!(
                bug_body.contains(&cmd.command),
                "command {:?} missing",
                cmd.command
            );
        }
    }
    assert!(
        bug_body.contains(&format!("[#{}]({})", rca.number, w.url(rca.number))),
        "bug → RCA: {bug_body}"
    );
    assert!(
        rca_body.contains(&format!("[#{}]({})", bug.number, w.url(bug.number))),
        "RCA → bug"
    );
    assert!(rca_body.contains("Due **"), "RCA due date");
    assert!(rca_body.contains("## Root cause"));
    match source {
        Some(src) => {
            let link = format!("[#{src}]({})", w.url(src));
            assert!(bug_body.contains(&link), "bug → declaring issue");
            assert!(rca_body.contains(&link), "RCA → declaring issue");
            let all = w.comments_on(src);
            assert_eq!(all.len(), comments, "{all:#?}");
            let last = all.last().unwrap();
            assert!(last.contains(&w.url(bug.number)) && last.contains(&w.url(rca.number)));
        }
        None => assert!(!bug_body.contains("Declared in ["), "{bug_body}"),
    }
}

#[tokio::test]
async fn form_issue_declares_one_bug_and_one_rca_however_often_it_arrives() {
    let w = world().await;
    let p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-open", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));

    // GitHub also sends `labeled` for the form's label; then redeliveries, with the
    // same id (ignored by the inbox) and with a new one (reaches the handler).
    let mut labeled = p.clone();
    labeled["action"] = json!("labeled");
    labeled["label"] = json!({"name": "incident"});
    w.deliver("issues", "d-labeled", &labeled).await;
    w.deliver("issues", "d-open", &p).await;
    w.deliver("issues", "d-open-again", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));
    assert_eq!(w.fake.issues("acme", "evals").len(), 3);
}

#[tokio::test]
async fn labelling_an_issue_later_declares_it() {
    let w = world().await;
    let mut p = w.issue_payload("opened", "[Incident]: LLM rate limited", FORM_BODY, &[]);
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    assert!(w.app_issues("bug").is_empty());
    p["action"] = json!("labeled");
    p["label"] = json!({"name": "Incident"});
    p["issue"]["labels"] = json!([{"name": "Incident"}]);
    w.deliver("issues", "d-2", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));
}

#[tokio::test]
async fn command_declares_one_bug_and_one_rca_however_often_it_arrives() {
    let w = world().await;
    let n = w
        .fake
        .add_issue("acme", "evals", "Evaluations are slow", "", &[]);
    let p = w.comment_payload(
        n,
        5001,
        "alice",
        "User",
        "/incident declare sev-2 LLM rate limited component=LLM_API",
    );
    w.deliver("issue_comment", "c-1", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));
    w.deliver("issue_comment", "c-1", &p).await;
    w.deliver("issue_comment", "c-1-redelivered", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));
    let incident = w
        .svc
        .store
        .incident_for_issue(
            &"acme/evals".parse().unwrap(),
            responder::types::IssueNumber(n),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            incident.severity.as_str(),
            incident.declared_by.as_str(),
            incident.declared_via.as_str()
        ),
        ("SEV2", "alice", "command")
    );
}

#[tokio::test]
async fn api_declares_once_per_dedup_key() {
    let w = world().await;
    let body = json!({"repo": "Acme/Evals", "title": "LLM rate limited", "severity": "P2",
        "component": "llm api", "summary": "Agents get 429", "dedup_key": "alert-42"});
    let (status, first) = w.api(&body).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["severity"], "SEV2");
    assert_eq!(first["status"], "open");
    assert_eq!(first["repo"], "acme/evals");
    assert_declared(&w, "LLM rate limited", Some("llm-api"), None);
    assert_eq!(first["bug_issue"]["number"], w.one("bug").number);
    assert_eq!(first["rca_issue"]["url"], w.url(w.one("rca").number));

    let (status, again) = w.api(&body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_declared(&w, "LLM rate limited", Some("llm-api"), None);

    let (status, shown) = w.get(&first["id"], "diff:read").await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["rca_issue"], first["rca_issue"]);
    assert_eq!(shown["declared_by"], "test-agent");
    assert_eq!(shown["events"][0]["kind"], "declared");
    // The same `rca` and `timings` objects as each entry of the list.
    assert_eq!(shown["rca"]["closed"], false, "{shown}");
    assert_eq!(shown["rca"]["reminders"], 0, "{shown}");
    assert!(
        shown["timings"]["time_to_resolve_seconds"].is_null(),
        "{shown}"
    );
    let (status, _) = w.get(&json!(999), "diff:read").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn concurrent_posts_of_one_dedup_key_open_one_incident() {
    let w = world().await;
    let body =
        json!({"repo": "acme/evals", "title": "Queue stuck", "severity": "SEV2", "dedup_key": "k"});
    let (a, b) = tokio::join!(w.api(&body), w.api(&body));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
    assert_eq!(a.1["id"], b.1["id"]);
    assert_eq!(w.app_issues("bug").len(), 1);
    assert_eq!(w.app_issues("rca").len(), 1);
}

#[tokio::test]
async fn rca_creation_failing_with_502_is_retried_to_exactly_one_of_each() {
    let w = world().await;
    // The bug is the first POST …/issues; the RCA the second.
    w.fake
        .fault_after("POST", "/repos/acme/evals/issues", 1, Fault::Status(502), 1);
    let p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));
    let d = w.svc.store.delivery("d-1").await.unwrap().unwrap();
    assert_eq!(d.attempts, 2, "one failure, one retry");
}

#[tokio::test]
async fn a_502_after_github_created_the_issue_does_not_duplicate_it() {
    let w = world().await;
    // GitHub creates the RCA but answers 502; then the comment fails once too.
    w.fake.fault_after(
        "POST",
        "/repos/acme/evals/issues",
        1,
        Fault::AfterProcessing(502),
        1,
    );
    w.fake.fault(
        "POST",
        "/repos/acme/evals/issues/*/comments",
        Fault::AfterProcessing(502),
        1,
    );
    let p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));
}

/// Arms GitHub to create the RCA (the second issue) but answer 502, and returns an
/// API declaration with `dedup_key`.
fn cut_short_after_the_rca(w: &World, dedup_key: &str) -> serde_json::Value {
    w.fake.fault_after(
        "POST",
        "/repos/acme/evals/issues",
        1,
        Fault::AfterProcessing(502),
        1,
    );
    json!({"repo": "acme/evals", "title": "LLM rate limited", "severity": "SEV2",
        "component": "llm-api", "dedup_key": dedup_key})
}

#[tokio::test]
async fn an_api_call_cut_short_by_github_continues_with_the_same_dedup_key() {
    let w = world().await;
    let body = cut_short_after_the_rca(&w, "page-1");
    let (status, err) = w.api(&body).await;
    assert_eq!(status, 502, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("same dedup_key"),
        "{err}"
    );
    let (status, done) = w.api(&body).await;
    assert_eq!(status, 200, "{done}");
    assert_declared(&w, "LLM rate limited", Some("llm-api"), None);
}

#[tokio::test]
async fn a_retry_finds_its_issue_past_the_first_page_of_incident_issues() {
    let w = world().await;
    let body = cut_short_after_the_rca(&w, "page-2");
    assert_eq!(w.api(&body).await.0, 502);
    // 150 newer incident issues of the App's (other incidents) push the RCA the
    // cut-short call created onto the second page of the label's listing.
    for i in 0..150 {
        w.fake.add_issue_by(
            "acme",
            "evals",
            crate::support::fake_github::BOT_LOGIN,
            &format!("[SEV3] other {i}"),
            &format!("<!-- responder:incident={} kind=bug -->", 1000 + i),
            &["incident"],
        );
    }
    let (status, done) = w.api(&body).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        w.app_issues("rca").len(),
        1,
        "the RCA was found, not created again"
    );
}

#[tokio::test]
async fn a_form_without_severity_gets_one_comment_and_no_issues() {
    let w = world().await;
    let body = FORM_BODY.replace(
        "SEV2 — Major: a major feature is down or degraded for many users",
        "_No response_",
    );
    let p = w.issue_payload(
        "opened",
        "[Incident]: LLM rate limited",
        &body,
        &["incident"],
    );
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    let mut labeled = p.clone();
    labeled["action"] = json!("labeled");
    labeled["label"] = json!({"name": "incident"});
    w.deliver("issues", "d-2", &labeled).await;
    assert!(w.app_issues("bug").is_empty() && w.app_issues("rca").is_empty());
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].contains("**Severity**"), "{}", comments[0]);
    assert!(comments[0].contains("SEV1–SEV5"));
}

#[tokio::test]
async fn completing_an_incomplete_form_by_editing_it_declares_it_once() {
    let w = world().await;
    let body = FORM_BODY.replace(
        "SEV2 — Major: a major feature is down or degraded for many users",
        "_No response_",
    );
    let p = w.issue_payload(
        "opened",
        "[Incident]: LLM rate limited",
        &body,
        &["incident"],
    );
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    assert!(w.app_issues("bug").is_empty());
    assert!(w.comments_on(n)[0].contains("Edit the issue to complete the form"));
    let mut edited = p.clone();
    edited["action"] = json!("edited");
    edited["issue"]["body"] = json!(FORM_BODY);
    edited["changes"] = json!({"body": {"from": body}});
    w.deliver("issues", "d-2", &edited).await;
    w.deliver("issues", "d-2-again", &edited).await;
    assert_declared_with(&w, "LLM rate limited", Some("llm-api"), Some(n), 2);
}

#[tokio::test]
async fn a_read_only_commenter_is_refused_and_bots_are_ignored() {
    let w = world().await;
    let n = w
        .fake
        .add_issue("acme", "evals", "Evaluations are slow", "", &[]);
    let cmd = "/incident declare SEV2 LLM rate limited";
    w.deliver(
        "issue_comment",
        "c-1",
        &w.comment_payload(n, 1, "rita", "User", cmd),
    )
    .await;
    w.deliver(
        "issue_comment",
        "c-1b",
        &w.comment_payload(n, 1, "rita", "User", cmd),
    )
    .await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("need write permission") && comments[0].contains("has read"),
        "{}",
        comments[0]
    );
    w.deliver(
        "issue_comment",
        "c-2",
        &w.comment_payload(n, 2, "deploy-bot", "Bot", cmd),
    )
    .await;
    w.deliver(
        "issue_comment",
        "c-3",
        &w.comment_payload(n, 3, "responder-test[bot]", "User", cmd),
    )
    .await;
    assert_eq!(w.comments_on(n).len(), 1);
    assert!(w.fake.issues("acme", "evals").len() == 1, "nothing created");
    let perms = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/permission"))
        .count();
    assert_eq!(perms, 2, "bots are not even looked up");
}

#[tokio::test]
async fn a_form_opened_by_a_reader_declares_nothing_until_a_writer_labels_it() {
    let w = world().await;
    let mut p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    p["issue"]["user"] = json!({"login": "rita", "type": "User"});
    p["sender"] = json!({"login": "rita", "type": "User"});
    w.deliver("issues", "d-1", &p).await;
    assert!(w.app_issues("bug").is_empty() && w.app_issues("rca").is_empty());
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("declaring an incident needs write permission")
            && comments[0].contains("rita has read"),
        "{}",
        comments[0]
    );

    // A writer adds the label again: now it is declared, by them.
    let mut labeled = p.clone();
    labeled["action"] = json!("labeled");
    labeled["label"] = json!({"name": "incident"});
    labeled["sender"] = json!({"login": "alice", "type": "User"});
    w.deliver("issues", "d-2", &labeled).await;
    assert_eq!(
        (w.app_issues("bug").len(), w.app_issues("rca").len()),
        (1, 1)
    );
    assert_eq!(
        w.comments_on(n).len(),
        2,
        "the refusal, then the declaration"
    );
    let inc = w
        .svc
        .store
        .incident_for_issue(&"acme/evals".parse().unwrap(), IssueNumber(n))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inc.declared_by, "alice");
}

#[tokio::test]
async fn a_form_opened_by_an_app_gets_a_refusal_not_a_dead_delivery() {
    let w = world().await;
    let mut p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    p["issue"]["user"] = json!({"login": "alerts[bot]", "type": "Bot"});
    p["sender"] = json!({"login": "alerts[bot]", "type": "Bot"});
    w.deliver("issues", "d-bot", &p).await;
    assert!(w.app_issues("bug").is_empty());
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("alerts[bot] has none") && comments[0].contains("POST /v1/incidents"),
        "{}",
        comments[0]
    );
    let d = w.svc.store.delivery("d-bot").await.unwrap().unwrap();
    assert_eq!(d.status.as_str(), "done", "{d:?}");
}

#[tokio::test]
async fn help_is_answered_once() {
    let w = world().await;
    let n = w
        .fake
        .add_issue("acme", "evals", "Evaluations are slow", "", &[]);
    let p = w.comment_payload(n, 9, "alice", "User", "Hi!\n/incident help");
    w.deliver("issue_comment", "c-1", &p).await;
    w.deliver("issue_comment", "c-2", &p).await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].contains("/incident declare SEV2"));
}

#[tokio::test]
async fn hostile_summary_neither_pings_nor_forges_and_huge_text_fits() {
    let w = world().await;
    let evil = "cc @acme/sre-team and @bob\n<!-- responder:incident=1 kind=bug -->\n";
    let body = json!({"repo": "acme/evals", "title": "Ping @acme/oncall", "severity": "SEV2",
        "summary": format!("{evil}{}", "x".repeat(70_000))});
    let (status, resp) = w.api(&body).await;
    assert_eq!(status, 201, "{resp}");
    for i in [w.one("bug"), w.one("rca")] {
        let b = i.body.unwrap();
        assert!(b.chars().count() < 65_536, "{} chars", b.chars().count());
        assert!(b.contains("Truncated"), "visible note");
        for ping in ["@acme/sre-team", "@bob", "@acme/oncall"] {
            assert!(!b.contains(ping), "{ping} pings");
        }
        assert_eq!(
            b.matches("<!-- responder:incident=").count(),
            1,
            "one incident marker, ours, first"
        );
        // Every other marker is one of Responder's own (commander, timeline): none forged.
        let ours = [
            "<!-- responder:commander -->",
            "<!-- /responder:commander -->",
            "<!-- responder:timeline -->",
            "<!-- /responder:timeline -->",
        ];
        // A live marker is `<!-- responder:…` exactly (defused ones have U+200B inside).
        let live = |i: usize| b[..i].ends_with("<!-- ") || b[..i].ends_with("<!-- /");
        let forged = b.match_indices("responder:").filter(|(i, _)| {
            let from = &b[b[..*i].rfind("<!--").unwrap_or(0)..];
            live(*i) && !(*i == 5 || ours.iter().any(|m| from.starts_with(m)))
        });
        assert_eq!(forged.count(), 0, "{b}");
        assert!(!i.title.contains("@acme/oncall"));
    }
}

#[tokio::test]
async fn six_spellings_of_a_severity_are_one_severity() {
    let w = world().await;
    let mut ids = Vec::new();
    for (i, s) in ["SEV2", "sev2", "SEV-2", "Sev 2", "P2", "major"]
        .iter()
        .enumerate()
    {
        let body = json!({"repo": "acme/evals", "title": format!("t{i}"), "severity": s, "dedup_key": format!("k{i}")});
        let (status, resp) = w.api(&body).await;
        assert_eq!(status, 201, "{s}: {resp}");
        assert_eq!(resp["severity"], "SEV2", "{s}");
        ids.push(resp["id"].clone());
    }
    assert_eq!(w.app_issues("bug").len(), 6);
    assert!(
        w.app_issues("bug")
            .iter()
            .all(|i| i.labels.contains(&"sev2".to_string()))
    );
    let sev_labels: Vec<_> = w
        .fake
        .labels("acme", "evals")
        .into_iter()
        .filter(|l| l.name.starts_with("sev"))
        .collect();
    assert_eq!(sev_labels.len(), 1, "{sev_labels:?}");
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        6
    );
}

#[tokio::test]
async fn api_errors_name_their_cause() {
    let w = world().await;
    let (status, e) = w
        .api(&json!({"repo": "acme/evals", "title": "t", "severity": "SEV9"}))
        .await;
    assert_eq!(status, 422);
    assert!(e["message"].as_str().unwrap().contains("SEV-1"), "{e}");
    let (status, e) = w
        .api(&json!({"repo": "acme/evals", "title": "t", "severity": "SEV2", "component": "kafka"}))
        .await;
    assert_eq!(status, 422);
    assert!(e["message"].as_str().unwrap().contains("sandbox"), "{e}");
    let (status, e) = w
        .api(&json!({"repo": "acme/evals", "title": "t", "sevirity": "SEV2"}))
        .await;
    assert_eq!(status, 400, "{e}");
    let (status, _) = w
        .api_as(
            &json!({"repo": "acme/evals", "title": "t", "severity": "SEV2"}),
            "diff:read",
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = w
        .api(&json!({"repo": "other/repo", "title": "t", "severity": "SEV2"}))
        .await;
    assert_eq!(status, 403);
    assert!(w.fake.issues("acme", "evals").is_empty());
}

#[tokio::test]
async fn a_broken_repo_config_is_one_comment_and_nothing_else() {
    let w = world_with(&[(
        ".github/responder.toml",
        "min_permission = \"write\"\n[labels]\nincidnet = \"x\"\n",
    )])
    .await;
    let p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    w.deliver("issues", "d-2", &p).await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("line 3") && comments[0].contains("incidnet"),
        "{}",
        comments[0]
    );
    assert!(w.app_issues("bug").is_empty());
    let d = w.svc.store.delivery("d-1").await.unwrap().unwrap();
    assert_eq!(d.attempts, 1, "a user error is not retried");
}

#[tokio::test]
async fn repo_config_renames_labels_and_adds_aliases() {
    let w = world_with(&[(
        ".github/responder.toml",
        "[labels]\nincident = \"Outage\"\n[severity_aliases]\nbad = \"SEV2\"\n",
    )])
    .await;
    let n = w
        .fake
        .add_issue("acme", "evals", "Evaluations are slow", "", &[]);
    let p = w.comment_payload(
        n,
        77,
        "alice",
        "User",
        "/incident declare bad LLM rate limited",
    );
    w.deliver("issue_comment", "c-1", &p).await;
    let bugs: Vec<_> = w
        .fake
        .issues("acme", "evals")
        .into_iter()
        .filter(|i| i.title == "[SEV2] LLM rate limited")
        .collect();
    assert_eq!(bugs.len(), 1);
    assert_eq!(labels(&bugs[0]), sorted(&["outage", "sev2", "bug"]));
}

#[tokio::test]
async fn severity_and_resolve_commands_relabel_and_record_who_and_when() {
    let w = world().await;
    let n = w
        .fake
        .add_issue("acme", "evals", "Evaluations are slow", "", &[]);
    let declare = w.comment_payload(
        n,
        1,
        "alice",
        "User",
        "/incident declare SEV3 Queue stuck component=job-queue",
    );
    w.deliver("issue_comment", "c-1", &declare).await;
    let rca = w.one("rca");
    assert!(rca.title.starts_with("[SEV3]"));

    // On the RCA issue, twice (redelivery): relabelled once, answered once.
    let sev = w.comment_payload(
        rca.number,
        2,
        "alice",
        "User",
        "/incident severity critical",
    );
    w.deliver("issue_comment", "c-2", &sev).await;
    w.deliver("issue_comment", "c-2b", &sev).await;
    let (bug, rca) = (w.one("bug"), w.one("rca"));
    assert_eq!(bug.title, "[SEV1] Queue stuck");
    assert_eq!(rca.title, "[SEV1] RCA: Queue stuck");
    assert_eq!(
        labels(&bug),
        sorted(&["incident", "sev1", "bug", "job-queue"])
    );
    assert_eq!(labels(&rca), sorted(&["incident", "rca", "sev1"]));
    assert_eq!(w.comments_on(rca.number).len(), 1);

    let resolve = w.comment_payload(n, 3, "alice", "User", "/incident resolve rolled back");
    w.deliver("issue_comment", "c-3", &resolve).await;
    w.deliver("issue_comment", "c-3b", &resolve).await;
    let on_rca = w.comments_on(rca.number);
    assert_eq!(on_rca.len(), 2, "{on_rca:#?}");
    assert!(
        on_rca[1].contains("Time to resolve") && on_rca[1].contains("rolled back"),
        "{}",
        on_rca[1]
    );

    let repo = "acme/evals".parse().unwrap();
    let inc = w
        .svc
        .store
        .incident_for_issue(&repo, responder::types::IssueNumber(n))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (inc.severity.as_str(), inc.status.as_str()),
        ("SEV1", "resolved")
    );
    assert!(inc.resolved_at.is_some());
    let events = w.svc.store.incident_events(inc.id).await.unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("declared", "alice"),
            ("severity", "alice"),
            ("resolved", "alice")
        ]
    );
    assert_eq!(events[1].from_severity.map(|s| s.as_str()), Some("SEV3"));
    assert_eq!(events[1].to_severity.map(|s| s.as_str()), Some("SEV1"));

    let reopen = w.comment_payload(n, 4, "alice", "User", "/incident reopen");
    w.deliver("issue_comment", "c-4", &reopen).await;
    let inc = w.svc.store.incident(inc.id).await.unwrap().unwrap();
    assert_eq!(inc.status.as_str(), "open");
    assert!(inc.resolved_at.is_none());
}

#[tokio::test]
async fn a_process_that_died_after_creating_the_bug_is_continued_after_restart() {
    // One attempt only: the delivery dies when GitHub's answer to the bug creation
    // is lost, as if the process had been killed before recording it.
    let w = world_cfg(&[], |s| s.worker_config.max_attempts = 1).await;
    w.fake.fault(
        "POST",
        "/repos/acme/evals/issues",
        Fault::AfterProcessing(502),
        1,
    );
    let p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    assert_eq!(w.app_issues("bug").len(), 1, "GitHub has the bug");
    assert!(w.app_issues("rca").is_empty());
    let dead = w.svc.store.delivery("d-1").await.unwrap().unwrap();
    assert_eq!(dead.status, responder::store::DeliveryStatus::Dead);

    let w = w.restart().await;
    w.deliver("issues", "d-1-redelivered", &p).await;
    assert_declared(&w, "LLM rate limited", Some("llm-api"), Some(n));
}

#[tokio::test]
async fn target_repo_puts_the_issues_in_a_central_repository() {
    let w = world_with(&[(
        ".github/responder.toml",
        "target_repo = \"Acme/Incidents\"\n",
    )])
    .await;
    w.add_repo("acme", "incidents", INSTALLATION);
    // The declarer needs write access where the issues are written too.
    w.fake.set_permission("acme", "incidents", "alice", "write");
    let p = w.incident_form();
    let n = p["issue"]["number"].as_u64().unwrap();
    w.deliver("issues", "d-1", &p).await;
    let there = w.fake.issues("acme", "incidents");
    assert_eq!(there.len(), 2, "{there:#?}");
    assert_eq!(there[0].title, "[SEV2] LLM rate limited");
    assert_eq!(there[1].title, "[SEV2] RCA: LLM rate limited");
    assert!(
        there[0]
            .body
            .as_deref()
            .unwrap()
            .contains(&format!("[#{n}]({})", w.url(n)))
    );
    assert_eq!(
        w.fake.issues("acme", "evals").len(),
        1,
        "only the declaring issue here"
    );
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].contains("/acme/incidents/issues/"),
        "{}",
        comments[0]
    );
    let colours: Vec<_> = w
        .fake
        .labels("acme", "incidents")
        .into_iter()
        .filter(|l| l.name == "sev2" || l.name == "incident")
        .map(|l| l.color)
        .collect();
    assert_eq!(colours.len(), 2);
    assert!(
        colours.iter().all(|c| c != "ededed"),
        "labels created with their colours: {colours:?}"
    );
}
