//! Hostile repository content and lookalikes, end to end: templates that recurse or
//! loop without end, a runbook with an absurd due date, a `target_repo` naming
//! another account, a planted marker, a title that opens a code fence. Each must end
//! in one clear answer on the issue, nothing written where it must not be, and the
//! service (and the repository's next delivery) carrying on.

use std::time::{Duration, Instant};

use responder::incident::runbook::DEFAULT_RUNBOOK;
use serde_json::json;

use crate::support::fake_github::Fault;
use crate::support::service::eventually;
use crate::support::webhook::fixture;
use crate::support::world::{World, world_with};

const TEMPLATES: &str = ".github/responder/templates";
const DECLARE: &str = "/incident declare SEV2 Sandboxes are down component=sandbox";

/// A new issue in acme/evals on which alice comments `text`; returns its number.
async fn comment_on_new_issue(w: &World, text: &str) -> u64 {
    let n = w
        .fake
        .add_issue("acme", "evals", "Evaluations are slow", "", &[]);
    w.command(n, text).await;
    n
}

/// The incident's issues Responder opened in `owner/name`.
fn app_issues(w: &World, owner: &str, name: &str) -> usize {
    w.fake
        .issues(owner, name)
        .iter()
        .filter(|i| {
            i.body
                .as_deref()
                .is_some_and(|b| b.starts_with("<!-- responder:incident="))
        })
        .count()
}

/// `/incident help` on issue `n` is answered: the repository is not stalled.
/// Returns the answer.
async fn help_is_answered(w: &World, n: u64) -> String {
    let before = w.comments_on(n).len();
    w.command(n, "/incident help").await;
    let after = w.comments_on(n);
    assert_eq!(after.len(), before + 1, "{after:#?}");
    after.last().unwrap().clone()
}

#[tokio::test]
async fn a_recursive_template_is_one_comment_naming_it_and_the_service_lives_on() {
    let recursive = "{% macro r(n) %}{{ self::r(n=n+1) }}{% endmacro r %}{{ self::r(n=0) }}";
    let w = world_with(&[(&format!("{TEMPLATES}/bug.md.tera"), recursive)]).await;
    let n = comment_on_new_issue(&w, DECLARE).await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].contains("bug.md.tera"), "{}", comments[0]);
    assert!(comments[0].contains("ran out of stack"), "{}", comments[0]);
    assert_eq!(app_issues(&w, "acme", "evals"), 0);
    let health = reqwest::get(format!("{}/healthz", w.svc.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(help_is_answered(&w, n).await.contains("/incident declare"));
    let d = w.svc.store.list_deliveries(None, 10).await.unwrap();
    assert!(
        d.iter()
            .all(|d| d.status == responder::store::DeliveryStatus::Done)
    );
}

#[tokio::test]
async fn a_template_that_loops_for_ever_is_stopped_and_other_repositories_go_on() {
    let looping = "{% for i in range(end=1000000) %}{% for j in range(end=1000000) %}x{% endfor %}{% endfor %}";
    let w = world_with(&[(&format!("{TEMPLATES}/rca.md.tera"), looping)]).await;
    w.add_repo("acme", "other", 99);
    w.fake.set_permission("acme", "other", "alice", "write");

    let n = w.fake.add_issue("acme", "evals", "Slow", "", &[]);
    let m = w.fake.add_issue("acme", "other", "Slow too", "", &[]);
    let started = Instant::now();
    for (repo, number, id) in [("acme/evals", n, 1), ("acme/other", m, 2)] {
        let mut p = fixture("issue_comment.created");
        p["repository"]["full_name"] = json!(repo);
        p["installation"] = json!({ "id": 99 });
        p["issue"]["number"] = json!(number);
        p["issue"]["html_url"] = json!(format!("{}/{repo}/issues/{number}", w.fake.server_url()));
        p["comment"]["id"] = json!(id);
        p["comment"]["body"] = json!(DECLARE);
        p["comment"]["user"] = json!({"login": "alice", "type": "User"});
        let body = serde_json::to_vec(&p).unwrap();
        assert_eq!(
            w.svc
                .deliver("issue_comment", &format!("c-{id}"), &body)
                .await
                .status(),
            202
        );
    }
    // The other repository's incident is declared while the loop still runs.
    assert!(
        eventually(Duration::from_secs(20), || async {
            app_issues(&w, "acme", "other") == 2
        })
        .await
    );
    let other_done = started.elapsed();
    assert!(w.svc.settle(Duration::from_secs(30)).await);
    let stopped = started.elapsed();
    assert!(
        other_done < Duration::from_secs(5),
        "the other repository waited {other_done:?}"
    );
    assert!(
        stopped < Duration::from_secs(15),
        "the loop ran {stopped:?}"
    );
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].contains("rca.md.tera"), "{}", comments[0]);
    assert!(comments[0].contains("longer than 5 s"), "{}", comments[0]);
    assert!(help_is_answered(&w, n).await.contains("/incident declare"));
}

#[tokio::test]
async fn an_absurd_rca_due_date_is_one_comment_and_the_next_delivery_is_handled() {
    let runbook = DEFAULT_RUNBOOK.replacen("rca_due_days = 2", "rca_due_days = 4294967295", 1);
    assert_ne!(runbook, DEFAULT_RUNBOOK);
    let w = world_with(&[(".github/responder/runbook.toml", &runbook)]).await;
    let n = comment_on_new_issue(&w, DECLARE).await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("rca_due_days is 4294967295: it must be from 1 to 366"),
        "{}",
        comments[0]
    );
    // Until the runbook is fixed, every command is told why.
    assert!(help_is_answered(&w, n).await.contains("rca_due_days"));
    // The API answers too, instead of closing the connection.
    let (status, body) = w
        .api(&json!({"repo": "acme/evals", "title": "Down", "severity": "SEV1"}))
        .await;
    assert_eq!(status, 422);
    assert!(
        body["message"].as_str().unwrap().contains("rca_due_days"),
        "{body}"
    );
}

#[tokio::test]
async fn target_repo_of_another_account_is_refused_and_nothing_is_written_there() {
    let w = world_with(&[(
        ".github/responder.toml",
        "target_repo = \"victim/secret\"\n",
    )])
    .await;
    w.add_repo("victim", "secret", 1234);
    let n = comment_on_new_issue(&w, DECLARE).await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].contains("same owner"), "{}", comments[0]);
    assert!(w.fake.issues("victim", "secret").is_empty());
    assert!(w.fake.labels("victim", "secret").is_empty());
    let wrote_there = w
        .fake
        .requests()
        .into_iter()
        .any(|r| r.path.starts_with("/repos/victim/") && r.method != "GET");
    assert!(!wrote_there);
}

#[tokio::test]
async fn target_repo_where_the_declarer_may_not_write_is_refused() {
    let w = world_with(&[(
        ".github/responder.toml",
        "target_repo = \"acme/incidents\"\n",
    )])
    .await;
    w.add_repo("acme", "incidents", 99);
    w.fake.set_permission("acme", "incidents", "alice", "read");
    let n = comment_on_new_issue(&w, DECLARE).await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("write permission on acme/incidents, and alice has read"),
        "{}",
        comments[0]
    );
    assert!(w.fake.issues("acme", "incidents").is_empty());
    // A token for the declaring repository alone does not reach the target either.
    let (status, _) = w
        .api(&json!({"repo": "acme/evals", "title": "Down", "severity": "SEV1"}))
        .await;
    assert_eq!(status, 403);
    assert!(w.fake.issues("acme", "incidents").is_empty());
}

#[tokio::test]
async fn a_planted_marker_is_not_adopted_as_the_bug_issue() {
    let w = world_with(&[]).await;
    let planted_body = "<!-- responder:incident=1 kind=bug -->\nplanted by mallory";
    let planted = w.fake.add_issue_by(
        "acme",
        "evals",
        "mallory",
        "[SEV2] Sandboxes are down",
        planted_body,
        &["incident"],
    );
    // The first real creation fails: the retry looks for what it may have created.
    w.fake
        .fault("POST", "/repos/acme/evals/issues", Fault::Status(502), 1);
    let n = comment_on_new_issue(&w, DECLARE).await;
    let inc = w.incident(n).await;
    let bug = inc.bug_issue.expect("a bug issue").number.0;
    assert_ne!(bug, planted, "the planted issue was adopted");
    let issues = w.fake.issues("acme", "evals");
    let mallorys = issues.iter().find(|i| i.number == planted).unwrap();
    assert_eq!(
        mallorys.body.as_deref(),
        Some(planted_body),
        "it was edited"
    );
    let patched =
        w.fake.requests().into_iter().any(|r| {
            r.method == "PATCH" && r.path == format!("/repos/acme/evals/issues/{planted}")
        });
    assert!(!patched);
}

#[tokio::test]
async fn a_title_starting_with_a_fence_opens_no_code_block() {
    let w = world_with(&[]).await;
    let n = comment_on_new_issue(
        &w,
        "/incident declare SEV2 ```rust sandboxes down component=sandbox",
    )
    .await;
    let comments = w.comments_on(n);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let fences = comments[0]
        .lines()
        .filter(|l| l.trim_start().starts_with("```") || l.trim_start().starts_with("~~~"))
        .count();
    assert_eq!(fences, 0, "{}", comments[0]);
    assert!(
        comments[0].contains("rust sandboxes down"),
        "{}",
        comments[0]
    );
}
