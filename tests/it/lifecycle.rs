//! The incident lifecycle end to end, with an injected clock (never sleeping for a
//! due date): closing the bug resolves, RCA due reminders once a day until the RCA
//! is closed (also across a restart), and a closed RCA feeding the runbook through
//! one pull request.

use chrono::NaiveDate;
use responder::clock::Clock;
use responder::incident::runbook::Runbook;
use responder::store::IncidentRecord;
use serde_json::{Value, json};

use crate::support::world::{World, world, world_with};

const RUNBOOK: &str = ".github/responder/runbook.toml";

fn rca_no(inc: &IncidentRecord) -> u64 {
    inc.rca_issue.as_ref().unwrap().number.0
}

fn bug_no(inc: &IncidentRecord) -> u64 {
    inc.bug_issue.as_ref().unwrap().number.0
}

/// `body` with the content under `## heading` replaced by `text`.
pub fn fill(body: &str, heading: &str, text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in body.lines() {
        if skipping && line.starts_with("## ") {
            skipping = false;
        }
        if skipping {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line == format!("## {heading}") {
            out.push_str(&format!("\n{text}\n\n"));
            skipping = true;
        }
    }
    out
}

const ROOT_CAUSE: &str = "1. Pods were OOMKilled.\n2. The new image loads the whole dataset.";
const ACTIONS: &str = "- [ ] Stream the dataset — owner: alice";

fn updates(commands: &[(&str, &str)]) -> String {
    let mut t = String::from("```toml\n");
    for (c, tells) in commands {
        t.push_str(&format!(
            "[[commands]]\ncomponent = \"sandbox\"\ncommand = \"{c}\"\ntells = \"{tells}\"\n\n"
        ));
    }
    t.push_str("```");
    t
}

/// The RCA body as the template rendered it, filled in by a person.
fn filled(template: &str, commands: &[(&str, &str)]) -> String {
    let b = fill(template, "Root cause", ROOT_CAUSE);
    let b = fill(&b, "Action items", ACTIONS);
    fill(&b, "Runbook updates", &updates(commands))
}

const CMD_A: (&str, &str) = (
    "kubectl top pods -n agents --containers",
    "Memory per container",
);
const CMD_B: (&str, &str) = (
    "kubectl get events -n agents --field-selector reason=OOMKilling",
    "Which pods the kernel killed",
);
const CMD_C: (&str, &str) = (
    "kubectl describe nodes | grep -A5 Allocated",
    "Node pressure",
);

#[tokio::test]
async fn closing_the_bug_resolves_and_reminders_come_once_a_day_until_the_rca_closes() {
    let w = world().await;
    let inc = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let (bug, rca) = (bug_no(&inc), rca_no(&inc));

    // Closing the bug as completed resolves, like `/incident resolve`; once.
    w.set_time(w.clock.now() + chrono::Duration::minutes(95));
    let closed = w.close(bug, "completed", "close-bug").await;
    w.deliver("issues", "close-bug-again", &closed).await;
    let inc = w.incident(bug).await;
    assert_eq!(inc.status.as_str(), "resolved");
    assert_eq!(inc.resolved_at, Some(w.clock.now().timestamp_millis()));
    let on_rca = w.comments_on(rca);
    assert_eq!(on_rca.len(), 1, "{on_rca:#?}");
    assert!(
        on_rca[0].contains("Time to resolve: **1h 35m**"),
        "{}",
        on_rca[0]
    );
    let events = w.svc.store.incident_events(inc.id).await.unwrap();
    assert_eq!(
        (events[1].kind.as_str(), events[1].actor.as_str()),
        ("resolved", "alice")
    );

    // Before the due date: nothing. The first morning after it: one reminder that
    // mentions the assignees; a second run that day: nothing.
    w.fake.edit_issue("acme", "evals", rca, |i| {
        i.assignees = vec!["alice".into(), "bob-o".into()]
    });
    let due = NaiveDate::parse_from_str(&inc.rca_due_at, "%Y-%m-%d").unwrap();
    let day = |d: u64, h: u32| {
        (due + chrono::Days::new(d))
            .and_hms_opt(h, 0, 0)
            .unwrap()
            .and_utc()
    };
    w.set_time(day(0, 23));
    assert!(
        w.svc
            .reminders
            .run_once(day(0, 23))
            .await
            .unwrap()
            .reminded
            .is_empty()
    );
    w.set_time(day(1, 8));
    let r = w.svc.reminders.run_once(day(1, 8)).await.unwrap();
    assert_eq!(r.reminded, [inc.id]);
    let on_rca = w.comments_on(rca);
    assert_eq!(on_rca.len(), 2);
    assert!(on_rca[1].contains("@alice @bob-o"), "{}", on_rca[1]);
    assert!(on_rca[1].contains(&inc.rca_due_at));
    w.set_time(day(1, 20));
    assert!(
        w.svc
            .reminders
            .run_once(day(1, 20))
            .await
            .unwrap()
            .reminded
            .is_empty()
    );

    // A restart on the same data: still nothing that day; the next day, one more.
    let w = w.restart().await;
    assert!(
        w.svc
            .reminders
            .run_once(day(1, 21))
            .await
            .unwrap()
            .reminded
            .is_empty()
    );
    w.set_time(day(2, 8));
    assert_eq!(
        w.svc.reminders.run_once(day(2, 8)).await.unwrap().reminded,
        [inc.id]
    );
    assert_eq!(w.comments_on(rca).len(), 3);

    // Closed (not planned) on GitHub: recorded from the webhook, no more reminders.
    w.close(rca, "not_planned", "close-rca").await;
    w.set_time(day(3, 8));
    assert!(
        w.svc
            .reminders
            .run_once(day(3, 8))
            .await
            .unwrap()
            .reminded
            .is_empty()
    );
    assert_eq!(w.comments_on(rca).len(), 3);

    // Reopened: reminders resume. Closed again with the webhook lost: the issue's
    // state is checked before commenting, and the close is recorded.
    w.reopen(rca, "reopen-rca").await;
    w.set_time(day(4, 8));
    assert_eq!(
        w.svc.reminders.run_once(day(4, 8)).await.unwrap().reminded,
        [inc.id]
    );
    w.fake
        .edit_issue("acme", "evals", rca, |i| i.state = "closed".into());
    w.set_time(day(5, 8));
    let r = w.svc.reminders.run_once(day(5, 8)).await.unwrap();
    assert_eq!(
        (r.reminded.len(), r.found_closed.as_slice()),
        (0, &[inc.id][..])
    );
    assert!(
        w.svc
            .reminders
            .run_once(day(6, 8))
            .await
            .unwrap()
            .found_closed
            .is_empty()
    );
    assert_eq!(w.comments_on(rca).len(), 4);
}

#[tokio::test]
async fn closing_a_bug_as_not_planned_or_after_a_resolve_command_changes_nothing() {
    let w = world().await;
    let inc = w.declare("SEV3", "Queue stuck", "job-queue", &[]).await;
    w.close(bug_no(&inc), "not_planned", "d-1").await;
    assert_eq!(w.incident(bug_no(&inc)).await.status.as_str(), "open");
    w.reopen(bug_no(&inc), "d-2").await;
    w.command(bug_no(&inc), "/incident resolve rolled back")
        .await;
    let before = w.comments_on(rca_no(&inc)).len();
    w.close(bug_no(&inc), "completed", "d-3").await;
    assert_eq!(w.comments_on(rca_no(&inc)).len(), before);
    assert!(
        w.comments_on(bug_no(&inc)).len() <= 1,
        "{:#?}",
        w.comments_on(bug_no(&inc))
    );
}

#[tokio::test]
async fn reopening_the_bug_reopens_the_incident_once_and_closing_it_again_resolves_again() {
    let w = world().await;
    let inc = w.declare("SEV3", "Queue stuck", "job-queue", &[]).await;
    let bug = bug_no(&inc);
    let kinds = |events: Vec<responder::store::IncidentEvent>| {
        events
            .into_iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>()
    };
    w.close(bug, "completed", "r-1").await;
    assert_eq!(w.incident(bug).await.status.as_str(), "resolved");

    w.set_time(w.clock.now() + chrono::Duration::minutes(10));
    let reopened = w.reopen(bug, "r-2").await;
    // GitHub redelivering the same reopen under a new id changes nothing more.
    w.deliver("issues", "r-2-again", &reopened).await;
    let inc = w.incident(bug).await;
    assert_eq!(inc.status.as_str(), "open");
    assert_eq!(inc.resolved_at, None);
    let events = w.svc.store.incident_events(inc.id).await.unwrap();
    assert_eq!(kinds(events), ["declared", "resolved", "reopened"]);
    let on_bug = w.comments_on(bug);
    assert_eq!(
        on_bug
            .iter()
            .filter(|c| c.contains("**open again**"))
            .count(),
        1,
        "{on_bug:#?}"
    );

    w.set_time(w.clock.now() + chrono::Duration::minutes(10));
    w.close(bug, "completed", "r-3").await;
    let inc = w.incident(bug).await;
    assert_eq!(inc.status.as_str(), "resolved");
    let events = w.svc.store.incident_events(inc.id).await.unwrap();
    assert_eq!(
        kinds(events),
        ["declared", "resolved", "reopened", "resolved"]
    );
}

#[tokio::test]
async fn a_bug_closed_by_someone_without_write_access_leaves_the_incident_open() {
    let w = world().await;
    w.fake.set_permission("acme", "evals", "tom", "triage");
    let inc = w.declare("SEV3", "Queue stuck", "job-queue", &[]).await;
    let bug = bug_no(&inc);
    let now = w.clock.now().timestamp();
    w.fake.edit_issue("acme", "evals", bug, |i| {
        i.state = "closed".into();
        i.state_reason = Some("completed".into());
        i.closed_at = Some(now);
    });
    let mut p = w.issue_event("closed", bug);
    p["sender"]["login"] = json!("tom");
    w.deliver("issues", "tom-closes", &p).await;

    let inc = w.incident(bug).await;
    assert_eq!(inc.status.as_str(), "open");
    let said = w.comments_on(bug);
    assert!(
        said.iter()
            .any(|c| c.contains("tom has triage") && c.contains("stays open")),
        "{said:#?}"
    );
    assert!(w.comments_on(rca_no(&inc)).is_empty(), "no time to resolve");
}

#[tokio::test]
async fn severity_change_relabels_every_issue_and_is_recorded_with_who_and_when() {
    let w = world().await;
    let inc = w
        .declare("SEV3", "Queue stuck", "job-queue", &["sev3", "triage"])
        .await;
    let src = inc.source_issue.as_ref().unwrap().number.0;
    w.set_time(w.clock.now() + chrono::Duration::minutes(7));
    w.command(rca_no(&inc), "/incident severity SEV1").await;
    assert_eq!(
        w.labels_of(bug_no(&inc)),
        ["bug", "incident", "job-queue", "sev1"]
    );
    assert_eq!(w.labels_of(rca_no(&inc)), ["incident", "rca", "sev1"]);
    assert_eq!(
        w.labels_of(src),
        ["sev1", "triage"],
        "the declaring issue too"
    );
    let events = w.svc.store.incident_events(inc.id).await.unwrap();
    let e = &events[1];
    assert_eq!(
        (
            e.kind.as_str(),
            e.actor.as_str(),
            e.from_severity.map(|s| s.as_str()),
            e.to_severity.map(|s| s.as_str())
        ),
        ("severity", "alice", Some("SEV3"), Some("SEV1"))
    );
    assert_eq!(e.at, w.clock.now().timestamp_millis());
}

#[tokio::test]
async fn an_rca_closed_with_an_empty_root_cause_gets_one_comment_naming_it_and_no_pr() {
    let w = world().await;
    let inc = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let rca = rca_no(&inc);
    let body = fill(&w.body(rca), "Action items", ACTIONS);
    let body = fill(&body, "Runbook updates", &updates(&[CMD_A]));
    w.set_body(rca, &body);
    let p = w.close(rca, "completed", "close-1").await;
    w.deliver("issues", "close-1-redelivered", &p).await;
    let comments = w.comments_on(rca);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(comments[0].contains("**Root cause**"), "{}", comments[0]);
    assert!(!comments[0].contains("**Action items**"), "{}", comments[0]);
    assert!(w.fake.pulls("acme", "evals").is_empty());
    assert!(
        w.fake
            .file_on("acme", "evals", "responder/rca-3", RUNBOOK)
            .is_none()
    );
}

#[tokio::test]
async fn an_rca_with_two_new_commands_opens_one_pr_that_later_closes_update() {
    let w = world().await;
    let inc = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let rca = rca_no(&inc);
    let template = w.body(rca);
    w.set_body(rca, &filled(&template, &[CMD_A, CMD_B]));
    let p = w.close(rca, "completed", "close-1").await;

    let pulls = w.fake.pulls("acme", "evals");
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    let branch = format!("responder/rca-{rca}");
    assert_eq!(
        (pr.head_ref.as_str(), pr.base_ref.as_str()),
        (branch.as_str(), "main")
    );
    let pr_body = pr.body.clone().unwrap();
    assert!(pr_body.contains(&w.url(rca)), "links the RCA: {pr_body}");
    assert!(
        pr_body.contains(&w.url(bug_no(&inc))),
        "links the incident's bug"
    );
    assert!(pr_body.contains(&format!("incident {}", inc.id)));

    let text = w.fake.file_on("acme", "evals", &branch, RUNBOOK).unwrap();
    let got = Runbook::parse(&text).expect("valid for `responder check`");
    assert!(got.validate().is_empty());
    let old = Runbook::builtin();
    let mut want = old.clone();
    for (c, tells) in [CMD_A, CMD_B] {
        want.components.get_mut("sandbox").unwrap().commands.push(
            responder::incident::runbook::DiagCommand {
                command: c.into(),
                tells: tells.into(),
            },
        );
    }
    assert_eq!(got, want, "the old runbook plus exactly those two commands");
    let default = responder::incident::runbook::DEFAULT_RUNBOOK;
    let mut rest = text.lines();
    assert!(
        default.lines().all(|line| rest.any(|l| l == line)),
        "created from the default with its comments and layout:\n{text}"
    );
    assert_eq!(w.fake.commits_ahead("acme", "evals", &branch), 1);
    let said = w.comments_on(rca);
    assert_eq!(said.len(), 1);
    assert!(said[0].contains(&format!("#{}", pr.number)), "{}", said[0]);

    // The same close redelivered: no second PR, no second commit, no second comment.
    w.deliver("issues", "close-1-redelivered", &p).await;
    assert_eq!(w.fake.pulls("acme", "evals").len(), 1);
    assert_eq!(w.fake.commits_ahead("acme", "evals", &branch), 1);
    assert_eq!(w.comments_on(rca).len(), 1);

    // Edited, reopened, closed again: a new commit on the same PR's branch.
    w.reopen(rca, "reopen-1").await;
    w.set_body(rca, &filled(&template, &[CMD_A, CMD_C]));
    w.set_time(w.clock.now() + chrono::Duration::minutes(5));
    w.close(rca, "completed", "close-2").await;
    let pulls = w.fake.pulls("acme", "evals");
    assert_eq!(pulls.len(), 1, "the same PR");
    assert_eq!(w.fake.commits_ahead("acme", "evals", &branch), 2);
    let text = w.fake.file_on("acme", "evals", &branch, RUNBOOK).unwrap();
    let sandbox = Runbook::parse(&text).unwrap().components["sandbox"]
        .commands
        .clone();
    let cmds: Vec<&str> = sandbox.iter().map(|c| c.command.as_str()).collect();
    assert!(cmds.contains(&CMD_C.0) && cmds.contains(&CMD_A.0) && !cmds.contains(&CMD_B.0));
    let state = w.svc.store.rca_state(inc.id).await.unwrap();
    assert_eq!(state.runbook_pr_number, Some(pr.number as i64));
}

#[tokio::test]
async fn the_runbook_pr_keeps_the_repositorys_comments_and_only_adds_lines() {
    let ours = format!(
        "# Our on-call runbook. Ask #sre before removing a command.\n\n{}",
        responder::incident::runbook::DEFAULT_RUNBOOK.replace(
            "[components.sandbox]",
            "# sandboxes: see go/sandbox\n[components.sandbox]"
        )
    );
    let w = world_with(&[(RUNBOOK, &ours)]).await;
    let inc = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let rca = rca_no(&inc);
    let template = w.body(rca);
    w.set_body(rca, &filled(&template, &[CMD_A]));
    w.close(rca, "completed", "close-1").await;

    let branch = format!("responder/rca-{rca}");
    let text = w.fake.file_on("acme", "evals", &branch, RUNBOOK).unwrap();
    let mut rest = text.lines();
    for line in ours.lines() {
        assert!(
            rest.any(|l| l == line),
            "line {line:?} lost or moved:\n{text}"
        );
    }
    let added: Vec<&str> = {
        let kept: std::collections::HashSet<&str> = ours.lines().collect();
        text.lines().filter(|l| !kept.contains(l)).collect()
    };
    assert!(
        added.iter().any(|l| l.contains(CMD_A.0)) && added.len() <= 4,
        "only the new command is added: {added:#?}"
    );
    let sandbox = &Runbook::parse(&text).unwrap().components["sandbox"];
    assert_eq!(sandbox.commands.last().unwrap().command, CMD_A.0);
}

#[tokio::test]
async fn a_missing_pull_request_permission_is_said_on_the_rca_not_retried_in_silence() {
    let w = world().await;
    w.fake.set_app_permission("pull_requests", Some("read"));
    let inc = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let rca = rca_no(&inc);
    let template = w.body(rca);
    w.set_body(rca, &filled(&template, &[CMD_A]));
    w.close(rca, "completed", "close-1").await;

    assert!(w.fake.pulls("acme", "evals").is_empty());
    let said = w.comments_on(rca);
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(
        said[0].contains("pull_requests=write") && said[0].contains("reopen and close"),
        "{}",
        said[0]
    );
    let delivery = w.svc.store.delivery("close-1").await.unwrap().unwrap();
    assert_eq!(delivery.status.as_str(), "done", "{delivery:?}");

    // Granted, reopened, closed again: the PR opens.
    w.fake.set_app_permission("pull_requests", Some("write"));
    w.reopen(rca, "reopen-1").await;
    w.set_time(w.clock.now() + chrono::Duration::minutes(1));
    w.close(rca, "completed", "close-2").await;
    assert_eq!(w.fake.pulls("acme", "evals").len(), 1);
}

#[tokio::test]
async fn form_and_template_rca_bodies_propose_the_same_runbook() {
    let w = world().await;
    let a = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let b = w
        .declare("SEV2", "Pods OOMKilled again", "sandbox", &[])
        .await;
    w.set_body(rca_no(&a), &filled(&w.body(rca_no(&a)), &[CMD_A, CMD_B]));
    let form = format!(
        "### Summary\n\nPods OOMKilled.\n\n### Impact\n\n_No response_\n\n### Root cause (five whys)\n\n{ROOT_CAUSE}\n\n### Action items\n\n{ACTIONS}\n\n### Runbook updates\n\n{}\n\n### Supporting information\n\n_No response_\n",
        updates(&[CMD_A, CMD_B])
    );
    w.set_body(rca_no(&b), &form);
    w.close(rca_no(&a), "completed", "close-a").await;
    w.close(rca_no(&b), "completed", "close-b").await;
    assert_eq!(w.fake.pulls("acme", "evals").len(), 2);
    let file = |inc: &IncidentRecord| {
        w.fake
            .file_on(
                "acme",
                "evals",
                &format!("responder/rca-{}", rca_no(inc)),
                RUNBOOK,
            )
            .unwrap()
    };
    assert_eq!(file(&a), file(&b));
}

async fn get(w: &World, path: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", w.svc.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn incidents_are_listed_with_timings_only_for_granted_repositories_and_counted_in_metrics() {
    let w = world().await;
    let a = w.declare("SEV2", "Pods OOMKilled", "sandbox", &[]).await;
    let b = w.declare("SEV3", "Queue stuck", "job-queue", &[]).await;
    w.set_time(w.clock.now() + chrono::Duration::minutes(30));
    w.close(bug_no(&a), "completed", "close-a").await;
    let token = crate::support::service::agent_token(&["acme/*"], &["diff:read"], 600);

    let (status, all) = get(&w, "/v1/incidents", &token).await;
    assert_eq!(status, 200, "{all}");
    let ids: Vec<i64> = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [b.id, a.id], "newest first");
    let (_, resolved) = get(&w, "/v1/incidents?repo=Acme/Evals&status=resolved", &token).await;
    let one = &resolved["incidents"][0];
    assert_eq!(
        resolved["incidents"].as_array().unwrap().len(),
        1,
        "{resolved}"
    );
    assert_eq!(one["id"], a.id);
    assert_eq!(one["timings"]["time_to_resolve_seconds"], 1800);
    assert_eq!(one["timings"]["time_to_rca_seconds"], Value::Null);
    assert_eq!(one["bug_issue"]["number"], bug_no(&a));
    assert_eq!(one["rca_issue"]["url"], w.url(rca_no(&a)));
    let (_, sev3) = get(&w, "/v1/incidents?severity=sev-3", &token).await;
    assert_eq!(sev3["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(sev3["incidents"][0]["id"], b.id);
    let (status, _) = get(&w, "/v1/incidents?status=gone", &token).await;
    assert_eq!(status, 422);

    let other = crate::support::service::agent_token(&["acme/other"], &["diff:read"], 600);
    let (status, _) = get(&w, "/v1/incidents?repo=acme/evals", &other).await;
    assert_eq!(status, 403);
    let (status, none) = get(&w, "/v1/incidents", &other).await;
    assert_eq!(
        (status, none["incidents"].as_array().unwrap().len()),
        (200, 0)
    );
    // An exact grant (any case), with a limit: the newest visible incident.
    let exact = crate::support::service::agent_token(
        &["Other/Repo", "ACME/evals"],
        &["incidents:write"],
        600,
    );
    let (status, newest) = get(&w, "/v1/incidents?limit=1", &exact).await;
    assert_eq!(status, 200, "{newest}");
    let ids: Vec<i64> = newest["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [b.id]);

    let metrics = w.metrics().await;
    for series in [
        "responder_incidents{severity=\"SEV2\",status=\"resolved\"}",
        "responder_incidents{severity=\"SEV3\",status=\"open\"}",
        "responder_incident_time_to_resolve_seconds_bucket{severity=\"SEV2\",le=\"1800\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}

/// `responder forms install --repo acme/evals` against the fake, as a person runs it.
async fn forms_install(w: &World) -> (bool, String) {
    let (api, id, key) = (
        w.fake.api_url(),
        w.fake.app_id().to_string(),
        w.fake.private_key_pem().to_string(),
    );
    let data = w.tmp.path().join("cli-data");
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_responder"))
            .args(["forms", "install", "--repo", "Acme/Evals"])
            .env_clear()
            .env("RESPONDER_DATA_DIR", data)
            .env("GITHUB_API_URL", api)
            .env("GITHUB_APP_ID", id)
            .env("GITHUB_APP_PRIVATE_KEY", key)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn forms_install_opens_one_pr_with_the_forms_and_rerunning_changes_nothing() {
    let w = world().await;
    let (ok, out) = forms_install(&w).await;
    assert!(ok && out.contains("opened"), "{out}");
    let pulls = w.fake.pulls("acme", "evals");
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].head_ref, "responder/forms");
    for (name, content) in responder::assets::FORMS {
        let path = format!("{}/{name}", responder::assets::FORMS_DIR);
        let got = w.fake.file_on("acme", "evals", "responder/forms", &path);
        assert_eq!(got.as_deref(), Some(content), "{path}");
    }
    let commits = w.fake.commits_ahead("acme", "evals", "responder/forms");
    assert_eq!(commits, 4, "one commit per form");

    let (ok, out) = forms_install(&w).await;
    assert!(
        ok && out.contains("updated") && out.contains("up to date"),
        "{out}"
    );
    assert_eq!(w.fake.pulls("acme", "evals").len(), 1);
    assert_eq!(
        w.fake.commits_ahead("acme", "evals", "responder/forms"),
        commits
    );
}

#[tokio::test]
async fn a_severity_change_moves_the_one_rca_due_date_the_comment_and_reminders_use() {
    let w = world().await;
    let rb = Runbook::builtin();
    let inc = w.declare("SEV4", "Slow logs", "sandbox", &[]).await;
    let declared = w.clock.now().date_naive();
    let days = |s: responder::incident::model::severity::Severity| {
        chrono::Days::new(u64::from(rb.severity(s).rca_due_days))
    };
    use responder::incident::model::severity::Severity;
    let sev4_due = (declared + days(Severity::Sev4))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(inc.rca_due_at, sev4_due);
    let bug = bug_no(&inc);
    w.command(bug, "/incident severity SEV1").await;
    let inc = w.incident(bug).await;
    let sev1_due = (declared + days(Severity::Sev1))
        .format("%Y-%m-%d")
        .to_string();
    assert_ne!(sev1_due, sev4_due);
    assert_eq!(inc.rca_due_at, sev1_due, "stored for the reminders");
    let said = w.comments_on(bug);
    let last = said.last().unwrap();
    assert!(
        last.contains(&format!("The RCA is due **{sev1_due}**")),
        "{last}"
    );
}
