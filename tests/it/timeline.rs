//! The incident's timeline end to end (fake GitHub, real store, manual clock):
//! commander, status updates, back-dated notes, mitigation, linked pull requests
//! and resolution become entries exactly once; the RCA body's Timeline section is
//! written from them without touching what people wrote; the update cadence asks
//! once per interval; milestones show in the list and in `/metrics`.

use chrono::Duration;
use responder::incident::render::timeline::{TIMELINE_END, TIMELINE_START};
use responder::store::IncidentRecord;
use serde_json::{Value, json};

use crate::support::fake_github::BOT_LOGIN;
use crate::support::webhook::fixture;
use crate::support::world::{INSTALLATION, World, token, world};

fn bug_no(inc: &IncidentRecord) -> u64 {
    inc.bug_issue.as_ref().unwrap().number.0
}

fn rca_no(inc: &IncidentRecord) -> u64 {
    inc.rca_issue.as_ref().unwrap().number.0
}

/// GitHub's `pull_request.<action>` for PR `number` of acme/evals by `login`.
fn pull_event(w: &World, action: &str, number: u64, login: &str, title: &str, body: &str) -> Value {
    let mut p = fixture("pull_request.opened");
    p["action"] = json!(action);
    p["repository"]["full_name"] = json!("acme/evals");
    p["installation"] = json!({ "id": INSTALLATION });
    let pr = &mut p["pull_request"];
    pr["number"] = json!(number);
    pr["title"] = json!(title);
    pr["body"] = json!(body);
    pr["html_url"] = json!(format!("{}/acme/evals/pull/{number}", w.fake.server_url()));
    pr["user"] = json!({"login": login, "type": "User"});
    if action == "closed" {
        pr["merged"] = json!(true);
        pr["merged_by"] = json!({"login": login, "type": "User"});
        pr["merged_at"] = json!(w.clock_now().to_rfc3339());
    }
    p
}

/// Every request that edited an issue (PATCH), as (path, count).
fn patches_of(w: &World, n: u64) -> usize {
    let path = format!("/repos/acme/evals/issues/{n}");
    w.fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .count()
}

impl World {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use responder::clock::Clock;
        self.clock.now()
    }

    /// Moves both clocks on by `minutes`.
    fn later(&self, minutes: i64) {
        self.set_time(self.clock_now() + Duration::minutes(minutes));
    }

    async fn write_timelines(&self) -> usize {
        self.svc.timeline.run_once(self.clock_now()).await.unwrap()
    }
}

#[tokio::test]
async fn a_running_incident_writes_its_timeline_once_into_the_rca_and_keeps_peoples_edits() {
    let w = world().await;
    w.fake.set_permission("acme", "evals", "bob", "write");
    let inc = w.declare("SEV2", "Agents get 429", "llm-api", &[]).await;
    let (bug, rca) = (bug_no(&inc), rca_no(&inc));
    let declared = w.clock_now();

    w.later(2);
    w.command(bug, "/incident commander @bob").await;
    let issue = w
        .fake
        .issues("acme", "evals")
        .into_iter()
        .find(|i| i.number == bug)
        .unwrap();
    assert_eq!(issue.assignees, ["bob"]);
    assert!(
        w.body(bug).contains(
            "**Commander:** <!-- responder:commander -->**bob**<!-- /responder:commander -->"
        ),
        "{}",
        w.body(bug)
    );

    w.later(3);
    w.command(
        bug,
        "/incident update Rolled back the proxy.\nError rate falling.",
    )
    .await;
    let on_bug = w.comments_on(bug);
    assert!(
        on_bug
            .last()
            .unwrap()
            .contains("### Status update: incident"),
        "{on_bug:#?}"
    );
    assert!(
        on_bug
            .last()
            .unwrap()
            .contains("Rolled back the proxy.\nError rate falling.")
    );
    assert_eq!(
        w.write_timelines().await,
        1,
        "the first entries are written"
    );

    // People edit the RCA meanwhile: a root cause, and a line of their own in Timeline.
    let mine = "- 13:40 UTC: Dana saw the dashboard go red (my own line)";
    let edited = w
        .body(rca)
        .replace(
            "## Root cause\n",
            "## Root cause\n\nThe proxy's token bucket was shared.\n",
        )
        .replace(TIMELINE_START, &format!("{mine}\n{TIMELINE_START}"));
    w.set_body(rca, &edited);

    // A note back-dated to before the declaration stands at its own time.
    let at = (declared - Duration::minutes(20))
        .format("%H:%M")
        .to_string();
    w.later(1);
    w.command(
        bug,
        &format!("/incident note first 429 in the proxy logs at={at}"),
    )
    .await;
    w.later(1);
    w.command(
        bug,
        "/incident mitigated traffic shifted to the second region",
    )
    .await;
    w.later(4);
    let pr = pull_event(
        &w,
        "closed",
        42,
        "bob",
        "Roll back the proxy image",
        &format!("Fixes #{bug}"),
    );
    w.deliver("pull_request", "pr-42-merged", &pr).await;
    // A pull request by someone who may not write here is no entry.
    let drive_by = pull_event(&w, "opened", 43, "mallory", "Me too", &format!("#{bug}"));
    w.deliver("pull_request", "pr-43", &drive_by).await;
    w.later(5);
    w.command(bug, "/incident resolve proxy fixed").await;

    let entries = w.timeline(inc.id).await;
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "note",
            "declared",
            "commander",
            "update",
            "mitigated",
            "pull_request",
            "resolved"
        ],
        "{entries:#?}"
    );
    let ats: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "time order: {ats:?}");
    assert!(ats[0].contains(&format!("T{at}:00Z")), "{ats:?}");
    assert_eq!(entries[2]["actor"], "alice");
    assert_eq!(entries[2]["text"], "bob is incident commander");
    assert_eq!(entries[5]["actor"], "bob");
    assert_eq!(
        entries[5]["text"],
        "PR acme/evals#42 merged: Roll back the proxy image"
    );
    assert!(
        entries[5]["url"]
            .as_str()
            .unwrap()
            .ends_with("/acme/evals/pull/42")
    );

    // Resolve wrote the RCA at once; the people's edits are kept byte for byte.
    let body = w.body(rca);
    assert!(
        body.contains("The proxy's token bucket was shared."),
        "{body}"
    );
    assert!(
        body.contains(&format!("{mine}\n{TIMELINE_START}\n")),
        "{body}"
    );
    let section = body
        .split(TIMELINE_START)
        .nth(1)
        .unwrap()
        .split(TIMELINE_END)
        .next()
        .unwrap();
    let lines: Vec<&str> = section.lines().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(lines.len(), 7, "{section}");
    assert!(
        lines[0].contains("**note** by alice: first 429 in the proxy logs"),
        "{section}"
    );
    assert!(
        lines[4].contains("**mitigated** by alice: traffic shifted"),
        "{section}"
    );
    assert!(lines[5].contains("PR acme/evals#42 merged"), "{section}");
    assert!(lines[6].contains("**resolved**"), "{section}");
    assert!(
        body.contains("## Detection\n\nDeclared through the comment command by alice."),
        "{body}"
    );

    // Redelivering every one of those webhooks: no entry, comment or edit twice.
    let (comments, edits, entries_before) = (
        [w.comments_on(bug).len(), w.comments_on(rca).len()],
        [patches_of(&w, bug), patches_of(&w, rca)],
        entries.len(),
    );
    w.redeliver_all().await;
    w.later(1);
    assert_eq!(w.write_timelines().await, 0, "nothing new to write");
    assert_eq!(w.timeline(inc.id).await.len(), entries_before);
    assert_eq!(
        [w.comments_on(bug).len(), w.comments_on(rca).len()],
        comments
    );
    assert_eq!([patches_of(&w, bug), patches_of(&w, rca)], edits);
}

#[tokio::test]
async fn timeline_edits_are_coalesced_and_a_broken_body_is_left_alone_with_one_comment() {
    let w = world().await;
    let inc = w.declare("SEV3", "Slow queue", "job-queue", &[]).await;
    let (bug, rca) = (bug_no(&inc), rca_no(&inc));
    assert_eq!(w.write_timelines().await, 1);
    let written = patches_of(&w, rca);
    // Three entries within the coalescing window: not yet; after it: one edit.
    for i in 0..3 {
        w.command(bug, &format!("/incident note step {i}")).await;
    }
    assert_eq!(w.write_timelines().await, 0, "inside the coalescing window");
    w.later(1);
    assert_eq!(w.write_timelines().await, 1);
    assert_eq!(patches_of(&w, rca), written + 1);
    assert_eq!(w.body(rca).matches("**note** by alice: step").count(), 3);

    // Someone deletes the markers: the body is left alone, said once.
    let broken = w
        .body(rca)
        .replace(TIMELINE_START, "")
        .replace(TIMELINE_END, "");
    w.set_body(rca, &broken);
    for i in 0..2 {
        w.command(bug, &format!("/incident note after {i}")).await;
        w.later(1);
        assert_eq!(w.write_timelines().await, 0);
    }
    assert_eq!(w.body(rca), broken);
    let said: Vec<String> = w
        .comments_on(rca)
        .into_iter()
        .filter(|c| c.contains("two hidden markers"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].contains(TIMELINE_START) && said[0].contains(TIMELINE_END));
    // Put back, they are written again.
    w.set_body(
        rca,
        &format!("{broken}\n{TIMELINE_START}\n{TIMELINE_END}\n"),
    );
    w.command(bug, "/incident note markers restored").await;
    w.later(1);
    assert_eq!(w.write_timelines().await, 1);
    assert!(w.body(rca).contains("markers restored"));
    // Redelivered later (notes without `at=` included): no answer twice.
    let before = (w.comments_on(bug).len(), w.comments_on(rca).len());
    w.later(3);
    w.redeliver_all().await;
    assert_eq!((w.comments_on(bug).len(), w.comments_on(rca).len()), before);
}

#[tokio::test]
async fn a_sev1_without_updates_is_asked_once_per_interval_until_mitigated_also_across_a_restart() {
    let w = world().await;
    let inc = w.declare("SEV1", "Evaluations down", "sandbox", &[]).await;
    let bug = bug_no(&inc);
    let asks = |w: &World| {
        w.fake
            .comments("acme", "evals", bug)
            .into_iter()
            .filter(|c| c.user == BOT_LOGIN && c.body.contains("has had no status update"))
            .count()
    };
    let run = |w: &World| {
        let (r, now) = (w.svc.reminders.clone(), w.clock_now());
        async move { r.run_once(now).await.unwrap() }
    };
    w.later(29);
    assert!(run(&w).await.asked_for_update.is_empty(), "not yet 30 min");
    w.later(2);
    assert_eq!(run(&w).await.asked_for_update, [inc.id]);
    assert_eq!(asks(&w), 1);
    let ask = w.comments_on(bug).pop().unwrap();
    assert!(
        ask.contains("@alice"),
        "no commander: whoever declared: {ask}"
    );
    w.later(10);
    assert!(
        run(&w).await.asked_for_update.is_empty(),
        "at most one per interval"
    );

    // A restart on the same data: still one; after the next 30 minutes, one more.
    let w = w.restart().await;
    assert!(run(&w).await.asked_for_update.is_empty());
    w.later(21);
    assert_eq!(run(&w).await.asked_for_update, [inc.id]);
    assert_eq!(asks(&w), 2);

    // An update restarts the clock; the commander is asked, not the declarer.
    w.command(bug, "/incident commander @alice").await;
    w.command(bug, "/incident update still down").await;
    w.later(29);
    assert!(run(&w).await.asked_for_update.is_empty());
    // Mitigated: nobody is asked any more.
    w.command(bug, "/incident mitigated").await;
    w.later(120);
    assert!(run(&w).await.asked_for_update.is_empty());
    assert_eq!(asks(&w), 2);
}

#[tokio::test]
async fn time_to_acknowledge_mitigate_and_resolve_are_in_the_list_and_in_metrics() {
    let w = world().await;
    let inc = w.declare("SEV2", "Flaky sandboxes", "sandbox", &[]).await;
    let bug = bug_no(&inc);
    w.later(7);
    w.command(bug, "/incident update looking at node pressure")
        .await;
    w.later(13);
    w.command(bug, "/incident mitigated").await;
    w.later(40);
    w.command(bug, "/incident resolve").await;
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/incidents?repo=acme/evals", w.svc.url))
        .bearer_auth(token("diff:read"))
        .send()
        .await
        .unwrap();
    let list: Value = resp.json().await.unwrap();
    let t = &list["incidents"][0]["timings"];
    assert_eq!(t["time_to_acknowledge_seconds"], 7 * 60, "{t}");
    assert_eq!(t["time_to_mitigate_seconds"], 20 * 60, "{t}");
    assert_eq!(t["time_to_resolve_seconds"], 60 * 60, "{t}");
    assert!(t["acknowledged_at"].is_string() && t["mitigated_at"].is_string());
    let metrics = w.metrics().await;
    for what in ["acknowledge", "mitigate", "resolve"] {
        let series = format!(
            "responder_incident_time_to_{what}_seconds_bucket{{severity=\"SEV2\",le=\"3600\"}}"
        );
        assert!(metrics.contains(&series), "{series} missing");
    }
}
