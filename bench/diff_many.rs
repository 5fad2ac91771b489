//! Benchmark: 50 agents ask at once for 50 different cold PRs of one repository
//! (`GET …/pulls/N/diff?via=git` on a fresh service). Prints the median and slowest
//! answer and the number of fetches the git server saw, beside, measured in the same
//! run: one cold PR through the same route, the git CLI fetching all 50 PRs in one
//! `git fetch`, and 50 mirror fetches one after another (what one fetch per PR
//! costs, however they are ordered).
//!
//! Run: `cargo bench --bench diff_many` (`PRS=n` to change the count, `RUNS=n`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use responder::Service;
use responder::diff::{Mirrors, pr_refspecs};
use responder::settings::{Settings, SettingsArgs};
use responder::types::{PrNumber, RepoName};

#[path = "../tests/support/mod.rs"]
// As in tests/it/main.rs: the fake GitHub answers axum `Response`s as errors.
#[allow(dead_code, clippy::result_large_err, clippy::too_many_arguments)]
mod support;

use support::fake_github::{FakeGitHub, RepoOpts};
use support::git_fixture::{RepoBuilder, git_bytes};

const SECRET: &str = "bench-agent-secret-0123456789abcdef";
const INSTALLATION: u64 = 7;
const FILES_PER_PR: usize = 40;

fn body(seed: usize, lines: usize, v: &str) -> String {
    (0..lines)
        .map(|l| format!("    let value_{l} = compute({seed}, {l}); // {v}\n"))
        .collect()
}

/// A base of 3,000 files; PR k (1..=prs) edits its own 40 files and adds one.
fn generate(root: &Path, prs: usize) -> PathBuf {
    let path = |i: usize| format!("pkg{:02}/module_{i:05}.rs", i % 30);
    let mut b = RepoBuilder::new(root);
    let base: Vec<(String, Option<String>)> = (0..3000)
        .map(|i| (path(i), Some(body(i, 40, "base"))))
        .collect();
    b.commit_on("main", &changes(&base), "base");
    for k in 1..=prs {
        let branch = format!("pr{k}");
        b.branch_from(&branch, "main");
        let mut files: Vec<(String, Option<String>)> = (0..FILES_PER_PR)
            .map(|j| {
                let i = (k * FILES_PER_PR + j) % 3000;
                (path(i), Some(body(i, 40, &format!("pr {k}"))))
            })
            .collect();
        files.push((format!("new/pr_{k:03}.rs"), Some(body(k, 20, "new"))));
        b.commit_on(&branch, &changes(&files), &format!("pr {k}"));
        b.pull(k as u64, &branch);
    }
    let bare = b.publish();
    git_bytes(&bare, &["repack", "-a", "-d", "-q"]);
    bare
}

fn changes(owned: &[(String, Option<String>)]) -> Vec<(&str, Option<&[u8]>)> {
    owned
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref().map(str::as_bytes)))
        .collect()
}

async fn cold_service(
    fake: &FakeGitHub,
    data_dir: PathBuf,
) -> (String, tokio::task::JoinHandle<()>) {
    let args = SettingsArgs {
        data_dir,
        github_api_url: fake.api_url(),
        github_server_url: fake.server_url(),
        agent_secret: Some(SECRET.into()),
        github_app_id: Some(fake.app_id().to_string()),
        github_app_private_key: Some(fake.private_key_pem().to_string()),
        ..SettingsArgs::default()
    };
    let service = Service::new(Settings::from_args(&args).unwrap())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://{}/v1/repos/bench/many/pulls",
        listener.local_addr().unwrap()
    );
    let router = service.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, server)
}

fn agent_token() -> String {
    responder::agent_token::mint(
        &responder::types::Secret::new(SECRET),
        &["bench/many".into()],
        &["diff:read".into()],
        3600,
        Some("bench"),
        chrono::Utc::now().timestamp(),
    )
    .unwrap()
}

async fn get_diff(client: &reqwest::Client, url: String, token: &str) -> Duration {
    let t = Instant::now();
    let resp = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.bytes().await.unwrap();
    t.elapsed()
}

/// One ref advertisement per fetch, however many negotiation rounds follow.
fn fetches(fake: &FakeGitHub) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(".git/info/refs") && r.status == 200)
        .count()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // RUST_LOG=responder=info shows where the burst's time goes.
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (prs, runs) = (env("PRS", 50), env("RUNS", 3));
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let bare = tokio::task::block_in_place(|| generate(&tmp.path().join("fixture"), prs));
    eprintln!(
        "fixture of {prs} PRs generated in {:.1?}",
        started.elapsed()
    );
    let fake = FakeGitHub::start().await;
    // Public, so the git CLI fetches anonymously; Responder still goes through the
    // App's installation for the API.
    let opts = RepoOpts {
        installation: Some(INSTALLATION),
        public: true,
    };
    fake.add_repo("bench", "many", &bare, opts);
    let client = reqwest::Client::new();
    let gh_token = fake.issue_token(INSTALLATION);
    for k in 1..=prs {
        fake.add_pull("bench", "many", k as u64);
        // The fake computes a PR's diff on its first `GET pulls/N`; GitHub has it ready.
        let r = client
            .get(format!("{}/repos/bench/many/pulls/{k}", fake.api_url()))
            .header("authorization", format!("token {gh_token}"))
            .header("user-agent", "bench")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let token = agent_token();
    let git_url = format!("{}/bench/many.git", fake.server_url());

    println!(
        "diff_many: {prs} agents at once, each asking for a different cold PR of one repository, {runs} runs"
    );
    for run in 0..runs {
        // One cold PR alone: one fetch and one diff.
        let (base, server) = cold_service(&fake, tmp.path().join(format!("one-{run}"))).await;
        let one = get_diff(&client, format!("{base}/1/diff?via=git"), &token).await;
        server.abort();

        // The git CLI: every PR in one fetch.
        let dir = tmp.path().join(format!("cli-{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        git_bytes(&dir, &["init", "-q", "--bare"]);
        let mut args = vec![
            "fetch".to_string(),
            "-q".into(),
            "--no-tags".into(),
            git_url.clone(),
        ];
        args.push("+refs/heads/main:refs/heads/main".into());
        args.extend((1..=prs).map(|k| format!("+refs/pull/{k}/head:refs/pull/{k}/head")));
        let t = Instant::now();
        tokio::task::block_in_place(|| {
            git_bytes(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
        });
        let cli = t.elapsed();

        // One mirror fetch per PR, in a row.
        let mirrors = Mirrors::new(tmp.path().join(format!("serial-{run}")));
        let repo: RepoName = "bench/many".parse().unwrap();
        let t = Instant::now();
        tokio::task::block_in_place(|| {
            for k in 1..=prs {
                let specs = pr_refspecs(PrNumber(k as u64), "main").unwrap();
                mirrors.fetch(&repo, &git_url, None, &specs).unwrap();
            }
        });
        let serial = t.elapsed();

        // All at once on a fresh service.
        let (base, server) = cold_service(&fake, tmp.path().join(format!("many-{run}"))).await;
        fake.clear_requests();
        let calls: Vec<_> = (1..=prs)
            .map(|k| {
                let (client, url, token) = (
                    client.clone(),
                    format!("{base}/{k}/diff?via=git"),
                    token.clone(),
                );
                tokio::spawn(async move { get_diff(&client, url, &token).await })
            })
            .collect();
        let mut times = Vec::new();
        for c in calls {
            times.push(c.await.unwrap());
        }
        server.abort();
        times.sort();
        println!(
            "  run {run}: {prs} at once: median {:.3} s, slowest {:.3} s, {} fetches   |   one cold PR alone {:.3} s   git CLI fetching all {prs} PRs at once {:.3} s   {prs} mirror fetches in a row {:.3} s   slowest / one PR alone {:.2}x",
            secs(times[times.len() / 2]),
            secs(times[times.len() - 1]),
            fetches(&fake),
            secs(one),
            secs(cli),
            secs(serial),
            secs(times[times.len() - 1]) / secs(one)
        );
    }
}
