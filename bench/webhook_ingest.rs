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
    /// CPU time per delivery of the sender and the server together (both run on
    /// these cores): steadier from run to run than the rate.
    cpu_per_delivery: Duration,
}

/// Sender `s` posts `bodies[s % bodies.len()]`, one request after another on a
/// keep-alive connection of its own, as wrk does: hyper's bare HTTP/1.1 client, so the
/// sender costs the shared cores little (without reqwest's pool, URL handling and
/// redirect machinery, the trivial route's CPU per request fell from 31–40 µs to
/// 21–28 µs). Each answer is read to its end before the next request, so the
/// connection is always reused.
async fn load(url: &str, bodies: Arc<Vec<Vec<u8>>>, sign: bool) -> Figures {
    let uri: hyper::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().to_string();
    let path = uri.path().to_string();
    let cpu = own_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let (authority, path) = (authority.clone(), path.clone());
        // Like GitHub, the sender signs a body once, not once per attempt: every
        // delivery of a sender carries the same bytes, and the signature covers only
        // the bytes. The sender shares the cores with the server, so work it repeats
        // would be charged to the server being measured.
        let body = bytes::Bytes::from(bodies[s % bodies.len()].clone());
        let signed = sign.then(|| signature::sign(&Secret::new(SECRET), &body));
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut conn, driver) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(driver);
            let mut lat = Vec::with_capacity(PER_SENDER);
            let mut ok = 0;
            for i in 0..PER_SENDER {
                let mut req = hyper::Request::post(path.as_str())
                    .header("host", authority.as_str())
                    .header("content-type", "application/json")
                    .header("x-github-event", "issues")
                    // GitHub's delivery ids are GUIDs: random, as in the index they fill.
                    .header(
                        "x-github-delivery",
                        format!("bench-{s}-{i}-{}", uuid::Uuid::new_v4()),
                    );
                if let Some(signed) = &signed {
                    req = req.header("x-hub-signature-256", signed.as_str());
                }
                let req = req.body(http_body_util::Full::new(body.clone())).unwrap();
                conn.ready().await.unwrap();
                let t = Instant::now();
                let resp = conn.send_request(req).await.unwrap();
                // Responder answers 202, Probot 200.
                let success = resp.status().is_success();
                http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .unwrap();
                lat.push(t.elapsed());
                ok += usize::from(success);
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
    let cpu_per_delivery = (own_cpu() - cpu) / all.len() as u32;
    all.sort();
    Figures {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
        ok,
        cpu_per_delivery,
    }
}

/// This process's CPU time so far, user and system, all threads.
fn own_cpu() -> Duration {
    // SAFETY: getrusage writes one `rusage` into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Another process's CPU time so far, from `/proc` (in clock ticks of 10 ms).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 11 and 12 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
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
        "{:<44} {:>12} {:>9} {:>9} {:>7} {:>9} {:>14}",
        "", "deliveries/s", "p50 ms", "p99 ms", "2xx", "× Probot", "CPU µs/deliv."
    );
    for row in rows {
        match &row.figures {
            Ok(f) => println!(
                "{:<44} {:>12.0} {:>9.2} {:>9.2} {:>7} {:>9} {:>14.0}",
                row.name,
                f.per_second,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.ok,
                probot.map_or("-".into(), |p| format!("{:.2}", f.per_second / p)),
                f.cpu_per_delivery.as_secs_f64() * 1e6,
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
            let node = process_cpu(child.0.id());
            let mut f = load(&url, bodies.clone(), true).await;
            f.cpu_per_delivery += (process_cpu(child.0.id()) - node) / f.ok.max(1) as u32;
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
