//! Benchmark: signed deliveries accepted and durably stored per second over loopback,
//! with 64 concurrent senders, and ack latency p50/p99 — beside a trivial axum route
//! (the ceiling) and Probot 14 with a no-op `issues` handler, measured in the same run
//! with the same load on the same cores.
//!
//! Run: `cargo bench --bench webhook_ingest` (prints one table; not a test).
//! Responder is measured twice, each on a fresh store: intake alone, then with the
//! worker draining the inbox beside it (`INGEST_ONLY=1` skips the second). Probot
//! needs `npm` and `node` on PATH: probot@14 is installed once into
//! `target/probot-bench/` and reused; without npm the row says why it is missing.
//! Probot logs at `error` unless `PROBOT_LOG_LEVEL` says otherwise (its output goes to
//! /dev/null). `REPOS=N` spreads the deliveries over N repositories (default 1: the worker's
//! strictly serial worst case, every delivery in one repository's order).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use responder::Service;
use responder::settings::{Settings, SettingsArgs};
use responder::types::Secret;
use responder::webhook::signature;

const SENDERS: usize = 64;
const PER_SENDER: usize = 300;
const SECRET: &str = "bench-secret";

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    ok: usize,
}

/// Sender `s` posts `bodies[s % bodies.len()]`.
async fn load(url: &str, bodies: Arc<Vec<Vec<u8>>>, sign: bool) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(SENDERS)
        .build()
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let (client, url, bodies) = (client.clone(), url.to_string(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let body = &bodies[s % bodies.len()];
            let mut lat = Vec::with_capacity(PER_SENDER);
            let mut ok = 0;
            let secret = Secret::new(SECRET);
            for i in 0..PER_SENDER {
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-github-event", "issues")
                    .header(
                        "x-github-delivery",
                        format!("bench-{s}-{i}-{}", uuid::Uuid::new_v4()),
                    );
                if sign {
                    req = req.header("x-hub-signature-256", signature::sign(&secret, body));
                }
                let t = Instant::now();
                let resp = req.body(body.to_vec()).send().await.unwrap();
                lat.push(t.elapsed());
                // Responder answers 202, Probot 200.
                ok += usize::from(resp.status().is_success());
            }
            (lat, ok)
        }));
    }
    let mut all = Vec::new();
    let mut ok = 0;
    for t in tasks {
        let (lat, n) = t.await.unwrap();
        all.extend(lat);
        ok += n;
    }
    let elapsed = started.elapsed();
    all.sort();
    Figures {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
        ok,
    }
}

/// One row of the table; `None` figures print the reason instead.
struct Row {
    name: &'static str,
    figures: Result<Figures, String>,
}

fn print_table(rows: &[Row]) {
    let probot = rows
        .iter()
        .find(|r| r.name.starts_with("Probot"))
        .and_then(|r| r.figures.as_ref().ok())
        .map(|f| f.per_second);
    println!(
        "{:<44} {:>12} {:>9} {:>9} {:>7} {:>9}",
        "", "deliveries/s", "p50 ms", "p99 ms", "2xx", "× Probot"
    );
    for row in rows {
        match &row.figures {
            Ok(f) => println!(
                "{:<44} {:>12.0} {:>9.2} {:>9.2} {:>7} {:>9}",
                row.name,
                f.per_second,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.ok,
                probot.map_or("-".into(), |p| format!("{:.2}", f.per_second / p)),
            ),
            Err(why) => println!("{:<44} skipped: {why}", row.name),
        }
    }
}

/// A Responder service on a fresh store, serving on a loopback port.
struct Responder {
    url: String,
    store: responder::store::Store,
    _stop: tokio::sync::watch::Sender<bool>,
    _data: tempfile::TempDir,
}

async fn start_responder(worker: bool) -> Responder {
    let data = tempfile::tempdir().unwrap();
    let args = SettingsArgs {
        data_dir: data.path().to_path_buf(),
        github_webhook_secret: Some(SECRET.into()),
        ..SettingsArgs::default()
    };
    let service = Service::new(Settings::from_args(&args).unwrap())
        .await
        .unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    if worker {
        service.spawn_worker(stop_rx);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Responder {
        url,
        store: service.state.store.clone(),
        _stop: stop,
        _data: data,
    }
}

/// Measures one Responder and checks that every acknowledged delivery is stored.
async fn measure_responder(r: &Responder, bodies: Arc<Vec<Vec<u8>>>) -> Figures {
    let f = load(&r.url, bodies, true).await;
    let stored = r.store.list_deliveries(None, i64::MAX).await.unwrap().len();
    assert_eq!(
        stored, f.ok,
        "every acknowledged delivery must be in the store"
    );
    f
}

/// Waits until the worker has handled everything (so the next row does not share the
/// cores with its backlog) and says how long that took.
async fn drain(r: &Responder) -> Duration {
    let started = Instant::now();
    while r.store.queue_depth().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// The Probot app: a no-op `issues` handler, run by Probot's own `run()` (its server,
/// signature check and routing), with a throwaway RSA key (Probot wants an App id
/// and key even when it never calls GitHub).
const PROBOT_APP: &str = r#"import { generateKeyPairSync } from "node:crypto";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
process.env.PRIVATE_KEY = privateKey.export({ type: "pkcs1", format: "pem" });
const { run } = await import("probot");
await run((app) => { app.on("issues", async () => {}); });
"#;

/// Kills the Node process when the benchmark ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs probot@14 into `dir` unless an earlier run did.
fn install_probot(dir: &Path) -> Result<(), String> {
    if dir.join("node_modules/probot/package.json").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(
        dir.join("package.json"),
        r#"{"name":"probot-bench","private":true,"type":"module"}"#,
    )
    .map_err(|e| e.to_string())?;
    println!("installing probot@14 into {} (once)", dir.display());
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "probot@14",
        ])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("npm did not start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm install probot@14 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Starts Probot on a free loopback port; returns the process and its webhook URL once
/// it answers.
async fn start_probot() -> Result<(Child, String), String> {
    if !on_path("npm") || !on_path("node") {
        return Err("npm or node is not on PATH (install Node.js 22+ to compare)".into());
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/probot-bench");
    install_probot(&dir)?;
    std::fs::write(dir.join("app.mjs"), PROBOT_APP).map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("node")
        .arg("app.mjs")
        .current_dir(&dir)
        .env("APP_ID", "1")
        .env("WEBHOOK_SECRET", SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        // Production mode. Error-level logs by default, as Responder logs nothing here
        // (no subscriber); `PROBOT_LOG_LEVEL=info` is Probot's own default.
        .env("NODE_ENV", "production")
        .env(
            "LOG_LEVEL",
            std::env::var("PROBOT_LOG_LEVEL").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("node did not start: {e}"))?;
    let child = Child(child);
    let url = format!("http://127.0.0.1:{port}/api/github/webhooks");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Unsigned: any answer (400) means it is listening.
        if client.post(&url).body("{}").send().await.is_ok() {
            return Ok((child, url));
        }
        if Instant::now() > deadline {
            return Err("Probot did not answer on its port within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fixture_bodies() -> (Arc<Vec<Vec<u8>>>, usize) {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github/webhooks/issues.opened.json"
    ))
    .unwrap();
    let repos: usize = std::env::var("REPOS").map_or(1, |r| r.parse().expect("REPOS=N"));
    let bodies = match repos {
        // GitHub's bytes as they are.
        1 => vec![raw],
        _ => {
            let fixture: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            (0..repos)
                .map(|r| {
                    let mut v = fixture.clone();
                    v["repository"]["full_name"] = format!("bench/repo-{r}").into();
                    serde_json::to_vec(&v).unwrap()
                })
                .collect()
        }
    };
    (Arc::new(bodies), repos)
}

#[tokio::main]
async fn main() {
    let (bodies, repos) = fixture_bodies();
    let with_worker = std::env::var("INGEST_ONLY").is_err();
    println!(
        "webhook ingest: {SENDERS} concurrent senders × {PER_SENDER} deliveries of {} bytes over loopback, {repos} repositories",
        bodies[0].len(),
    );
    let mut rows = Vec::new();

    let trivial =
        axum::Router::new().route("/noop", post(|| async { axum::http::StatusCode::ACCEPTED }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trivial_url = format!("http://{}/noop", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, trivial).await.unwrap() });
    // Warm the client and the loopback path once.
    load(&trivial_url, bodies.clone(), false).await;
    rows.push(Row {
        name: "trivial axum route (ceiling)",
        figures: Ok(load(&trivial_url, bodies.clone(), false).await),
    });

    let alone = start_responder(false).await;
    rows.push(Row {
        name: "Responder POST /webhook, intake alone",
        figures: Ok(measure_responder(&alone, bodies.clone()).await),
    });
    drop(alone);

    if with_worker {
        let busy = start_responder(true).await;
        let f = measure_responder(&busy, bodies.clone()).await;
        let drained = drain(&busy).await;
        println!(
            "worker: the backlog left when the senders stopped was handled {:.2} s later",
            drained.as_secs_f64()
        );
        rows.push(Row {
            name: "Responder POST /webhook, worker draining",
            figures: Ok(f),
        });
    }

    let probot = match start_probot().await {
        Ok((child, url)) => {
            // Warm V8's JIT with one full round, as the Rust side is warm by nature.
            load(&url, bodies.clone(), true).await;
            let f = load(&url, bodies.clone(), true).await;
            drop(child);
            Ok(f)
        }
        Err(why) => {
            println!("Probot skipped: {why}");
            Err(why)
        }
    };
    rows.push(Row {
        name: "Probot 14, no-op issues handler",
        figures: probot,
    });
    print_table(&rows);
}
