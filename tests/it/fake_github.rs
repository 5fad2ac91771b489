//! Proves the fake GitHub answers the way GitHub does, so tests built on it mean
//! something: auth rules, shapes (parsed with octocrab's own models), pagination,
//! limits, faults, git over HTTP and real commits.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::fake_github::{FakeGitHub, Fault, RepoOpts, mint_jwt};
use crate::support::git_fixture::{RepoBuilder, git, many_files};
use crate::support::webhook::{fixture, sign};

const INSTALLATION: u64 = 7;

/// A private repo `Acme/Widgets` (installation 7) whose PR #1 modifies, adds,
/// removes, renames and adds a binary file.
fn small_repo(dir: &std::path::Path) -> PathBuf {
    let mut b = RepoBuilder::new(dir);
    let long: String = (0..20).map(|i| format!("line {i}\n")).collect();
    b.commit_on(
        "main",
        &[
            ("README.md", Some(&b"hello\n"[..])),
            ("src/lib.rs", Some(&b"fn a() {}\n"[..])),
            ("old.txt", Some(&b"bye\n"[..])),
            ("docs/long.txt", Some(long.as_bytes())),
        ],
        "init",
    );
    b.branch_from("feature", "main");
    b.commit_on(
        "feature",
        &[
            ("src/lib.rs", Some(&b"fn a() {}\nfn b() {}\n"[..])),
            ("new.txt", Some(&b"new\n"[..])),
            ("old.txt", None),
            ("docs/long.txt", None),
            ("docs/moved.txt", Some(long.as_bytes())),
            ("logo.png", Some(&[0u8, 159, 146, 150, 0, 1, 2][..])),
        ],
        "feature",
    );
    // main moves on after the branch point: the diff must stay three-dot.
    b.commit_on(
        "main",
        &[("README.md", Some(&b"hello again\n"[..]))],
        "main moves",
    );
    b.pull(1, "feature");
    b.publish()
}

async fn fake_with_small_repo() -> (tempfile::TempDir, FakeGitHub) {
    let dir = tempfile::tempdir().unwrap();
    let bare = small_repo(dir.path());
    let gh = FakeGitHub::start().await;
    gh.add_repo(
        "Acme",
        "Widgets",
        &bare,
        RepoOpts {
            installation: Some(INSTALLATION),
            public: false,
        },
    );
    gh.add_pull("acme", "widgets", 1);
    (dir, gh)
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(gh: &FakeGitHub, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", gh.api_url()))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
}

async fn send_json(
    gh: &FakeGitHub,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    client()
        .request(method, format!("{}{path}", gh.api_url()))
        .header("authorization", format!("token {token}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn token_request(gh: &FakeGitHub, jwt: &str) -> reqwest::Response {
    client()
        .post(format!(
            "{}/app/installations/{INSTALLATION}/access_tokens",
            gh.api_url()
        ))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn app_jwt_is_accepted_only_when_signed_right_and_fresh() {
    let (_dir, gh) = fake_with_small_repo().await;
    let now = gh.now();
    let iss = gh.app_id().to_string();

    let wrong_key = mint_jwt(gh.wrong_private_key_pem(), &iss, now - 30, now + 540);
    let r = token_request(&gh, &wrong_key).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].is_string() && body["documentation_url"].is_string(),
        "{body}"
    );

    let stale = mint_jwt(gh.private_key_pem(), &iss, now - 1200, now - 600);
    assert_eq!(token_request(&gh, &stale).await.status(), 401);
    let too_long = mint_jwt(gh.private_key_pem(), &iss, now - 30, now + 700);
    assert_eq!(token_request(&gh, &too_long).await.status(), 401);
    let future_iat = mint_jwt(gh.private_key_pem(), &iss, now + 120, now + 500);
    assert_eq!(token_request(&gh, &future_iat).await.status(), 401);
    let wrong_iss = mint_jwt(gh.private_key_pem(), "1", now - 30, now + 540);
    assert_eq!(token_request(&gh, &wrong_iss).await.status(), 401);

    let pkcs8 = mint_jwt(gh.private_key_pkcs8_pem(), &iss, now - 30, now + 540);
    let r = token_request(&gh, &pkcs8).await;
    assert_eq!(r.status(), 201);
    let token: octocrab::models::InstallationToken = r.json().await.unwrap();
    assert!(token.token.starts_with("ghs_"));
    let expires =
        chrono::DateTime::parse_from_rfc3339(token.expires_at.as_deref().unwrap()).unwrap();
    assert!((expires.timestamp() - (now + 3600)).abs() <= 5);
    assert_eq!(
        get(&gh, &token.token, "/repos/acme/widgets").await.status(),
        200
    );
}

#[tokio::test]
async fn installation_tokens_are_checked_per_installation_and_expire() {
    let (dir, gh) = fake_with_small_repo().await;
    let other = RepoBuilder::new(&dir.path().join("other"));
    let mut other = other;
    other.commit_on("main", &[("a", Some(&b"a\n"[..]))], "a");
    gh.add_repo(
        "acme",
        "other",
        other.publish(),
        RepoOpts {
            installation: Some(8),
            public: false,
        },
    );
    gh.add_repo(
        "acme",
        "open",
        dir.path().join("repo.git"),
        RepoOpts {
            installation: None,
            public: true,
        },
    );

    let t7 = gh.issue_token(INSTALLATION);
    assert_eq!(
        get(&gh, &t7, "/repos/ACME/WIDGETS").await.status(),
        200,
        "names are case-insensitive"
    );
    let r = get(&gh, &t7, "/repos/acme/other").await;
    assert_eq!(
        r.status(),
        404,
        "a private repo outside the installation is invisible"
    );
    assert_eq!(
        get(&gh, "ghs_notatoken", "/repos/acme/widgets")
            .await
            .status(),
        401
    );
    let anon = client()
        .get(format!("{}/repos/acme/widgets", gh.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 404);
    let anon_public = client()
        .get(format!("{}/repos/acme/open", gh.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon_public.status(), 200);

    gh.set_now(gh.now() + 3601);
    let r = get(&gh, &t7, "/repos/acme/widgets").await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "Bad credentials"
    );
    gh.clear_now();

    let fresh = gh.issue_token(INSTALLATION);
    assert_eq!(get(&gh, &fresh, "/repos/acme/widgets").await.status(), 200);
    gh.revoke_all_tokens();
    assert_eq!(get(&gh, &fresh, "/repos/acme/widgets").await.status(), 401);
}

#[tokio::test]
async fn repository_and_installation_answers_parse_as_octocrab_models() {
    let (_dir, gh) = fake_with_small_repo().await;
    let t = gh.issue_token(INSTALLATION);
    let repo: octocrab::models::Repository = get(&gh, &t, "/repos/acme/widgets")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(repo.full_name.as_deref(), Some("Acme/Widgets"));
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    assert_eq!(repo.private, Some(true));

    let inst = client()
        .get(format!(
            "{}/repos/acme/widgets/installation",
            gh.server_url()
        ))
        .bearer_auth(gh.app_jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(inst.status(), 200);
    let inst: octocrab::models::Installation = inst.json().await.unwrap();
    assert_eq!(inst.id.0, INSTALLATION);
}

#[tokio::test]
async fn pull_and_files_match_git_three_dot_diff_with_renames() {
    let (_dir, gh) = fake_with_small_repo().await;
    let t = gh.issue_token(INSTALLATION);
    let pr: octocrab::models::pulls::PullRequest = get(&gh, &t, "/repos/acme/widgets/pulls/1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pr.number, 1);
    assert_eq!(pr.head.ref_field, "feature");
    assert_eq!(pr.base.ref_field, "main");
    assert_eq!(pr.changed_files, Some(5));

    let files: Vec<octocrab::models::repos::DiffEntry> =
        get(&gh, &t, "/repos/acme/widgets/pulls/1/files")
            .await
            .json()
            .await
            .unwrap();
    let by_name = |n: &str| {
        files
            .iter()
            .find(|f| f.filename == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(
        files.len(),
        5,
        "README's change on main is not part of a three-dot diff"
    );
    let lib = by_name("src/lib.rs");
    assert_eq!(
        lib.status,
        octocrab::models::repos::DiffEntryStatus::Modified
    );
    assert_eq!((lib.additions, lib.deletions, lib.changes), (1, 0, 1));
    assert_eq!(
        lib.patch.as_deref(),
        Some("@@ -1 +1,2 @@\n fn a() {}\n+fn b() {}")
    );
    assert_eq!(
        by_name("new.txt").status,
        octocrab::models::repos::DiffEntryStatus::Added
    );
    assert_eq!(
        by_name("old.txt").status,
        octocrab::models::repos::DiffEntryStatus::Removed
    );
    let moved = by_name("docs/moved.txt");
    assert_eq!(
        moved.status,
        octocrab::models::repos::DiffEntryStatus::Renamed
    );
    assert_eq!(moved.previous_filename.as_deref(), Some("docs/long.txt"));
    assert!(
        by_name("logo.png").patch.is_none(),
        "binary files have no patch"
    );

    gh.drop_patch("acme", "widgets", 1, "new.txt");
    let files: Vec<Value> = get(&gh, &t, "/repos/acme/widgets/pulls/1/files")
        .await
        .json()
        .await
        .unwrap();
    let new = files.iter().find(|f| f["filename"] == "new.txt").unwrap();
    assert!(new.get("patch").is_none());
    assert_eq!(new["additions"], 1);
}

#[tokio::test]
async fn files_endpoint_paginates_with_link_and_stops_at_3000() {
    let dir = tempfile::tempdir().unwrap();
    let bare = many_files(dir.path(), 3050);
    let gh = FakeGitHub::start().await;
    gh.add_repo(
        "acme",
        "big",
        &bare,
        RepoOpts {
            installation: Some(INSTALLATION),
            public: false,
        },
    );
    gh.add_pull("acme", "big", 1);
    let t = gh.issue_token(INSTALLATION);

    let r = get(&gh, &t, "/repos/acme/big/pulls/1/files").await;
    let link = r.headers()["link"].to_str().unwrap().to_string();
    let first: Vec<Value> = r.json().await.unwrap();
    assert_eq!(first.len(), 30, "default page size");
    let base = format!("{}/repos/acme/big/pulls/1/files", gh.api_url());
    assert!(
        link.contains(&format!("<{base}?page=2&per_page=30>; rel=\"next\"")),
        "{link}"
    );
    assert!(
        link.contains(&format!("<{base}?page=100&per_page=30>; rel=\"last\"")),
        "{link}"
    );

    // Root-mounted requests get root-mounted links.
    let r = client()
        .get(format!(
            "{}/repos/acme/big/pulls/1/files?per_page=500",
            gh.server_url()
        ))
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("<{}/repos/", gh.server_url())),
        "{link}"
    );
    assert_eq!(
        r.json::<Vec<Value>>().await.unwrap().len(),
        100,
        "per_page is capped at 100"
    );

    let mut seen = 0;
    let mut next = Some(format!("{base}?per_page=100"));
    while let Some(url) = next.take() {
        let r = client()
            .get(&url)
            .header("authorization", format!("token {t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        next = r.headers().get("link").and_then(|l| {
            l.to_str()
                .unwrap()
                .split(", ")
                .find(|p| p.ends_with("rel=\"next\""))
                .map(|p| {
                    p.trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap()
                        .to_string()
                })
        });
        seen += r.json::<Vec<Value>>().await.unwrap().len();
    }
    assert_eq!(seen, 3000, "GitHub silently stops at 3,000 files");
    let pr: Value = get(&gh, &t, "/repos/acme/big/pulls/1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pr["changed_files"], 3050);

    gh.cap_files(10);
    let r: Vec<Value> = get(&gh, &t, "/repos/acme/big/pulls/1/files?per_page=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r.len(), 10);
}

#[tokio::test]
async fn each_fault_answers_like_github_then_recovers() {
    let (_dir, gh) = fake_with_small_repo().await;
    let t = gh.issue_token(INSTALLATION);
    let files = "/repos/acme/widgets/pulls/1/files";
    let pattern = "/repos/*/*/pulls/*/files";

    gh.fault("GET", pattern, Fault::Status(502), 2);
    for _ in 0..2 {
        let r = get(&gh, &t, files).await;
        assert_eq!(r.status(), 502);
        assert_eq!(r.json::<Value>().await.unwrap()["message"], "Server Error");
    }
    assert_eq!(get(&gh, &t, files).await.status(), 200);

    gh.fault("GET", pattern, Fault::Status(404), 1);
    assert_eq!(
        get(&gh, &t, files).await.json::<Value>().await.unwrap()["message"],
        "Not Found"
    );

    gh.fault(
        "POST",
        "/repos/*/*/issues",
        Fault::Forbidden {
            permission: "issues=write".into(),
        },
        1,
    );
    let r = send_json(
        &gh,
        reqwest::Method::POST,
        &t,
        "/repos/acme/widgets/issues",
        json!({"title": "x"}),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-accepted-github-permissions"], "issues=write");
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "Resource not accessible by integration"
    );
    assert_eq!(gh.issues("acme", "widgets").len(), 0);

    gh.fault("GET", "/repos/*/*/pulls/*", Fault::TooLarge, 1);
    let r = get(&gh, &t, "/repos/acme/widgets/pulls/1").await;
    assert_eq!(r.status(), 406);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "too_large"
    );

    gh.fault("GET", pattern, Fault::NotAvailable(422), 1);
    let r = get(&gh, &t, files).await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "not_available");
    assert_eq!(
        body["message"],
        "Sorry, this diff is taking too long to generate."
    );

    gh.fault(
        "GET",
        pattern,
        Fault::SecondaryRateLimit { retry_after: 7 },
        1,
    );
    let r = get(&gh, &t, files).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["retry-after"], "7");
    assert!(
        r.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );

    gh.fault(
        "GET",
        pattern,
        Fault::PrimaryRateLimit {
            reset: 1_900_000_000,
        },
        1,
    );
    let r = get(&gh, &t, files).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(r.headers()["x-ratelimit-reset"], "1900000000");

    gh.fault("GET", pattern, Fault::Slow(Duration::from_millis(300)), 1);
    let started = std::time::Instant::now();
    assert_eq!(get(&gh, &t, files).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    assert_eq!(
        get(&gh, &t, files).await.status(),
        200,
        "every fault is spent"
    );
}

#[tokio::test]
async fn diff_media_type_is_refused_past_300_files() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start().await;
    gh.add_repo(
        "acme",
        "big",
        many_files(dir.path(), 301),
        RepoOpts {
            installation: Some(INSTALLATION),
            public: false,
        },
    );
    gh.add_pull("acme", "big", 1);
    let t = gh.issue_token(INSTALLATION);
    let r = client()
        .get(format!("{}/repos/acme/big/pulls/1", gh.api_url()))
        .header("authorization", format!("token {t}"))
        .header("accept", "application/vnd.github.v3.diff")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
}

fn basic(token: &str) -> String {
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    format!("http.extraHeader=Authorization: Basic {creds}")
}

fn clone(url: &str, dest: &std::path::Path, extra: Option<String>) -> std::process::Output {
    let mut cmd = Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(e) = extra {
        cmd.args(["-c", &e]);
    }
    cmd.args(["clone", "-q", url]).arg(dest).output().unwrap()
}

#[tokio::test]
async fn git_clone_of_a_private_repo_needs_an_installation_token() {
    let (dir, gh) = fake_with_small_repo().await;
    let t = gh.issue_token(INSTALLATION);
    let url = format!("{}/ACME/widgets.git", gh.server_url());

    let denied = clone(&url, &dir.path().join("anon"), None);
    assert!(!denied.status.success());
    let wrong = clone(&url, &dir.path().join("wrong"), Some(basic("ghs_nope")));
    assert!(!wrong.status.success());

    let ok = clone(&url, &dir.path().join("ok"), Some(basic(&t)));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(dir.path().join("ok/README.md").exists());
    let fetched = Command::new("git")
        .current_dir(dir.path().join("ok"))
        .args([
            "-c",
            &basic(&t),
            "fetch",
            "-q",
            "origin",
            "refs/pull/1/head",
        ])
        .output()
        .unwrap();
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );

    let log = gh.requests();
    assert!(
        log.iter()
            .any(|r| r.path == "/ACME/widgets.git/info/refs" && r.status == 401 && !r.authed)
    );
    assert!(
        log.iter()
            .any(|r| r.path.ends_with("/git-upload-pack") && r.status == 200 && r.authed)
    );
}

#[tokio::test]
async fn contents_put_commits_to_the_bare_repo_and_refuses_a_stale_sha() {
    let (dir, gh) = fake_with_small_repo().await;
    let t = gh.issue_token(INSTALLATION);
    let bare = dir.path().join("repo.git");
    let main: Value = get(&gh, &t, "/repos/acme/widgets/git/ref/heads/main")
        .await
        .json()
        .await
        .unwrap();
    let r = send_json(
        &gh,
        reqwest::Method::POST,
        &t,
        "/repos/acme/widgets/git/refs",
        json!({"ref": "refs/heads/runbook", "sha": main["object"]["sha"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let content = base64::engine::general_purpose::STANDARD.encode("hello runbook\n");
    let r = send_json(
        &gh,
        reqwest::Method::PUT,
        &t,
        "/repos/acme/widgets/contents/docs/runbook.md",
        json!({"message": "Add runbook", "content": content, "branch": "runbook"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let update: octocrab::models::repos::FileUpdate = r.json().await.unwrap();
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "runbook"]).trim(),
        "Add runbook"
    );
    assert_eq!(
        git(&bare, &["show", "runbook:docs/runbook.md"]),
        "hello runbook\n"
    );

    let stale = send_json(
        &gh,
        reqwest::Method::PUT,
        &t,
        "/repos/acme/widgets/contents/docs/runbook.md",
        json!({"message": "again", "content": content, "branch": "runbook", "sha": "0".repeat(40)}),
    )
    .await;
    assert_eq!(stale.status(), 409);
    let ok = send_json(&gh, reqwest::Method::PUT, &t, "/repos/acme/widgets/contents/docs/runbook.md",
        json!({"message": "again", "content": content, "branch": "runbook", "sha": update.content.sha})).await;
    assert_eq!(ok.status(), 200);

    let got: octocrab::models::repos::Content = get(
        &gh,
        &t,
        "/repos/acme/widgets/contents/docs/runbook.md?ref=runbook",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(got.decoded_content().as_deref(), Some("hello runbook\n"));
    assert_eq!(
        get(&gh, &t, "/repos/acme/widgets/contents/docs/runbook.md")
            .await
            .status(),
        404,
        "not on main"
    );

    let pr = send_json(
        &gh,
        reqwest::Method::POST,
        &t,
        "/repos/acme/widgets/pulls",
        json!({"title": "Runbook", "head": "runbook", "base": "main"}),
    )
    .await;
    assert_eq!(pr.status(), 201);
    let pr: octocrab::models::pulls::PullRequest = pr.json().await.unwrap();
    assert_eq!(pr.number, 2, "PR numbers continue after seeded PR #1");
    let open: Vec<Value> = get(
        &gh,
        &t,
        "/repos/acme/widgets/pulls?head=acme:runbook&state=open",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        git(&bare, &["rev-parse", "refs/pull/2/head"]).trim(),
        git(&bare, &["rev-parse", "runbook"]).trim()
    );
}

#[tokio::test]
async fn issues_comments_and_labels_behave_like_github() {
    let (_dir, gh) = fake_with_small_repo().await;
    let t = gh.issue_token(INSTALLATION);
    let r = send_json(
        &gh,
        reqwest::Method::POST,
        &t,
        "/repos/acme/widgets/issues",
        json!({"title": "SEV2: sandbox down", "body": "details", "labels": ["incident", "SEV2"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let issue: octocrab::models::issues::Issue = r.json().await.unwrap();
    assert_eq!(issue.number, 2, "issues and PRs share one counter");
    assert_eq!(
        issue.html_url.as_str(),
        format!("{}/Acme/Widgets/issues/2", gh.server_url())
    );
    assert_eq!(
        issue
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>(),
        ["incident", "SEV2"]
    );

    let dup = send_json(
        &gh,
        reqwest::Method::POST,
        &t,
        "/repos/acme/widgets/labels",
        json!({"name": "sev2"}),
    )
    .await;
    assert_eq!(dup.status(), 422);
    assert_eq!(
        dup.json::<Value>().await.unwrap()["errors"][0]["code"],
        "already_exists"
    );

    let huge = "x".repeat(65_537);
    let r = send_json(
        &gh,
        reqwest::Method::POST,
        &t,
        "/repos/acme/widgets/issues/2/comments",
        json!({"body": huge}),
    )
    .await;
    assert_eq!(r.status(), 422);
    for i in 0..35 {
        let r = send_json(
            &gh,
            reqwest::Method::POST,
            &t,
            "/repos/acme/widgets/issues/2/comments",
            json!({"body": format!("c{i}")}),
        )
        .await;
        assert_eq!(r.status(), 201);
        if i == 0 {
            let _: octocrab::models::issues::Comment = r.json().await.unwrap();
        }
    }
    let r = get(&gh, &t, "/repos/acme/widgets/issues/2/comments").await;
    assert!(
        r.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"next\"")
    );
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 30);
    assert_eq!(gh.comments("acme", "widgets", 2).len(), 35);

    let r = send_json(
        &gh,
        reqwest::Method::PATCH,
        &t,
        "/repos/acme/widgets/issues/2",
        json!({"state": "closed", "state_reason": "not_planned", "labels": ["incident"]}),
    )
    .await;
    let closed: Value = r.json().await.unwrap();
    assert_eq!(
        (closed["state"].as_str(), closed["state_reason"].as_str()),
        (Some("closed"), Some("not_planned"))
    );
    let r = client()
        .delete(format!(
            "{}/repos/acme/widgets/issues/2/labels/INCIDENT",
            gh.api_url()
        ))
        .header("authorization", format!("token {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(gh.issues("acme", "widgets")[0].labels.is_empty());
    assert_eq!(gh.labels("acme", "widgets").len(), 2);

    gh.set_permission("acme", "widgets", "alice", "maintain");
    let p: Value = get(
        &gh,
        &t,
        "/repos/acme/widgets/collaborators/alice/permission",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (p["permission"].as_str(), p["role_name"].as_str()),
        (Some("write"), Some("maintain"))
    );
}

#[tokio::test]
async fn hook_deliveries_page_by_cursor_and_record_redeliveries() {
    let gh = FakeGitHub::start().await;
    let ids: Vec<u64> = (0..3)
        .map(|i| gh.add_hook_delivery(&format!("guid-{i}"), "issues", Some("opened"), 200))
        .collect();
    let jwt = gh.app_jwt();
    let r = client()
        .get(format!("{}/app/hook/deliveries?per_page=2", gh.api_url()))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_string();
    let page: Vec<Value> = r.json().await.unwrap();
    assert_eq!(
        page.iter()
            .map(|d| d["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let rest: Vec<Value> = client()
        .get(next)
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["id"].as_u64(), Some(ids[0]));

    let r = client()
        .post(format!(
            "{}/app/hook/deliveries/{}/attempts",
            gh.api_url(),
            ids[0]
        ))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(gh.redeliveries(), [ids[0]]);
}

#[tokio::test]
async fn octocrab_app_flow_reads_a_pull_request_through_the_fake() {
    let (_dir, gh) = fake_with_small_repo().await;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(gh.private_key_pem().as_bytes()).unwrap();
    let app = octocrab::Octocrab::builder()
        .base_uri(gh.api_url())
        .unwrap()
        .app(gh.app_id().into(), key)
        .build()
        .unwrap();
    let (crab, _token) = app
        .installation_and_token(INSTALLATION.into())
        .await
        .unwrap();
    let pr = crab.pulls("acme", "widgets").get(1).await.unwrap();
    assert_eq!(pr.head.ref_field, "feature");
    let log = gh.requests();
    assert!(
        log.iter()
            .any(|r| r.path == "/app/installations/7/access_tokens" && r.status == 201 && r.authed)
    );
    assert!(
        log.iter()
            .any(|r| r.path == "/repos/acme/widgets/pulls/1" && r.status == 200 && r.authed)
    );
}

#[test]
fn builder_gives_the_same_shas_every_time() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ra, rb) = (small_repo(a.path()), small_repo(b.path()));
    assert_eq!(
        git(&ra, &["rev-parse", "refs/pull/1/head"]),
        git(&rb, &["rev-parse", "refs/pull/1/head"])
    );
    assert_eq!(
        git(&ra, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
}

#[test]
fn webhook_signature_matches_githubs_test_vector() {
    assert_eq!(
        sign("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    assert_eq!(fixture("issues.opened")["action"], "opened");
}

#[tokio::test]
async fn answers_carry_an_etag_and_a_matching_if_none_match_gets_304() {
    let (_dir, gh) = fake_with_small_repo().await;
    let token = gh.issue_token(INSTALLATION);
    let first = get(&gh, &token, "/repos/acme/widgets/contents/README.md").await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    let again = |tag: String| {
        client()
            .get(format!(
                "{}/repos/acme/widgets/contents/README.md",
                gh.api_url()
            ))
            .header("authorization", format!("token {token}"))
            .header("if-none-match", tag)
            .send()
    };
    let unchanged = again(etag.clone()).await.unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"], etag.as_str());
    assert!(unchanged.bytes().await.unwrap().is_empty());
    let other = again("W/\"something-else\"".into()).await.unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(other.headers()["etag"], etag.as_str());
}
