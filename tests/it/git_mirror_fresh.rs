//! The git mirror's freshness and bounds: one GitHub fetch for a burst of cold
//! clones, new commits visible after the TTL and not before, a GitHub outage
//! served from the mirror (or 502 without one), upload-packs killed when their
//! client leaves, and the installation token in no clone and no log of `serve`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::git_mirror::{INSTALLATION, World, git, git_ok, stderr, walk, world};
use crate::support::fake_github::Fault;
use crate::support::git_fixture::git_str;
use crate::support::service::{AGENT_SECRET, WEBHOOK_SECRET, agent_token, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_clones_of_a_cold_repository_cost_github_one_fetch() {
    let w = world(|_| {}).await;
    // GitHub answers slowly, so the burst arrives while the first fetch runs.
    let slow = Fault::Slow(Duration::from_millis(1500));
    w.fake.fault("GET", "/acme/evals.git/info/refs", slow, 1000);
    let url = w.url("acme/evals");
    let clones = (0..50).map(|i| {
        let (dir, url, token) = (w.tmp.path().to_path_buf(), url.clone(), w.token.clone());
        tokio::spawn(async move {
            let name = format!("c{i}");
            let out = git(&dir, Some(&token), &["clone", "-q", &url, &name]).await;
            (dir.join(name), out)
        })
    });
    let clones: Vec<_> = futures_util::future::join_all(clones).await;
    let main = git_str(&w.bare, &["rev-parse", "main"]);
    for c in clones {
        let (dir, out) = c.unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(git_ok(&dir, None, &["rev-parse", "HEAD"]).await, main);
        git_ok(
            &dir,
            None,
            &["fsck", "--no-progress", "--connectivity-only"],
        )
        .await;
    }
    assert_eq!(w.github_fetches("acme/evals"), 1, "one fetch for 50 clones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_commit_on_the_pr_is_visible_after_the_ttl_and_not_before() {
    const TTL: Duration = Duration::from_secs(6);
    let mut w = world(|a| a.git_mirror_ttl = format!("{}s", TTL.as_secs())).await;
    let dir = w.tmp.path().to_path_buf();
    let started = Instant::now();
    git_ok(
        &dir,
        Some(&w.token),
        &["clone", "-q", &w.url("acme/evals"), "c"],
    )
    .await;
    // The mirror was refreshed before the clone got its refs.
    let refreshed_before = Instant::now();
    let clone = dir.join("c");
    let old = w.pr_head();
    let new = w.push_to_pr("src/new.rs", "fn new() {}\n");
    assert_eq!(w.pr_head(), new);
    git_ok(
        &clone,
        Some(&w.token),
        &["fetch", "-q", "origin", "pull/7/head"],
    )
    .await;
    let seen = git_ok(&clone, None, &["rev-parse", "FETCH_HEAD"]).await;
    assert!(
        started.elapsed() < TTL,
        "the machine took {:?}, longer than the TTL: this run shows nothing",
        started.elapsed()
    );
    assert_eq!(seen, old, "within the TTL the mirror does not ask GitHub");

    tokio::time::sleep(TTL.saturating_sub(refreshed_before.elapsed()) + Duration::from_millis(200))
        .await;
    git_ok(
        &clone,
        Some(&w.token),
        &["fetch", "-q", "origin", "pull/7/head"],
    )
    .await;
    assert_eq!(
        git_ok(&clone, None, &["rev-parse", "FETCH_HEAD"]).await,
        new
    );
    assert_eq!(w.github_fetches("acme/evals"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_down_serves_the_mirror_and_without_one_git_is_told_why() {
    const TTL: Duration = Duration::from_secs(4);
    let mut w = world(|a| a.git_mirror_ttl = format!("{}s", TTL.as_secs())).await;
    let dir = w.tmp.path().to_path_buf();
    let url = w.url("acme/evals");
    let refs = "/acme/evals.git/info/refs";
    // One failed fetch: libgit2's first request already gets the 500.
    w.fake.fault("*", refs, Fault::Status(500), 1);
    let out = git(&dir, Some(&w.token), &["clone", &url, "cold"]).await;
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("502"), "{said}");
    assert!(
        said.contains("remote: acme/evals: no mirror yet, and fetching it from GitHub failed"),
        "git prints the cause: {said}"
    );

    git_ok(&dir, Some(&w.token), &["clone", "-q", &url, "warm"]).await;
    let old = w.pr_head();
    w.push_to_pr("src/late.rs", "late\n");
    w.fake.fault("*", refs, Fault::Status(500), 1000);
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    let attempts = || w.fake.requests().iter().filter(|r| r.path == refs).count();
    let before = attempts();
    let started = Instant::now();
    let stale = dir.join("stale");
    git_ok(&dir, Some(&w.token), &["clone", "-q", &url, "stale"]).await;
    git_ok(
        &stale,
        Some(&w.token),
        &["fetch", "-q", "origin", "pull/7/head"],
    )
    .await;
    assert_eq!(
        git_ok(&stale, None, &["rev-parse", "FETCH_HEAD"]).await,
        old,
        "served from the mirror as it was"
    );
    assert!(
        started.elapsed() < TTL,
        "too slow to show anything: {:?}",
        started.elapsed()
    );
    assert_eq!(
        attempts() - before,
        1,
        "one attempt per TTL, not one per request"
    );
}

/// Commits 25 MiB of incompressible content on main: its pack is far larger than
/// the socket buffers, so upload-pack is still writing while a client holds off.
fn commit_a_big_pack(w: &mut World) -> String {
    let blobs: Vec<(String, Vec<u8>)> = (0..400)
        .map(|i| {
            let bytes = (0..64 * 1024).map(|_| fastrand::u8(..)).collect();
            (format!("blob{i}.bin"), bytes)
        })
        .collect();
    let changes: Vec<(&str, Option<&[u8]>)> = blobs
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_slice())))
        .collect();
    let tip = w.builder.commit_on("main", &changes, "25 MiB");
    w.builder.publish();
    tip
}

/// Asks upload-pack for `tip`'s whole history (protocol v0) and reads the first
/// chunk of the pack; the rest waits in the pipes while the response is held.
async fn start_pack(w: &World, client: &reqwest::Client, tip: &str) -> reqwest::Response {
    let url = w.url("acme/evals");
    let refs = client
        .get(format!("{url}/info/refs?service=git-upload-pack"))
        .basic_auth("x", Some(&w.token))
        .send()
        .await
        .unwrap();
    assert_eq!(refs.status(), 200);
    let want = format!("want {tip} no-progress\n");
    let body = format!("{:04x}{want}00000009done\n", want.len() + 4);
    let mut resp = client
        .post(format!("{url}/git-upload-pack"))
        .basic_auth("x", Some(&w.token))
        .header("content-type", "application/x-git-upload-pack-request")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.chunk().await.unwrap().is_some(), "the pack starts");
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_has_its_upload_pack_killed() {
    let mut w = world(|_| {}).await;
    let tip = commit_a_big_pack(&mut w);
    let client = reqwest::Client::new();
    let resp = start_pack(&w, &client, &tip).await;
    let mirror = w.mirror();
    assert!(
        upload_packs_on(&mirror) >= 1,
        "upload-pack is still running"
    );
    drop(resp);
    drop(client);
    let gone = eventually(Duration::from_secs(10), move || {
        let mirror = mirror.clone();
        async move { upload_packs_on(&mirror) == 0 }
    })
    .await;
    assert!(gone, "upload-pack outlived its client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_upload_pack_limit_clones_queue_then_get_503() {
    let mut w = world(|a| {
        a.git_upload_packs = "1".into();
        a.git_queue_timeout = "2s".into();
    })
    .await;
    let tip = commit_a_big_pack(&mut w);
    let client = reqwest::Client::new();
    let held = start_pack(&w, &client, &tip).await;
    let started = Instant::now();
    let out = git(
        w.tmp.path(),
        Some(&w.token),
        &["clone", &w.url("acme/evals"), "q"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it queued first"
    );
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("RESPONDER_GIT_UPLOAD_PACKS"),
        "{}",
        stderr(&out)
    );
    drop(held);
    // The slot comes back once its client is gone.
    let (dir, url, token) = (
        w.tmp.path().to_path_buf(),
        w.url("acme/evals"),
        w.token.clone(),
    );
    let ok = eventually(Duration::from_secs(10), move || {
        let (dir, url, token) = (dir.clone(), url.clone(), token.clone());
        async move {
            let name = format!("after{}", fastrand::u32(..));
            git(&dir, Some(&token), &["clone", "-q", &url, &name])
                .await
                .status
                .success()
        }
    })
    .await;
    assert!(ok, "the slot was not released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_disk_cap_no_new_repository_is_mirrored() {
    let w = world(|a| a.git_mirror_max_bytes = "1K".into()).await;
    let both = agent_token(&["acme/evals", "acme/other"], &["git:read"], 3600);
    let dir = w.tmp.path();
    git_ok(
        dir,
        Some(&both),
        &["clone", "-q", &w.url("acme/evals"), "first"],
    )
    .await;
    let out = git(dir, Some(&both), &["clone", &w.url("acme/other"), "second"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("507"), "{}", stderr(&out));
    let cap = "RESPONDER_GIT_MIRROR_MAX_BYTES";
    assert!(stderr(&out).contains(cap), "{}", stderr(&out));
    assert_eq!(w.github_fetches("acme/other"), 0);
    // The existing mirror still serves.
    git_ok(
        dir,
        Some(&both),
        &["clone", "-q", &w.url("acme/evals"), "again"],
    )
    .await;
}

/// Live `git upload-pack` processes serving `mirror` (from /proc).
fn upload_packs_on(mirror: &Path) -> usize {
    let needle = mirror.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("upload-pack") && c.contains(&needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installation_token_reaches_neither_the_clone_nor_any_log() {
    let w = world(|_| {}).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = w.tmp.path().join("serve-data");
    let log = std::fs::File::create(w.tmp.path().join("serve.log")).unwrap();
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_responder"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("RESPONDER_LISTEN", format!("127.0.0.1:{port}"))
        .env("RESPONDER_DATA_DIR", &data)
        .env("RESPONDER_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env("GITHUB_API_URL", w.fake.api_url())
        .env("GITHUB_SERVER_URL", w.fake.server_url())
        .env("GITHUB_APP_ID", w.fake.app_id().to_string())
        .env("GITHUB_APP_PRIVATE_KEY", w.fake.private_key_pem())
        .env("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("RESPONDER_AGENT_SECRET", AGENT_SECRET)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/healthz");
    let up = eventually(Duration::from_secs(30), move || {
        let health = health.clone();
        async move { reqwest::get(health).await.is_ok() }
    })
    .await;
    assert!(up, "responder serve did not start");

    let dir = w.tmp.path();
    let url = format!("{base}/v1/git/acme/evals.git");
    git_ok(dir, Some(&w.token), &["clone", "-q", &url, "c"]).await;
    let clone = dir.join("c");
    git_ok(
        &clone,
        Some(&w.token),
        &["fetch", "-q", "origin", "pull/7/head"],
    )
    .await;
    let minted = w.fake.requests().iter().any(|r| {
        r.method == "POST" && r.path == format!("/app/installations/{INSTALLATION}/access_tokens")
    });
    assert!(minted, "Responder fetched with an installation token");
    serve.kill().await.unwrap();

    let git_dir = clone.join(".git");
    for f in ["config", "FETCH_HEAD", "packed-refs"] {
        assert!(git_dir.join(f).exists(), "{f} exists");
    }
    // Every token the fake issues starts with `ghs_`.
    for file in walk(&git_dir).into_iter().chain(walk(&data)) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains("ghs_"), "a token in {}", file.display());
    }
    let config = std::fs::read_to_string(git_dir.join("config")).unwrap();
    assert!(!config.contains(&w.token), "the agent token in .git/config");
    let logs = std::fs::read_to_string(w.tmp.path().join("serve.log")).unwrap();
    assert!(
        logs.contains("fetched into mirror"),
        "logs captured: {logs}"
    );
    assert!(
        logs.contains("/v1/git/acme/evals.git"),
        "requests logged: {logs}"
    );
    assert!(
        !logs.contains("ghs_"),
        "an installation token in the logs: {logs}"
    );
    assert!(!logs.contains(&w.token), "the agent token in the logs");
}
