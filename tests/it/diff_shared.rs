//! Work shared between diff requests: a burst for one cold PR asks GitHub once for
//! each thing, and a cached answer shared by two PRs still tells each its own story.

use std::sync::Arc;
use std::time::Duration;

use responder::diff::{DiffService, Via};
use responder::settings::Settings;
use responder::types::{PrNumber, RepoName};

use crate::diff_api::{Setup, setup};
use crate::support::fake_github::Fault;
use crate::support::service::app_args;

/// `GET pulls/N` for the PR's metadata (not its diff, which shares the path).
fn pull_lookups(s: &Setup, number: u64) -> usize {
    let path = format!("/repos/acme/widgets/pulls/{number}");
    s.fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .filter(|r| !r.accept.as_deref().unwrap_or("").contains("diff"))
        .count()
}

fn compares(s: &Setup) -> usize {
    s.fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/repos/acme/widgets/compare/"))
        .count()
}

/// GitHub answers after a real-world delay, so the burst overlaps its lookups.
fn slow_github(s: &Setup) {
    let slow = Fault::Slow(Duration::from_millis(200));
    for pattern in [
        "/repos/acme/widgets/pulls/1",
        "/repos/acme/widgets/compare/*",
    ] {
        s.fake.fault("GET", pattern, slow.clone(), 10_000);
    }
}

/// A diff service of its own (cold memory, cold cache) on the fake, as `serve` and
/// `responder diff` build it: requests reach it all at once, with no HTTP between.
fn cold_service(s: &Setup) -> Arc<DiffService> {
    let args = app_args(
        &s._tmp.path().join(format!("cold-{}", fastrand::u32(..))),
        &s.fake,
    );
    let settings = Settings::from_args(&args).expect("settings");
    let github = responder::service::github_client(&settings).expect("client");
    responder::service::diff_service(&settings, github).expect("diff service")
}

async fn burst(svc: &Arc<DiffService>, n: usize) -> Vec<String> {
    let repo: RepoName = "acme/widgets".parse().unwrap();
    let calls = (0..n).map(|_| {
        let (svc, repo) = (svc.clone(), repo.clone());
        tokio::spawn(async move {
            let a = svc
                .get(&repo, PrNumber(1), Via::Auto)
                .await
                .expect("an answer");
            String::from_utf8(a.json().to_vec()).unwrap()
        })
    });
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_cold_requests_asks_github_once_for_the_pull_and_the_merge_base() {
    let s = setup().await;
    slow_github(&s);
    let svc = cold_service(&s);
    s.fake.clear_requests();
    let answers = burst(&svc, 200).await;
    assert!(answers.iter().all(|a| a == &answers[0]), "answers differ");
    assert!(answers[0].contains("\"source\":\"api\""), "{}", answers[0]);
    let (pulls, compares) = (pull_lookups(&s, 1), compares(&s));
    eprintln!("per burst of 200: GET pulls/1 {pulls}, compare {compares}");
    assert_eq!(pulls, 1, "GET pulls/1 per burst");
    assert!(compares <= 1, "{compares} compare calls for one burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_that_falls_back_to_git_asks_github_once_and_fetches_once() {
    let s = setup().await;
    s.fake.fault(
        "GET",
        "/repos/acme/widgets/pulls/1/files",
        Fault::Status(404),
        10_000,
    );
    slow_github(&s);
    let svc = cold_service(&s);
    s.fake.clear_requests();
    let answers = burst(&svc, 100).await;
    assert!(answers.iter().all(|a| a == &answers[0]), "answers differ");
    assert!(answers[0].contains("\"source\":\"git\""), "{}", answers[0]);
    let (pulls, compares) = (pull_lookups(&s, 1), compares(&s));
    eprintln!("per burst of 100 falling back: GET pulls/1 {pulls}, compare {compares}");
    assert_eq!(pulls, 1, "GET pulls/1 per burst");
    assert!(compares <= 1, "{compares} compare calls for one burst");
    assert_eq!(s.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_http_asks_github_once_for_the_pull() {
    let s = setup().await;
    slow_github(&s);
    s.fake.clear_requests();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/repos/acme/widgets/pulls/1/files", s.svc.url);
    let calls = (0..50).map(|_| {
        let (client, url, token) = (client.clone(), url.clone(), s.token.clone());
        tokio::spawn(async move {
            let resp = client.get(url).bearer_auth(token).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
    });
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(pull_lookups(&s, 1), 1);
    assert!(compares(&s) <= 1);
}

#[tokio::test]
async fn two_prs_with_the_same_commits_are_each_told_where_their_answer_came_from() {
    let s = setup().await;
    s.fake.fault(
        "GET",
        "/repos/acme/widgets/pulls/1/files",
        Fault::Status(404),
        10,
    );
    let first = s.get("/v1/repos/acme/widgets/pulls/1/files").await;
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["source"], "git");
    assert_eq!(first["fallback_reason"], "files endpoint returned 404");

    // #2's files endpoint works; its answer comes from #1's cached diff.
    let second = s.get("/v1/repos/acme/widgets/pulls/2/files").await;
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(second["number"], 2);
    assert_eq!(second["repository"], "acme/widgets");
    assert_eq!(second["files"], first["files"]);
    let reason = second["fallback_reason"].as_str().unwrap_or_default();
    assert_ne!(
        reason, "files endpoint returned 404",
        "#1's reason told to #2"
    );
    assert!(
        reason.starts_with("served from the diff cache") && reason.contains("acme/widgets#1"),
        "{second}"
    );

    // #1 asked again still hears its own reason, not #2's.
    let again = s.get("/v1/repos/acme/widgets/pulls/1/files").await;
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["number"], 1);
    assert_eq!(again["fallback_reason"], "files endpoint returned 404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_agents_after_the_head_ttl_cost_one_github_call() {
    let s = setup().await;
    slow_github(&s);
    let args = app_args(&s._tmp.path().join("ttl"), &s.fake);
    let settings = Settings::from_args(&args).expect("settings");
    let github = responder::service::github_client(&settings).expect("client");
    let ttl = Duration::from_millis(300);
    let svc = DiffService::new(
        github,
        responder::diff::DiffConfig {
            data_dir: settings.data_dir.clone(),
            server_url: s.fake.server_url(),
            cache_bytes: 1 << 30,
            memory_bytes: 64 << 20,
            git_threads: 4,
            fetch_threads: 2,
            fetch_timeout: Duration::from_secs(60),
            head_ttl: ttl,
        },
    )
    .expect("diff service");
    let warm = burst(&svc, 1).await;
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    s.fake.clear_requests();
    let answers = burst(&svc, 10).await;
    assert!(answers.iter().all(|a| a == &warm[0]), "answers changed");
    assert_eq!(pull_lookups(&s, 1), 1, "GET pulls/1 for ten agents");
    assert_eq!(
        compares(&s),
        0,
        "the merge base of known commits is remembered"
    );
    assert_eq!(s.fake.requests().len(), 1, "{:#?}", s.fake.requests());
}
