//! Benchmark: signed deliveries accepted and durably stored per second over loopback,
//! with 64 concurrent senders, and ack latency p50/p99 — beside a trivial axum route
//! measured in the same run as the ceiling.
//!
//! Run: `cargo bench --bench webhook_ingest` (prints its figures; not a test).
//! `INGEST_ONLY=1` leaves the worker off; `REPOS=N` spreads the deliveries over N
//! repositories (default 1: the worker's strictly serial worst case, one claim and
//! one completion per delivery).

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
                ok += usize::from(resp.status() == 202);
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

fn print(name: &str, f: &Figures) {
    println!(
        "{name:<34} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   202s {}",
        f.per_second,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.ok
    );
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let args = SettingsArgs {
        data_dir: tmp.path().to_path_buf(),
        github_webhook_secret: Some(SECRET.into()),
        ..SettingsArgs::default()
    };
    let service = Service::new(Settings::from_args(&args).unwrap())
        .await
        .unwrap();
    let store = service.state.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    // INGEST_ONLY=1 measures intake without the worker draining the inbox beside it.
    let worker = (std::env::var("INGEST_ONLY").is_err()).then(|| service.spawn_worker(stop_rx));
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let trivial =
        axum::Router::new().route("/noop", post(|| async { axum::http::StatusCode::ACCEPTED }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trivial_url = format!("http://{}/noop", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, trivial).await.unwrap() });

    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github/webhooks/issues.opened.json"
    ))
    .unwrap();
    let repos: usize = std::env::var("REPOS").map_or(1, |r| r.parse().expect("REPOS=N"));
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(match repos {
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
    });
    println!(
        "webhook ingest: {SENDERS} concurrent senders × {PER_SENDER} deliveries of {} bytes over loopback, {repos} repositories, worker {}",
        bodies[0].len(),
        if worker.is_some() { "on" } else { "off" }
    );
    // Warm both paths once.
    load(&trivial_url, bodies.clone(), false).await;
    let ceiling = load(&trivial_url, bodies.clone(), false).await;
    print("trivial axum route (ceiling)", &ceiling);
    let ingest = load(&url, bodies.clone(), true).await;
    print("POST /webhook (verified + stored)", &ingest);
    let stored = store.list_deliveries(None, i64::MAX).await.unwrap().len();
    println!(
        "durably stored deliveries: {stored} (acknowledged with 202: {})",
        ingest.ok
    );
    assert_eq!(
        stored, ingest.ok,
        "every acknowledged delivery must be in the store"
    );
    println!(
        "ratio to ceiling: {:.2}",
        ingest.per_second / ceiling.per_second
    );
}
