//! Benchmark: a warm clone of a 6,000-file repository through Responder's git
//! mirror beside the same clone straight from the fake GitHub's smart HTTP (`git
//! http-backend`), as a ratio (goal ≤ 1.2×). Both clones authenticate the same way
//! (401, then the credential helper): with an agent token through Responder, with
//! an installation token straight from GitHub. Timed twice: the whole clone, and
//! the transfer alone (`--no-checkout`: the part Responder serves).
//!
//! Run: `cargo bench --bench git_clone` (prints its figures; not a test).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use responder::Service;
use responder::settings::{Settings, SettingsArgs};

#[path = "../tests/support/mod.rs"]
// As in tests/it/main.rs: the fake GitHub answers axum `Response`s as errors.
#[allow(dead_code, clippy::result_large_err, clippy::too_many_arguments)]
mod support;

use support::fake_github::{FakeGitHub, RepoOpts};
use support::git_fixture::{RepoBuilder, git_env};

const FILES: usize = 6000;
const ROUNDS: usize = 9;
const SECRET: &str = "bench-agent-secret-0123456789abcdef";

/// `main` with `FILES` source-like files in 60 directories, and PR #1 on top.
fn generate(root: &Path) -> PathBuf {
    let mut b = RepoBuilder::new(root);
    let files: Vec<(String, String)> = (0..FILES)
        .map(|i| {
            let body: String = (0..20)
                .map(|l| format!("pub fn item_{i}_{l}() -> u64 {{ {i} * {l} + 7 }}\n"))
                .collect();
            (format!("src/d{:02}/m{i:05}.rs", i % 60), body)
        })
        .collect();
    let changes: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_bytes())))
        .collect();
    b.commit_on("main", &changes, "6000 files");
    b.branch_from("pr", "main");
    b.commit_on(
        "pr",
        &[("src/d00/m00000.rs", Some(&b"changed\n"[..]))],
        "pr",
    );
    b.pull(1, "pr");
    b.publish()
}

/// One `git clone` into a fresh directory under `dir`, with `user` and the token
/// from a credential helper; its wall time.
fn clone(dir: &Path, url: &str, (user, token): (&str, &str), checkout: bool) -> Duration {
    let target = dir.join(format!("clone-{}", fastrand::u64(..)));
    let mut cmd = std::process::Command::new("git");
    let helper =
        format!("credential.helper=!f(){{ echo username={user}; echo password=$CLONE_TOKEN; }}; f");
    cmd.envs(git_env())
        .env("CLONE_TOKEN", token)
        .args(["-c", &helper, "clone", "-q"]);
    if !checkout {
        cmd.arg("--no-checkout");
    }
    cmd.arg(url).arg(&target);
    let started = Instant::now();
    let out = cmd.output().expect("run git clone");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "git clone {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if checkout {
        let checked_out = std::fs::read_dir(target.join("src/d00")).unwrap().count();
        assert_eq!(checked_out, FILES / 60, "a complete checkout");
    }
    std::fs::remove_dir_all(&target).unwrap();
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = generate(&tmp.path().join("repo"));
    let fake = FakeGitHub::start().await;
    let opts = RepoOpts {
        installation: Some(7),
        public: false,
    };
    fake.add_repo("bench", "big", &bare, opts);
    fake.add_pull("bench", "big", 1);

    let args = SettingsArgs {
        data_dir: tmp.path().join("data"),
        github_api_url: fake.api_url(),
        github_server_url: fake.server_url(),
        agent_secret: Some(SECRET.into()),
        github_app_id: Some(fake.app_id().to_string()),
        github_app_private_key: Some(fake.private_key_pem().to_string()),
        // Warm for the whole run: no fetch from GitHub inside a measured clone.
        git_mirror_ttl: "1h".into(),
        ..SettingsArgs::default()
    };
    let service = Service::new(Settings::from_args(&args).unwrap())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let via = format!(
        "http://{}/v1/git/bench/big.git",
        listener.local_addr().unwrap()
    );
    let direct = format!("{}/bench/big.git", fake.server_url());
    let http = service.serve_http(listener, std::future::pending());
    tokio::spawn(async move { http.await.unwrap() });
    let now = chrono::Utc::now().timestamp();
    let token = responder::agent_token::mint(
        &responder::types::Secret::new(SECRET),
        &["bench/big".into()],
        &["git:read".into()],
        3600,
        Some("bench"),
        now,
    )
    .unwrap();

    let installation_token = fake.issue_token(7);
    let dir = tmp.path().join("clones");
    std::fs::create_dir_all(&dir).unwrap();
    let (d, v, t) = (dir.clone(), via.clone(), token.clone());
    let cold = tokio::task::spawn_blocking(move || clone(&d, &v, ("x", &t), true))
        .await
        .unwrap();
    let pack = std::fs::read_dir(tmp.path().join("data/git/bench/big.git/objects/pack"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .map(|e| e.metadata().unwrap().len())
        .sum::<u64>();
    let rounds = tokio::task::spawn_blocking(move || {
        // Alternating, so a machine busy with something else slows both alike.
        let github = ("x-access-token", installation_token.as_str());
        let agent = ("x", token.as_str());
        let mut figures = Vec::new();
        for checkout in [true, false] {
            let (mut through, mut straight) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                straight.push(clone(&dir, &direct, github, checkout));
                through.push(clone(&dir, &via, agent, checkout));
            }
            figures.push((checkout, median(through), median(straight)));
        }
        figures
    })
    .await
    .unwrap();
    println!(
        "git_clone: {FILES} files, pack {:.2} MiB; cold clone through Responder (fetch from GitHub included): {:.0} ms",
        pack as f64 / 1048576.0,
        ms(cold)
    );
    for (checkout, through, straight) in rounds {
        let what = if checkout {
            "warm clone"
        } else {
            "warm clone --no-checkout"
        };
        println!(
            "  {what:<25} median of {ROUNDS}: through Responder {:>5.0} ms, straight from the fake GitHub {:>5.0} ms: {:.2}× (goal ≤ 1.2×)",
            ms(through),
            ms(straight),
            through.as_secs_f64() / straight.as_secs_f64()
        );
    }
}
