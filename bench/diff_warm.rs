//! Benchmark: warm (cached) `/diff` and `/files` through the real service — latency
//! p50/p99 and requests/s with 32 concurrent clients — for a PR whose unified diff
//! is about 1 MiB, and the process's peak RSS.
//!
//! Run: `cargo bench --bench diff_warm` (prints its figures; not a test).

use std::sync::Arc;
use std::time::{Duration, Instant};

use responder::Service;
use responder::settings::{Settings, SettingsArgs};

#[path = "../tests/support/mod.rs"]
// As in tests/it/main.rs: the fake GitHub answers axum `Response`s as errors.
#[allow(dead_code, clippy::result_large_err, clippy::too_many_arguments)]
mod support;

use support::fake_github::{FakeGitHub, RepoOpts};
use support::git_fixture::RepoBuilder;

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 100;
const SECRET: &str = "bench-agent-secret-0123456789abcdef";

/// A PR changing 420 files by ~30 lines each: a unified diff of about 1 MiB.
fn generate(root: &std::path::Path) -> std::path::PathBuf {
    let body = |seed: usize, v: &str| -> String {
        (0..30)
            .map(|l| format!("fn item_{l}() -> u64 {{ {seed} * {l} }} // {v}\n"))
            .collect()
    };
    let mut b = RepoBuilder::new(root);
    let base: Vec<(String, String)> = (0..420)
        .map(|i| (format!("src/m{i:04}.rs"), body(i, "old")))
        .collect();
    let refs: Vec<(&str, Option<&[u8]>)> = base
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_bytes())))
        .collect();
    b.commit_on("main", &refs, "base");
    b.branch_from("pr", "main");
    let pr: Vec<(String, String)> = (0..420)
        .map(|i| (format!("src/m{i:04}.rs"), body(i, "new")))
        .collect();
    let refs: Vec<(&str, Option<&[u8]>)> = pr
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_bytes())))
        .collect();
    b.commit_on("pr", &refs, "pr");
    b.pull(1, "pr");
    b.publish()
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// `accept`: the `Accept-Encoding` the clients send (reqwest here does not
/// decompress, so a gzip answer's size is what crossed the wire).
async fn load(
    url: String,
    token: Arc<String>,
    clients: usize,
    accept: &'static str,
) -> (f64, Duration, Duration, usize) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(PER_CLIENT);
                let mut bytes = 0;
                for _ in 0..PER_CLIENT {
                    let t = Instant::now();
                    let resp = client
                        .get(&url)
                        .bearer_auth(token.as_str())
                        .header("accept-encoding", accept)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200);
                    bytes = resp.bytes().await.unwrap().len();
                    lat.push(t.elapsed());
                }
                (lat, bytes)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut size = 0;
    for t in tasks {
        let (lat, bytes) = t.await.unwrap();
        all.extend(lat);
        size = bytes;
    }
    let elapsed = started.elapsed();
    all.sort();
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        all[all.len() / 2],
        all[all.len() * 99 / 100],
        size,
    )
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = generate(&tmp.path().join("repo"));
    let fake = FakeGitHub::start().await;
    fake.add_repo(
        "bench",
        "warm",
        &bare,
        RepoOpts {
            installation: Some(7),
            public: false,
        },
    );
    fake.add_pull("bench", "warm", 1);

    let args = SettingsArgs {
        data_dir: tmp.path().join("data"),
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
        "http://{}/v1/repos/bench/warm/pulls/1",
        listener.local_addr().unwrap()
    );
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let now = chrono::Utc::now().timestamp();
    let token = responder::agent_token::mint(
        &responder::types::Secret::new(SECRET),
        &["bench/warm".into()],
        &["diff:read".into()],
        3600,
        Some("bench"),
        now,
    )
    .unwrap();
    let token = Arc::new(token);

    let t = Instant::now();
    let cold = reqwest::Client::new()
        .get(format!("{base}/diff?via=git"))
        .bearer_auth(token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(cold.headers()["x-responder-source"], "git");
    let cold_bytes = cold.bytes().await.unwrap().len();
    println!(
        "diff_warm: PR of 420 files, unified diff {:.2} MiB; cold fetch + diff through the service: {:.0} ms",
        cold_bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64() * 1e3
    );
    for (route, clients, accept) in [
        ("diff", 1, "identity"),
        ("files", 1, "identity"),
        ("diff", CLIENTS, "identity"),
        ("files", CLIENTS, "identity"),
        ("diff", 1, "gzip"),
        ("diff", CLIENTS, "gzip"),
        ("files", CLIENTS, "gzip"),
    ] {
        let (rps, p50, p99, size) = load(
            format!("{base}/{route}?via=git"),
            token.clone(),
            clients,
            accept,
        )
        .await;
        println!(
            "  warm /{route:<5} {accept:<8} {clients:>2} clients × {PER_CLIENT}: {rps:>7.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({:.3} MiB per answer; goal p99 < 10 ms)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            size as f64 / 1048576.0
        );
    }
    println!(
        "  peak RSS of the whole bench process (service, fake GitHub, clients): {:.1} MiB (goal < 200 MiB)",
        peak_rss_mib()
    );
}
