//! Benchmark: a cold PR diff through the HTTP route of a `responder serve` process
//! (`GET …/pulls/1/diff`, request to last byte, with the files endpoint answering 404
//! as in issue 15) against the git CLI's `git init` + `git fetch` + `git merge-base` +
//! `git diff --no-color -M` of the same refs from the same smart-HTTP server, for PRs
//! of 500, 5,000 and 20,000 files; then the diff engine alone against `git diff`
//! alone in the same mirror. Prints medians, ranges, ratios and the service's peak
//! RSS at each size.
//!
//! Run: `cargo bench --bench diff_fallback` (`SIZES=5000` for one size, `RUNS=n`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::process::{Child, Command, Stdio};

use responder::diff::diff;
use responder::types::Sha;

#[path = "../tests/support/mod.rs"]
// As in tests/it/main.rs: the fake GitHub answers axum `Response`s as errors.
#[allow(dead_code, clippy::result_large_err, clippy::too_many_arguments)]
mod support;

use support::fake_github::{FakeGitHub, Fault, RepoOpts};
use support::git_fixture::{RepoBuilder, git_bytes};

const SECRET: &str = "bench-agent-secret-0123456789abcdef";
const INSTALLATION: u64 = 7;

fn body(seed: usize, lines: usize) -> String {
    (0..lines)
        .map(|l| format!("    let value_{l} = compute({seed}, {l}); // line {l} of file {seed}\n"))
        .collect()
}

/// A PR of `n` changed files in a base of 1.2·n: 84% modified, 4% deleted, 8% added,
/// 4% renamed with edits (for n = 5,000: 4,200 / 200 / 400 / 200). Then main moves on
/// (2% other files). Returns the bare repository.
fn generate(root: &Path, n: usize) -> PathBuf {
    let path = |i: usize| format!("pkg{:02}/module_{i:05}.rs", i % 60);
    let (modified, deleted, renamed, added) = (n * 84 / 100, n * 4 / 100, n * 4 / 100, n * 8 / 100);
    let mut b = RepoBuilder::new(root);
    let base: Vec<(String, Option<String>)> = (0..n * 12 / 10)
        .map(|i| (path(i), Some(body(i, 30 + i % 20))))
        .collect();
    b.commit_on("main", &changes(&base), "base");
    b.branch_from("pr", "main");
    let mut pr: Vec<(String, Option<String>)> = Vec::new();
    for i in 0..modified {
        let text = body(i, 30 + i % 20).replacen("compute(", "compute_v2(", 2) + "// appended\n";
        pr.push((path(i), Some(text)));
    }
    pr.extend((modified..modified + deleted).map(|i| (path(i), None)));
    for i in modified + deleted..modified + deleted + renamed {
        pr.push((path(i), None));
        pr.push((
            format!("moved/{}", path(i)),
            Some(body(i, 30 + i % 20) + "// moved\n"),
        ));
    }
    pr.extend((0..added).map(|i| (format!("new/file_{i:05}.rs"), Some(body(100_000 + i, 25)))));
    b.commit_on("pr", &changes(&pr), "pr");
    let moved_on = n + n / 50;
    let main: Vec<(String, Option<String>)> = (n..moved_on)
        .map(|i| (path(i), Some(body(i, 10))))
        .collect();
    b.commit_on("main", &changes(&main), "main moves on");
    b.pull(1, "pr");
    let bare = b.publish();
    git_bytes(&bare, &["repack", "-a", "-d", "-q"]);
    bare
}

/// Borrows owned (path, content) pairs as the builder's changes.
fn changes(owned: &[(String, Option<String>)]) -> Vec<(&str, Option<&[u8]>)> {
    owned
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref().map(str::as_bytes)))
        .collect()
}

/// Median, fastest and slowest, in seconds.
fn spread(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let s = |d: Duration| d.as_secs_f64();
    (s(v[v.len() / 2]), s(v[0]), s(v[v.len() - 1]))
}

fn show((median, lo, hi): (f64, f64, f64)) -> String {
    format!("median {median:.3} s (range {lo:.3}–{hi:.3})")
}

/// A fresh `responder serve` process (empty mirror, empty disk cache) of its own,
/// so its peak RSS is its own; returns the PR's URL and the process.
async fn cold_service(fake: &FakeGitHub, data_dir: PathBuf) -> (String, Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_responder"))
        .arg("serve")
        .env("RESPONDER_LISTEN", format!("127.0.0.1:{port}"))
        .env("RESPONDER_DATA_DIR", &data_dir)
        .env("GITHUB_APP_ID", fake.app_id().to_string())
        .env("GITHUB_APP_PRIVATE_KEY", fake.private_key_pem())
        .env("GITHUB_WEBHOOK_SECRET", "bench-webhook-secret")
        .env("GITHUB_API_URL", fake.api_url())
        .env("GITHUB_SERVER_URL", fake.server_url())
        .env("RESPONDER_AGENT_SECRET", SECRET)
        .env("RESPONDER_REDELIVERY_INTERVAL", "0")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("start responder serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return (format!("{base}/v1/repos/bench/big/pulls/1/diff"), child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("responder serve did not start");
}

/// The peak RSS of process `pid` so far, in KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn agent_token() -> String {
    responder::agent_token::mint(
        &responder::types::Secret::new(SECRET),
        &["bench/big".into()],
        &["diff:read".into()],
        3600,
        Some("bench"),
        chrono::Utc::now().timestamp(),
    )
    .unwrap()
}

/// git's own init + fetch + merge-base + diff into a new bare repository (Responder
/// creates its mirror of a repository it has not seen too).
fn cli_run(dir: &Path, url: &str) -> (Duration, Duration, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let t0 = Instant::now();
    git_bytes(dir, &["init", "-q", "--bare"]);
    git_bytes(
        dir,
        &[
            "fetch",
            "-q",
            "--no-tags",
            url,
            "+refs/pull/1/head:refs/pull/1/head",
            "+refs/heads/main:refs/heads/main",
        ],
    );
    let fetched = t0.elapsed();
    let mb = String::from_utf8(git_bytes(
        dir,
        &["merge-base", "refs/heads/main", "refs/pull/1/head"],
    ))
    .unwrap();
    let out = git_bytes(
        dir,
        &["diff", "--no-color", "-M", mb.trim(), "refs/pull/1/head"],
    );
    (t0.elapsed(), fetched, out)
}

async fn bench_size(n: usize, runs: usize, root: &Path) {
    let started = Instant::now();
    let bare = tokio::task::block_in_place(|| generate(&root.join("fixture"), n));
    eprintln!("{n} files: fixture generated in {:.1?}", started.elapsed());
    let fake = FakeGitHub::start().await;
    // Public, so the git CLI fetches anonymously; Responder still goes through the
    // App's installation for the API.
    let opts = RepoOpts {
        installation: Some(INSTALLATION),
        public: true,
    };
    fake.add_repo("bench", "big", &bare, opts);
    fake.add_pull("bench", "big", 1);
    // The files endpoint fails as in the issue's measurement.
    fake.fault(
        "GET",
        "/repos/bench/big/pulls/1/files",
        Fault::Status(404),
        u32::MAX,
    );
    // The fake computes a PR's diff on its first `GET pulls/N`; GitHub has it ready.
    let gh_token = fake.issue_token(INSTALLATION);
    let primed = reqwest::Client::new()
        .get(format!("{}/repos/bench/big/pulls/1", fake.api_url()))
        .header("authorization", format!("token {gh_token}"))
        .header("user-agent", "bench")
        .send()
        .await
        .unwrap();
    assert_eq!(primed.status(), 200);
    let git_url = format!("{}/bench/big.git", fake.server_url());
    let token = agent_token();

    // Warm-up of both sides (page cache, the fake's first JWT), not measured.
    let (_, _, cli_output) = tokio::task::block_in_place(|| cli_run(&root.join("cli-w"), &git_url));
    let mut peak = 0;
    let (mut ours, mut cli, mut cli_fetch) = (Vec::new(), Vec::new(), Vec::new());
    let mut identical = true;
    let mut last_dir = PathBuf::new();
    for run in 0..runs {
        // Alternate the two so a noisy neighbour hits both alike.
        let dir = root.join(format!("data-{run}"));
        let (url, mut service) = cold_service(&fake, dir.clone()).await;
        let client = reqwest::Client::new();
        let t0 = Instant::now();
        let resp = client
            .get(&url)
            .bearer_auth(&token)
            .header("accept-encoding", "identity")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        assert_eq!(resp.headers()["x-responder-source"], "git");
        let bytes = resp.bytes().await.unwrap();
        let took = t0.elapsed();
        ours.push(took);
        identical &= bytes[..] == cli_output[..];
        // Past the answer, the disk cache write; then the process's peak is known.
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(peak_kib(service.id()));
        let _ = service.kill();
        let _ = service.wait();
        last_dir = dir;

        let cli_dir = root.join(format!("cli-{run}"));
        let (total, fetched, out) = tokio::task::block_in_place(|| cli_run(&cli_dir, &git_url));
        identical &= out == cli_output;
        cli.push(total);
        cli_fetch.push(fetched);
        std::fs::remove_dir_all(cli_dir).unwrap();
        eprintln!(
            "  run {run}: Responder {:.3} s, git CLI {:.3} s",
            took.as_secs_f64(),
            total.as_secs_f64()
        );
    }

    // The diff engine alone against `git diff` alone, in the last run's mirror.
    let mirror = last_dir.join("git/bench/big.git");
    let rev = |r: &str| {
        let out = git_bytes(&mirror, &["rev-parse", r]);
        Sha::new(String::from_utf8(out).unwrap().trim()).unwrap()
    };
    let (base, head) = (rev("refs/heads/main"), rev("refs/pull/1/head"));
    let mb = String::from_utf8(git_bytes(
        &mirror,
        &["merge-base", base.as_str(), head.as_str()],
    ))
    .unwrap();
    let (mut engine, mut git_diff) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let d = tokio::task::block_in_place(|| diff(&mirror, &base, &head).unwrap());
        engine.push(t.elapsed());
        identical &= d.unified == cli_output;
        let t = Instant::now();
        git_bytes(
            &mirror,
            &["diff", "--no-color", "-M", mb.trim(), head.as_str()],
        );
        git_diff.push(t.elapsed());
    }
    for run in 0..runs {
        let _ = std::fs::remove_dir_all(root.join(format!("data-{run}")));
    }

    let (ours, cli, engine, git_diff) =
        (spread(ours), spread(cli), spread(engine), spread(git_diff));
    println!(
        "diff_fallback: PR of {n} changed files ({:.1} MiB unified diff), {runs} runs each",
        cli_output.len() as f64 / 1048576.0
    );
    println!(
        "  Responder GET /diff, cold (request → last byte): {}",
        show(ours)
    );
    println!(
        "  git CLI init + fetch + merge-base + diff -M:     {} (init + fetch median {:.3} s)",
        show(cli),
        spread(cli_fetch).0
    );
    println!(
        "  ratio Responder / git CLI: {:.2}x (goal <= 1.0x)",
        ours.0 / cli.0
    );
    println!(
        "  diff engine alone: {}   git diff alone: {}   ratio {:.2}x",
        show(engine),
        show(git_diff),
        engine.0 / git_diff.0
    );
    println!(
        "  peak RSS of the responder serve process: {:.1} MiB (goal < 200 MiB)",
        peak as f64 / 1024.0
    );
    println!("  answers byte-identical to the git CLI: {identical}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // RUST_LOG=responder=info shows where a cold request's time goes.
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let sizes: Vec<usize> = std::env::var("SIZES")
        .unwrap_or_else(|_| "500,5000,20000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        bench_size(n, runs, tmp.path()).await;
    }
}
