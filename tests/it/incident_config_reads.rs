//! What a storm of incident deliveries costs in config reads: the five files
//! (`.github/responder.toml`, the runbook, three templates) are read once per
//! repository and then revalidated with one conditional request per delivery (a
//! 304, which GitHub does not count against the rate limit), and a change on the
//! default branch is seen by the very next delivery.

use std::time::Duration;

use base64::Engine;
use responder::service::ServiceOptions;
use serde_json::{Value, json};

use crate::support::fake_github::{FakeGitHub, LoggedRequest, RepoOpts};
use crate::support::git_fixture::RepoBuilder;
use crate::support::service::{TestService, fake_args, fast_policy};
use crate::support::webhook::fixture;

const INSTALLATION: u64 = 41;
const AGENT_SECRET: &str = "an-agent-secret-of-at-least-32-characters";
const STORM: usize = 200;

fn comment(n: u64, id: u64, body: &str) -> Value {
    let mut p = fixture("issue_comment.created");
    p["repository"]["full_name"] = json!("acme/evals");
    p["installation"] = json!({ "id": INSTALLATION });
    p["issue"]["number"] = json!(n);
    p["issue"]["title"] = json!("Evaluations are slow");
    p["comment"]["id"] = json!(id);
    p["comment"]["body"] = json!(body);
    p["comment"]["user"] = json!({"login": "alice", "type": "User"});
    p
}

fn contents_reads(fake: &FakeGitHub) -> Vec<LoggedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/repos/acme/evals/contents"))
        .collect()
}

/// Commits `text` to `path` on the default branch through the contents API, as a
/// person editing the file on GitHub would.
async fn edit_on_github(fake: &FakeGitHub, path: &str, text: &str) {
    let token = fake.issue_token(INSTALLATION);
    let url = format!("{}/repos/acme/evals/contents/{path}", fake.api_url());
    let client = reqwest::Client::new();
    let auth = format!("token {token}");
    let current: Value = client
        .get(&url)
        .header("authorization", &auth)
        .header("user-agent", "test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = client
        .put(&url)
        .header("authorization", &auth)
        .header("user-agent", "test")
        .json(&json!({
            "message": "edit config",
            "content": base64::engine::general_purpose::STANDARD.encode(text),
            "sha": current["sha"],
        }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_comments_reads_the_config_once_and_sees_the_next_change() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(&tmp.path().join("evals"));
    let config = "[severity_aliases]\nbad = \"SEV2\"\n";
    b.commit_on(
        "main",
        &[
            ("README.md", Some(b"evals\n".as_slice())),
            (".github/responder.toml", Some(config.as_bytes())),
        ],
        "init",
    );
    let fake = FakeGitHub::start().await;
    let opts = RepoOpts {
        installation: Some(INSTALLATION),
        public: false,
    };
    fake.add_repo("acme", "evals", b.publish(), opts);
    fake.set_permission("acme", "evals", "alice", "write");
    let args = fake_args(&tmp.path().join("data"), &fake, AGENT_SECRET);
    // No spacing between the replies: the storm is about reads.
    let options = ServiceOptions {
        retry_policy: fast_policy(),
        ..ServiceOptions::default()
    };
    let svc = TestService::start_with_options(args, options, |_| {}).await;
    let n = fake.add_issue("acme", "evals", "Evaluations are slow", "", &[]);

    for i in 0..STORM {
        let body = serde_json::to_vec(&comment(n, i as u64, "/incident help")).unwrap();
        let resp = svc
            .deliver("issue_comment", &format!("storm-{i}"), &body)
            .await;
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    assert!(
        svc.settle(Duration::from_secs(60)).await,
        "the storm did not settle"
    );
    assert_eq!(
        fake.comments("acme", "evals", n).len(),
        STORM,
        "one help reply each"
    );

    let reads = contents_reads(&fake);
    let full: Vec<_> = reads.iter().filter(|r| r.status != 304).collect();
    let revalidated = reads.iter().filter(|r| r.status == 304).count();
    eprintln!(
        "{STORM} help comments: {} contents reads answered in full, {revalidated} answered 304",
        full.len()
    );
    // The listing of `.github` and the five files, once.
    assert!(full.len() <= 6, "{} full reads: {full:#?}", full.len());
    assert!(revalidated >= STORM - 1, "{revalidated} revalidations");

    // A change on the default branch: the next delivery uses it.
    edit_on_github(
        &fake,
        ".github/responder.toml",
        "[severity_aliases]\nawful = \"SEV1\"\n",
    )
    .await;
    let declare = comment(n, 9999, "/incident declare awful LLM rate limited");
    let body = serde_json::to_vec(&declare).unwrap();
    svc.deliver("issue_comment", "after-edit", &body).await;
    assert!(svc.settle(Duration::from_secs(20)).await);
    let titles: Vec<String> = fake
        .issues("acme", "evals")
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert!(
        titles.iter().any(|t| t == "[SEV1] LLM rate limited"),
        "the edited config was not used: {titles:?}"
    );
}
