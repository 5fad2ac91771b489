//! What a cold diff costs: a PR past GitHub's diff limits goes straight to the
//! mirror without the API calls whose answer could not be used; PRs of one
//! repository waiting for its fetch share the next one; the disk cache is written
//! after the answer went out and is there for the next process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use responder::diff::{DiffService, Via};
use responder::settings::Settings;
use responder::types::{PrNumber, RepoName};

use crate::support::fake_github::{FakeGitHub, Fault, LoggedRequest, RepoOpts};
use crate::support::git_fixture::{RepoBuilder, git, git_bytes, many_files};
use crate::support::service::{TestService, agent_token, app_args};

const INSTALLATION: u64 = 9;

async fn serve(bare: &Path) -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    let opts = RepoOpts {
        installation: Some(INSTALLATION),
        public: false,
    };
    fake.add_repo("acme", "fleet", bare, opts);
    fake
}

/// A diff service of its own on `data_dir`, as `serve` builds it.
fn service(data_dir: &Path, fake: &FakeGitHub) -> Arc<DiffService> {
    let settings = Settings::from_args(&app_args(data_dir, fake)).expect("settings");
    let github = responder::service::github_client(&settings).expect("client");
    responder::service::diff_service(&settings, github).expect("diff service")
}

/// `git diff --no-color -M <merge-base> <head>` of PR `n` in the origin.
fn cli_diff(bare: &Path, n: u64) -> Vec<u8> {
    let head = format!("refs/pull/{n}/head");
    let mb = git(bare, &["merge-base", "refs/heads/main", &head]);
    git_bytes(bare, &["diff", "--no-color", "-M", mb.trim(), &head])
}

fn count(fake: &FakeGitHub, pick: impl Fn(&LoggedRequest) -> bool) -> usize {
    fake.requests().iter().filter(|r| pick(r)).count()
}

/// One ref advertisement served per fetch (after git's anonymous first try),
/// however many negotiation rounds follow.
fn fetches(fake: &FakeGitHub) -> usize {
    count(fake, |r| {
        r.method == "GET" && r.path.ends_with(".git/info/refs") && r.status == 200
    })
}

#[tokio::test]
async fn a_pr_past_the_diff_media_types_limit_goes_to_git_without_asking_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = many_files(&tmp.path().join("src"), 301);
    let fake = serve(&bare).await;
    fake.add_pull("acme", "fleet", 1);
    let svc = TestService::start_with(app_args(&tmp.path().join("data"), &fake), |_| {}).await;
    let token = agent_token(&["acme/fleet"], &["diff:read"], 3600);

    let resp = reqwest::Client::new()
        .get(format!("{}/v1/repos/acme/fleet/pulls/1/diff", svc.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-responder-source"], "git");
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&cli_diff(&bare, 1))
    );

    let asked = |part: &str| count(&fake, |r| r.path.contains(part));
    assert_eq!(asked("/pulls/1/files"), 0, "the files endpoint was asked");
    assert_eq!(asked("/compare/"), 0, "compare was asked");
    let diff_media = count(&fake, |r| {
        r.path == "/repos/acme/fleet/pulls/1" && r.accept.as_deref().unwrap_or("").contains("diff")
    });
    assert_eq!(diff_media, 0, "the diff media type was asked");
    assert_eq!(fetches(&fake), 1);

    let files = reqwest::Client::new()
        .get(format!("{}/v1/repos/acme/fleet/pulls/1/files", svc.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let files: serde_json::Value = files.json().await.unwrap();
    let reason = files["fallback_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("301 files") && reason.contains("300"),
        "{reason}"
    );
}

/// A repository whose PRs 1..=n each change a file of their own.
fn fleet(dir: &Path, n: u64) -> PathBuf {
    let mut b = RepoBuilder::new(dir);
    b.commit_on(
        "main",
        &[("README.md", Some(b"fleet\n".as_slice()))],
        "init",
    );
    for k in 1..=n {
        let branch = format!("pr{k}");
        b.branch_from(&branch, "main");
        let (path, text) = (format!("src/pr{k}.rs"), format!("fn pr{k}() {{}}\n"));
        b.commit_on(&branch, &[(path.as_str(), Some(text.as_bytes()))], "work");
        b.pull(k, &branch);
    }
    b.publish()
}

/// `n` PRs of `acme/fleet` (see [`fleet`]) behind a fake GitHub that knows them.
async fn fleet_fake(dir: &Path, n: u64) -> (PathBuf, FakeGitHub) {
    let bare = fleet(&dir.join("src"), n);
    let fake = serve(&bare).await;
    for k in 1..=n {
        fake.add_pull("acme", "fleet", k);
    }
    (bare, fake)
}

/// Asks for PRs 1..=`n` of `acme/fleet` at once, through git; each answer must be
/// the git CLI's diff of that PR.
async fn ask_all_at_once(svc: &Arc<DiffService>, bare: &Path, n: u64) {
    let repo: RepoName = "acme/fleet".parse().unwrap();
    let calls: Vec<_> = (1..=n)
        .map(|k| {
            let (svc, repo) = (svc.clone(), repo.clone());
            tokio::spawn(async move { svc.get(&repo, PrNumber(k), Via::Git).await })
        })
        .collect();
    for (k, call) in (1..=n).zip(calls) {
        let answer = call.await.unwrap().expect("an answer");
        assert_eq!(answer.number, k);
        assert_eq!(answer.unified[..], cli_diff(bare, k)[..], "PR #{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_prs_of_one_repository_waiting_for_its_fetch_share_the_next_one() {
    const PRS: u64 = 12;
    let tmp = tempfile::tempdir().unwrap();
    let (bare, fake) = fleet_fake(tmp.path(), PRS).await;
    // Each fetch takes long enough for every other request to queue behind it.
    let slow = Fault::Slow(Duration::from_millis(700));
    fake.fault("GET", "/acme/fleet.git/info/refs", slow, 1000);
    let svc = service(&tmp.path().join("data"), &fake);
    ask_all_at_once(&svc, &bare, PRS).await;
    let fetched = fetches(&fake);
    eprintln!("{PRS} cold PRs at once: {fetched} fetches");
    assert!(
        fetched <= 3,
        "{fetched} fetches for {PRS} PRs waiting together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_prs_asked_for_together_share_the_first_fetch_even_when_one_lookup_is_slower() {
    const PRS: u64 = 8;
    let tmp = tempfile::tempdir().unwrap();
    let (bare, fake) = fleet_fake(tmp.path(), PRS).await;
    // PR 1's lookup lands well after the others': without waiting for it, the
    // others' fetch would start first and PR 1 would need a second one.
    let slow = Fault::Slow(Duration::from_millis(150));
    fake.fault("GET", "/repos/acme/fleet/pulls/1", slow, 1);
    let svc = service(&tmp.path().join("data"), &fake);
    ask_all_at_once(&svc, &bare, PRS).await;
    assert_eq!(fetches(&fake), 1, "{PRS} PRs asked for together");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_prs_of_one_repository_asked_for_together_look_its_installation_up_once() {
    const PRS: u64 = 8;
    let tmp = tempfile::tempdir().unwrap();
    let (bare, fake) = fleet_fake(tmp.path(), PRS).await;
    // Slow enough for every request to miss the cache while the first asks.
    let slow = Fault::Slow(Duration::from_millis(200));
    fake.fault("GET", "/repos/acme/fleet/installation", slow, 1000);
    let svc = service(&tmp.path().join("data"), &fake);
    ask_all_at_once(&svc, &bare, PRS).await;
    let lookups = count(&fake, |r| {
        r.method == "GET" && r.path == "/repos/acme/fleet/installation"
    });
    assert_eq!(lookups, 1, "installation lookups for {PRS} PRs at once");
}

#[tokio::test]
async fn a_missing_pr_in_a_shared_fetch_fails_only_its_own_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (_bare, fake) = fleet_fake(tmp.path(), 2).await;
    let slow = Fault::Slow(Duration::from_millis(500));
    fake.fault("GET", "/acme/fleet.git/info/refs", slow, 1000);
    let svc = service(&tmp.path().join("data"), &fake);
    let repo: RepoName = "acme/fleet".parse().unwrap();
    let ask = |n: u64| {
        let (svc, repo) = (svc.clone(), repo.clone());
        tokio::spawn(async move { svc.get(&repo, PrNumber(n), Via::Git).await })
    };
    let (one, two, missing) = (ask(1), ask(2), ask(77));
    assert!(one.await.unwrap().is_ok());
    assert!(two.await.unwrap().is_ok());
    let err = missing.await.unwrap().expect_err("PR #77 does not exist");
    assert_eq!(err.code(), "pr_not_found", "{err}");
}

#[tokio::test]
async fn an_answer_reaches_the_disk_cache_after_it_went_out_and_serves_the_next_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (_bare, fake) = fleet_fake(tmp.path(), 1).await;
    let data = tmp.path().join("data");
    let repo: RepoName = "acme/fleet".parse().unwrap();
    let first = service(&data, &fake);
    let answer = first.get(&repo, PrNumber(1), Via::Git).await.unwrap();
    first.flush().await;
    drop(first);

    fake.clear_requests();
    let next = service(&data, &fake);
    let again = next.get(&repo, PrNumber(1), Via::Git).await.unwrap();
    assert_eq!(again.unified, answer.unified);
    assert_eq!(again.files, answer.files);
    assert_eq!(
        fetches(&fake),
        0,
        "the next process fetched instead of reading the cache"
    );
}
