//! `POST /v1/agent-runs` through the real service and the fake GitHub: verdicts,
//! repeats, the spike that declares exactly one incident, its timeline entries, a
//! new incident after it resolves, auth, and `responder run --report` end to end.

use std::time::Duration;

use responder::clock::Clock;
use serde_json::{Value, json};

use crate::support::service::agent_token;
use crate::support::world::{World, token, world};

async fn post_with(w: &World, bearer: &str, body: &Value) -> (u16, Value) {
    w.post_as("/v1/agent-runs", bearer, body).await
}

async fn post(w: &World, body: &Value) -> (u16, Value) {
    post_with(w, &token("runs:write"), body).await
}

fn run(id: &str, agent: &str, exit_code: i32, output: &str) -> Value {
    json!({ "run_id": id, "repo": "acme/evals", "agent": agent, "exit_code": exit_code,
            "output": output, "duration_ms": 5400 })
}

const RATE_LIMITED: &str = "Working on the task…\nError: 429 Too Many Requests\n";
const CLEAN: &str = "Edited 3 files.\nAll tests pass.\n";

/// Posts `body` and returns its verdict, checking the answer's shape.
async fn verdict(w: &World, body: &Value) -> Value {
    let (status, a) = post(w, body).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["run_id"], body["run_id"]);
    a
}

#[tokio::test]
async fn verdicts_name_the_line_and_follow_the_exit_code() {
    let w = world().await;
    let a = verdict(&w, &run("r1", "claude-code", 0, RATE_LIMITED)).await;
    assert_eq!(a["verdict"], "infra_error", "{a}");
    assert_eq!(a["matches"][0]["line"], 2, "{a}");
    assert!(
        a["matches"][0]["excerpt"]
            .as_str()
            .unwrap()
            .contains("429 Too Many Requests"),
        "{a}"
    );
    assert!(a["reason"].as_str().unwrap().contains("line 2"), "{a}");
    assert_eq!(a["incident"], Value::Null, "one run is no spike: {a}");

    let a = verdict(&w, &run("r2", "claude-code", 0, CLEAN)).await;
    assert_eq!(a["verdict"], "passed", "{a}");
    assert_eq!(a["matches"], json!([]));
    let a = verdict(&w, &run("r3", "claude-code", 1, CLEAN)).await;
    assert_eq!(a["verdict"], "failed", "{a}");
    assert_eq!(a["reason"], "exit code 1");
    let jsonl = "{\"type\":\"assistant\",\"text\":\"hi\"}\n{\"type\":\"result\",\"is_error\": true,\"result\":\"API Error\"}\n";
    let a = verdict(&w, &run("r4", "claude-code", 0, jsonl)).await;
    assert_eq!(a["verdict"], "infra_error", "{a}");
    assert_eq!(a["matches"][0]["line"], 2, "{a}");
    // A signal: no exit code.
    let mut killed = run("r5", "claude-code", 0, CLEAN);
    killed["exit_code"] = Value::Null;
    let a = verdict(&w, &killed).await;
    assert_eq!(a["verdict"], "failed", "{a}");
}

#[tokio::test]
async fn a_repeated_run_id_answers_the_stored_verdict_and_counts_once() {
    let w = world().await;
    let first = verdict(&w, &run("same", "codex", 0, RATE_LIMITED)).await;
    assert_eq!(first["repeat"], false);
    // Reported again (a retry) with other output: the stored verdict stands.
    let again = verdict(&w, &run("same", "codex", 0, CLEAN)).await;
    assert_eq!(again["verdict"], "infra_error", "{again}");
    assert_eq!(again["repeat"], true);
    assert_eq!(again["matches"], first["matches"]);
    // Twins at once: one row, one verdict.
    let twins = (0..8).map(|_| {
        let w = &w;
        async move { verdict(w, &run("twin", "codex", 0, CLEAN)).await }
    });
    let answers = futures_util::future::join_all(twins).await;
    assert_eq!(answers.iter().filter(|a| a["repeat"] == false).count(), 1);
    assert!(answers.iter().all(|a| a["verdict"] == "passed"));
    let metrics = w.metrics().await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("responder_agent_runs_total")
                && l.contains("agent=\"codex\"")
                && l.contains("verdict=\"passed\"")
        })
        .unwrap_or_else(|| panic!("no agent-run metric:\n{metrics}"));
    assert!(!line.ends_with(" 0"), "{line}");
}

#[tokio::test]
async fn thirty_runs_nine_infra_errors_declare_one_incident_and_more_add_entries() {
    let w = world().await;
    // 30 runs in the window, every third from run 3 on infra_error (9 of 30: 30%);
    // the threshold (20% of at least 20) is crossed at the 20th run or later.
    let mut declared = Vec::new();
    for i in 1..=30 {
        let infra = i % 3 == 0;
        let body = run(
            &format!("a{i}"),
            "Claude-Code",
            0,
            if infra { RATE_LIMITED } else { CLEAN },
        );
        let a = verdict(&w, &body).await;
        assert_eq!(a["verdict"], if infra { "infra_error" } else { "passed" });
        if !a["incident"].is_null() {
            declared.push((i, a["incident"].clone()));
        }
        w.set_time(w.clock.now() + chrono::Duration::seconds(10));
    }
    let (first, incident) = declared.first().cloned().expect("a spike declared");
    assert!(first >= 20, "declared before min_runs: run {first}");
    assert!(declared.iter().all(|(_, i)| i["id"] == incident["id"]));
    assert_eq!(w.app_issues("bug").len(), 1, "one bug issue");
    assert_eq!(w.app_issues("rca").len(), 1, "one RCA issue");
    let bug = &w.app_issues("bug")[0];
    assert_eq!(
        bug.number,
        incident["bug_issue"]["number"].as_u64().unwrap()
    );
    assert!(bug.title.contains("claude-code"), "{}", bug.title);
    let body = bug.body.clone().unwrap_or_default();
    assert!(body.contains("`rate-limit"), "the rule is named: {body}");
    assert!(body.contains("429 Too Many Requests"), "a sample: {body}");
    let id = incident["id"].as_i64().unwrap();
    assert_eq!(
        w.incident(bug.number).await.declared_via.as_str(),
        "agent_runs"
    );

    // 30 more failures over 30 minutes: entries at most every 5 minutes, one incident.
    for i in 1..=30 {
        let a = verdict(&w, &run(&format!("b{i}"), "claude-code", 0, RATE_LIMITED)).await;
        assert_eq!(a["incident"]["id"], incident["id"], "{a}");
        w.set_time(w.clock.now() + chrono::Duration::minutes(1));
    }
    assert_eq!(w.app_issues("bug").len(), 1, "no second incident");
    assert_eq!(w.app_issues("rca").len(), 1);
    let entries = w.timeline(id).await;
    let runs: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "agent_runs")
        .collect();
    assert!(
        (6..=7).contains(&runs.len()),
        "{} agent_runs entries: {entries:?}",
        runs.len()
    );
    let text = runs[0]["text"].as_str().unwrap();
    assert!(
        text.contains("were infra_error") && text.contains("rate-limit"),
        "{text}"
    );

    // Resolved by a person: a later spike is a new incident, not a reopen.
    w.command_by(
        "alice",
        bug.number,
        "/incident resolve the provider recovered",
    )
    .await;
    assert!(w.svc.settle(Duration::from_secs(20)).await);
    assert_eq!(w.incident(bug.number).await.status.as_str(), "resolved");
    w.set_time(w.clock.now() + chrono::Duration::hours(1));
    let mut second = None;
    for i in 1..=25 {
        let a = verdict(&w, &run(&format!("c{i}"), "claude-code", 0, RATE_LIMITED)).await;
        if !a["incident"].is_null() {
            second.get_or_insert(a["incident"]["id"].clone());
        }
    }
    let second = second.expect("a new spike declared anew");
    assert_ne!(second, incident["id"]);
    assert_eq!(w.app_issues("bug").len(), 2);
}

#[tokio::test]
async fn runs_tipping_the_spike_at_once_declare_one_incident() {
    let w = world().await;
    for i in 0..19 {
        verdict(&w, &run(&format!("p{i}"), "aider", 0, CLEAN)).await;
    }
    // Ten infra_error runs at once: each may see the threshold crossed.
    let posts = (0..10).map(|i| {
        let w = &w;
        async move { verdict(w, &run(&format!("x{i}"), "aider", 0, RATE_LIMITED)).await }
    });
    let answers = futures_util::future::join_all(posts).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .filter(|a| !a["incident"].is_null())
        .map(|a| a["incident"]["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(w.app_issues("bug").len(), 1);
    assert_eq!(w.app_issues("rca").len(), 1);
}

#[tokio::test]
async fn auth_and_bad_input_are_refused_with_a_reason() {
    let w = world().await;
    let body = run("z1", "codex", 0, CLEAN);
    let client = reqwest::Client::new();
    let url = format!("{}/v1/agent-runs", w.svc.url);
    let none = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let (s, a) = post_with(&w, &token("diff:read"), &body).await;
    assert_eq!((s, a["error"].as_str()), (403, Some("forbidden")), "{a}");
    let other = agent_token(&["acme/other"], &["runs:write"], 3600);
    let (s, _) = post_with(&w, &other, &body).await;
    assert_eq!(s, 403);
    let mut bad = body.clone();
    bad["agent"] = json!("a\nb");
    let (s, a) = post(&w, &bad).await;
    assert_eq!((s, a["error"].as_str()), (422, Some("invalid_run")), "{a}");
    let mut bad = body.clone();
    bad["run_id"] = json!("");
    assert_eq!(post(&w, &bad).await.0, 422);
    let mut bad = body.clone();
    bad["repo"] = json!("../etc");
    assert_eq!(post(&w, &bad).await.0, 422);
    let mut bad = body.clone();
    bad["surprise"] = json!(1);
    let (s, a) = post(&w, &bad).await;
    assert_eq!((s, a["error"].as_str()), (400, Some("invalid_body")), "{a}");
    assert!(a["message"].as_str().unwrap().contains("surprise"), "{a}");
    // A 1 MiB output is read; a longer one is cut and said.
    let mut big = run("big", "codex", 0, &"x".repeat((1 << 20) + 10));
    let a = verdict(&w, &big).await;
    assert_eq!(
        (a["verdict"].as_str(), a["truncated"].as_bool()),
        (Some("passed"), Some(true))
    );
    big["run_id"] = json!("huge");
    big["output"] = json!("y".repeat(9 << 20));
    let (s, a) = post(&w, &big).await;
    assert_eq!(s, 413, "{a}");
}

#[tokio::test]
async fn responder_run_reports_the_run_and_the_service_keeps_its_verdict() {
    let w = world().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_responder"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RESPONDER_TOKEN", token("runs:write"))
        .env("RESPONDER_RUN_ID", "sandbox-1")
        .args([
            "run",
            "--agent",
            "gemini",
            "--repo",
            "acme/evals",
            "--report",
        ])
        .arg(&w.svc.url)
        .args([
            "--",
            "sh",
            "-c",
            "echo 'Error: 429 Too Many Requests'; exit 0",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(70), "{out:?}");
    assert_eq!(out.stdout, b"Error: 429 Too Many Requests\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("not reported"), "{stderr}");
    // The service stored it: the same run_id answers the stored verdict.
    let a = verdict(&w, &run("sandbox-1", "gemini", 0, CLEAN)).await;
    assert_eq!(
        (a["repeat"].as_bool(), a["verdict"].as_str()),
        (Some(true), Some("infra_error")),
        "{a}"
    );
    assert!(
        a["matches"][0]["excerpt"].as_str().unwrap().contains("429"),
        "{a}"
    );
}

#[tokio::test]
async fn a_spike_reaches_a_target_repo_only_with_a_token_for_it() {
    let w = crate::support::world::world_with(&[(
        ".github/responder.toml",
        "target_repo = \"acme/incidents\"\n",
    )])
    .await;
    w.add_repo("acme", "incidents", 99);
    let narrow = token("runs:write");
    let both = agent_token(&["acme/evals", "acme/incidents"], &["runs:write"], 3600);
    let mut last = Value::Null;
    for i in 0..20 {
        let (s, a) = post_with(
            &w,
            &narrow,
            &run(&format!("t{i}"), "codex", 0, RATE_LIMITED),
        )
        .await;
        assert_eq!(s, 200, "{a}");
        last = a;
    }
    assert_eq!(last["verdict"], "infra_error");
    assert_eq!(last["incident"], Value::Null, "{last}");
    let why = last["incident_error"].as_str().unwrap_or_default();
    assert!(why.contains("target_repo acme/incidents"), "{last}");
    assert!(w.fake.issues("acme", "incidents").is_empty());
    // The same run reported again with a token for both: declared there.
    let (s, a) = post_with(&w, &both, &run("t19", "codex", 0, RATE_LIMITED)).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["repeat"], true);
    assert!(
        a["incident"]["rca_issue"]["url"]
            .as_str()
            .unwrap()
            .contains("/acme/incidents/issues/"),
        "{a}"
    );
    assert_eq!(w.fake.issues("acme", "incidents").len(), 2);
}

#[tokio::test]
async fn runs_past_their_retention_are_deleted() {
    let w = world().await;
    verdict(&w, &run("old", "codex", 0, RATE_LIMITED)).await;
    assert_eq!(
        verdict(&w, &run("old", "codex", 0, CLEAN)).await["repeat"],
        true
    );
    // The default retention is 7 days: 8 days on, the next run prunes the old one.
    w.set_time(w.clock.now() + chrono::Duration::days(8));
    verdict(&w, &run("new", "codex", 0, CLEAN)).await;
    let a = verdict(&w, &run("old", "codex", 0, CLEAN)).await;
    assert_eq!(
        (a["repeat"].as_bool(), a["verdict"].as_str()),
        (Some(false), Some("passed")),
        "{a}"
    );
}

#[tokio::test]
async fn a_burst_of_runs_reads_the_repository_config_once() {
    let w = world().await;
    let before = w.fake.requests().len();
    let posts = (0..50).map(|i| {
        let w = &w;
        async move { verdict(w, &run(&format!("burst{i}"), "codex", 0, CLEAN)).await }
    });
    futures_util::future::join_all(posts).await;
    let calls: Vec<String> = w.fake.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    // The first run reads the config files; the others use them for 30 s.
    assert!(calls.len() <= 8, "{} GitHub calls: {calls:#?}", calls.len());
}

#[tokio::test]
async fn a_broken_runbook_is_a_clear_error_and_the_service_goes_on() {
    // A rule whose pattern does not compile, and one that would match every line.
    let runbook = format!(
        "{}\n[[output_rules]]\nname = \"bad\"\npattern = '(unclosed'\nverdict = \"infra_error\"\nmeaning = \"x\"\nsample = \"x\"\n\n[[output_rules]]\nname = \"all\"\npattern = '.*'\nverdict = \"infra_error\"\nmeaning = \"x\"\nsample = \"x\"\n",
        responder::incident::runbook::DEFAULT_RUNBOOK
    );
    let w =
        crate::support::world::world_with(&[(".github/responder/runbook.toml", &runbook)]).await;
    let (status, a) = post(&w, &run("h1", "codex", 0, CLEAN)).await;
    assert_eq!(
        (status, a["error"].as_str()),
        (422, Some("repo_config")),
        "{a}"
    );
    let message = a["message"].as_str().unwrap();
    assert!(
        message.contains(".github/responder/runbook.toml"),
        "{message}"
    );
    assert!(
        message.contains("\"bad\"") && message.contains("\"all\""),
        "{message}"
    );
    let health = reqwest::get(format!("{}/healthz", w.svc.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(w.fake.issues("acme", "evals").is_empty());
}
