//! Follow-ups end to end: a completed RCA's open action items become issues —
//! exactly one per item across redeliveries, retries, a crash and re-closes after
//! edits — linked from the RCA, and listed per incident until they are closed.

use responder::clock::Clock;
use responder::incident::text::action_items::parse_item;
use responder::incident::text::sanitize::has_live_mention_or_comment;
use responder::store::IncidentRecord;
use serde_json::Value;

use crate::lifecycle::fill;
use crate::support::fake_github::{Fault, Issue};
use crate::support::world::{World, world, world_cfg};

const ROOT_CAUSE: &str = "1. Pods were OOMKilled.\n2. The new image loads the whole dataset.";
const STREAM: &str = "- [ ] Stream the dataset — owner: @alice";

fn rca_no(inc: &IncidentRecord) -> u64 {
    inc.rca_issue.as_ref().unwrap().number.0
}

/// Declares a SEV2 and fills its RCA's Root cause and Action items (`actions`).
async fn incident_with_actions(w: &World, actions: &str) -> (IncidentRecord, u64) {
    let inc = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let rca = rca_no(&inc);
    let body = fill(&w.body(rca), "Root cause", ROOT_CAUSE);
    w.set_body(rca, &fill(&body, "Action items", actions));
    (inc, rca)
}

fn follow_ups(w: &World) -> Vec<Issue> {
    w.labelled("follow-up")
}

/// The lines of the RCA's Action items section, as it is on GitHub now.
fn action_lines(w: &World, rca: u64) -> Vec<String> {
    let body = w.body(rca);
    let section = body.split("## Action items").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| parse_item(l).is_some())
        .map(str::to_string)
        .collect()
}

async fn listed(w: &World, id: i64) -> Value {
    let (status, list) = w.list("repo=acme/evals", "diff:read").await;
    assert_eq!(status, 200, "{list}");
    list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn an_rca_closed_with_three_items_opens_one_issue_and_a_new_item_later_one_more() {
    let w = world().await;
    let tracked = w
        .fake
        .add_issue("acme", "evals", "Alert on pod memory", "", &[]);
    let actions = format!(
        "{STREAM}\n- [ ] Alert on memory — issue: #{tracked}\n- [x] Roll back the image — owner: alice"
    );
    let (inc, rca) = incident_with_actions(&w, &actions).await;
    let close = w.close(rca, "completed", "close-1").await;

    let created = follow_ups(&w);
    assert_eq!(created.len(), 1, "{created:#?}");
    let fu = &created[0];
    assert_eq!(fu.title, "Follow-up: Stream the dataset");
    assert_eq!(fu.assignees, ["alice"]);
    let mut labels = fu.labels.clone();
    labels.sort();
    assert_eq!(labels, ["follow-up", "incident"]);
    let body = fu.body.clone().unwrap();
    assert!(body.contains(&w.url(rca)), "links the RCA: {body}");
    assert!(
        body.contains(&inc.bug_issue.as_ref().unwrap().url),
        "links the incident: {body}"
    );
    let label = w
        .fake
        .labels("acme", "evals")
        .into_iter()
        .find(|l| l.name == "follow-up")
        .unwrap();
    assert_ne!(label.color, "ededed", "created with its colour");
    assert_eq!(
        action_lines(&w, rca),
        [
            format!("{STREAM} — issue: #{}", fu.number),
            format!("- [ ] Alert on memory — issue: #{tracked}"),
            "- [x] Roll back the image — owner: alice".to_string(),
        ],
        "the created item's line links it; the others are as written"
    );
    let entry = listed(&w, inc.id).await;
    assert_eq!(entry["open_follow_ups"], 2, "{entry}");
    let numbers: Vec<u64> = entry["follow_ups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [fu.number, tracked]);
    assert_eq!(entry["follow_ups"][0]["owner"], "alice");
    assert_eq!(entry["follow_ups"][0]["origin"], "created");
    assert_eq!(entry["follow_ups"][1]["origin"], "linked");

    // The same close redelivered: nothing new, nothing edited.
    let body_before = w.body(rca);
    w.deliver("issues", "close-1-redelivered", &close).await;
    assert_eq!(follow_ups(&w).len(), 1);
    assert_eq!(w.body(rca), body_before);

    // Reopened, one more item, closed again: exactly one more issue.
    w.reopen(rca, "reopen-1").await;
    let mut lines = action_lines(&w, rca);
    lines.push("- [ ] Load test the new image — owner: alice".into());
    w.set_body(rca, &fill(&w.body(rca), "Action items", &lines.join("\n")));
    w.set_time(w.clock.now() + chrono::Duration::minutes(5));
    w.close(rca, "completed", "close-2").await;
    let created = follow_ups(&w);
    assert_eq!(created.len(), 2, "{created:#?}");
    assert_eq!(created[1].title, "Follow-up: Load test the new image");
    assert_eq!(
        action_lines(&w, rca)[3],
        format!(
            "- [ ] Load test the new image — owner: alice — issue: #{}",
            created[1].number
        )
    );
    assert_eq!(listed(&w, inc.id).await["open_follow_ups"], 3);

    // Closing a follow-up's issue counts it done, in the list and the incident.
    w.close(fu.number, "completed", "close-fu").await;
    assert_eq!(listed(&w, inc.id).await["open_follow_ups"], 2);
    let (status, one) = w.get(&Value::from(inc.id), "diff:read").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["follow_ups"][0]["state"], "closed");
    assert_eq!(one["open_follow_ups"], 2);
}

#[tokio::test]
async fn an_item_whose_link_was_removed_and_spacing_edited_gets_no_second_issue() {
    let w = world().await;
    let (_, rca) = incident_with_actions(&w, STREAM).await;
    w.close(rca, "completed", "close-1").await;
    let first = follow_ups(&w);
    assert_eq!(first.len(), 1);
    w.reopen(rca, "reopen-1").await;
    let edited = "-  [ ]   stream the   dataset — owner: alice";
    w.set_body(rca, &fill(&w.body(rca), "Action items", edited));
    w.set_time(w.clock.now() + chrono::Duration::minutes(5));
    w.close(rca, "completed", "close-2").await;
    assert_eq!(follow_ups(&w).len(), 1, "the same item");
    assert_eq!(
        action_lines(&w, rca),
        [format!("{edited} — issue: #{}", first[0].number)],
        "linked again"
    );
}

#[tokio::test]
async fn an_owner_github_will_not_assign_gets_an_unassigned_issue_that_says_so() {
    let w = world().await;
    let (_, rca) = incident_with_actions(&w, "- [ ] Page the SRE rota — owner: @bob").await;
    w.close(rca, "completed", "close-1").await;
    let created = follow_ups(&w);
    assert_eq!(created.len(), 1, "the follow-up is not lost: {created:#?}");
    assert!(created[0].assignees.is_empty());
    let body = created[0].body.clone().unwrap();
    assert!(body.contains("GitHub would not assign them"), "{body}");
    assert!(body.contains("**bob**"), "{body}");
    let refused = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/repos/acme/evals/issues")
        .count();
    assert_eq!(refused, 4, "bug, RCA, the refused try, the unassigned one");
    assert!(action_lines(&w, rca)[0].ends_with(&format!("— issue: #{}", created[0].number)));
}

#[tokio::test]
async fn mentions_and_markers_in_an_item_do_not_reach_the_issue_alive() {
    let w = world().await;
    let item = "- [ ] Ask @bob and @acme/sre to review <!-- x --> the --> limits — owner: alice";
    let (_, rca) = incident_with_actions(&w, item).await;
    w.close(rca, "completed", "close-1").await;
    let created = follow_ups(&w);
    assert_eq!(created.len(), 1);
    let body = created[0].body.clone().unwrap();
    let (first_line, rest) = body.split_once('\n').unwrap();
    assert!(first_line.starts_with("<!-- responder:incident="));
    assert!(!has_live_mention_or_comment(rest), "{rest}");
    assert!(!rest.contains("-->"), "{rest}");
    assert!(
        !has_live_mention_or_comment(&created[0].title),
        "{}",
        created[0].title
    );
    assert!(rest.contains("bob") && rest.contains("acme/sre"));
}

#[tokio::test]
async fn a_502_after_github_created_the_issue_is_retried_into_exactly_one() {
    let w = world().await;
    let (_, rca) = incident_with_actions(&w, STREAM).await;
    w.fake.fault(
        "POST",
        "/repos/acme/evals/issues",
        Fault::AfterProcessing(502),
        1,
    );
    w.close(rca, "completed", "close-1").await;
    let created = follow_ups(&w);
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(
        action_lines(&w, rca),
        [format!("{STREAM} — issue: #{}", created[0].number)]
    );
}

#[tokio::test]
async fn a_crash_after_github_created_the_issue_still_ends_with_one_after_restart() {
    // One attempt: the delivery dies with GitHub's answer, as a killed process would.
    let w = world_cfg(&[], |s| s.worker_config.max_attempts = 1).await;
    let (inc, rca) = incident_with_actions(&w, STREAM).await;
    w.fake.fault(
        "POST",
        "/repos/acme/evals/issues",
        Fault::AfterProcessing(502),
        1,
    );
    let close = w.close(rca, "completed", "close-1").await;
    assert_eq!(follow_ups(&w).len(), 1, "GitHub has the issue");
    let rows = w.svc.store.follow_ups(inc.id).await.unwrap();
    assert!(rows[0].issue.is_none(), "not recorded: {rows:?}");

    let w = w.restart().await;
    w.deliver("issues", "close-1-redelivered", &close).await;
    let created = follow_ups(&w);
    assert_eq!(created.len(), 1, "{created:#?}");
    let rows = w.svc.store.follow_ups(inc.id).await.unwrap();
    assert_eq!(
        rows[0].issue.as_ref().map(|(_, l)| l.number.0),
        Some(created[0].number)
    );
    assert_eq!(
        action_lines(&w, rca),
        [format!("{STREAM} — issue: #{}", created[0].number)]
    );
}

#[tokio::test]
async fn the_follow_up_links_and_the_timeline_writer_keep_each_others_edit() {
    let w = world().await;
    let (inc, rca) = incident_with_actions(&w, STREAM).await;
    let bug = inc.bug_issue.as_ref().unwrap().number.0;
    w.command_by("alice", bug, "/incident note the dataset is 40 GB")
        .await;
    // Every edit of the RCA is slow (applied after the wait), so the second edit
    // reads the body before the first lands: unordered, the one applied last
    // would drop the other's change.
    let slow = Fault::Slow(std::time::Duration::from_millis(700));
    w.fake.fault(
        "PATCH",
        &format!("/repos/acme/evals/issues/{rca}"),
        slow,
        20,
    );
    let later = w.clock.now() + chrono::Duration::minutes(1);
    let ((), written) = tokio::join!(
        async {
            w.close(rca, "completed", "close-1").await;
        },
        async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            w.svc.timeline.run_once(later).await.unwrap()
        }
    );
    assert_eq!(written, 1, "the timeline writer edited the RCA");
    let fu = follow_ups(&w);
    assert_eq!(fu.len(), 1);
    let body = w.body(rca);
    assert!(
        body.contains("the dataset is 40 GB"),
        "timeline kept: {body}"
    );
    assert_eq!(
        action_lines(&w, rca),
        [format!("{STREAM} — issue: #{}", fu[0].number)],
        "link kept: {body}"
    );
}
