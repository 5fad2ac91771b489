//! Benchmark: classifying a 1 MiB agent output of near-misses (lines that look like
//! every built-in rule but match none) with the built-in rules, beside a reference
//! measured in the same run: one plain `memchr`-free byte scan of the same bytes
//! counting newlines, i.e. the least any per-line classifier must do.
//!
//! Run: `cargo bench --bench agent_runs` (RUNS=n to change the run count).

use std::hint::black_box;
use std::time::{Duration, Instant};

use responder::incident::runbook::Runbook;
use responder::runs::Verdict;
use responder::runs::classify::{MAX_OUTPUT, classify};

/// Lines a real agent prints that come close to an API error without being one.
const NEAR_MISSES: [&str; 10] = [
    "HTTP/1.1 200 OK",
    "added rate limiting middleware to the handler (limit: 100 rps)",
    "status=399 error_rate=0.0 quota: 80% used",
    "{\"type\":\"result\",\"is_error\": false,\"result\":\"done\"}",
    "{\"type\":\"assistant\",\"message\":\"the server is not overloaded\"}",
    "test connection_reset_is_retried ... ok",
    "Processed 4290 of 5290 items in 1.529 s",
    "Trace: (most recent call first) context length is fine",
    "APIErrorHandler registered; api_error_count=0",
    "    at Object.<anonymous> (/work/src/index.js:429:13)",
];

fn output() -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_OUTPUT);
    let mut i = 0;
    while out.len() + 80 < MAX_OUTPUT {
        out.extend_from_slice(NEAR_MISSES[i % NEAR_MISSES.len()].as_bytes());
        out.extend_from_slice(format!(" #{i}\n").as_bytes());
        i += 1;
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    let rules = Runbook::builtin()
        .rule_set()
        .expect("built-in rules compile");
    let out = output();
    let lines = out.iter().filter(|&&b| b == b'\n').count();
    let c = classify(&rules, Some("claude-code"), Some(0), &out);
    assert_eq!(
        c.verdict,
        Verdict::Passed,
        "a near-miss matched: {:?}",
        c.matches
    );

    let mut classify_t = Vec::new();
    let mut scan_t = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        black_box(classify(
            &rules,
            Some("claude-code"),
            Some(0),
            black_box(&out),
        ));
        classify_t.push(t.elapsed());
        let t = Instant::now();
        black_box(black_box(&out).split(|&b| b == b'\n').count());
        scan_t.push(t.elapsed());
    }
    let (c, s) = (median(classify_t), median(scan_t));
    println!(
        "agent_runs: {} bytes, {lines} near-miss lines, {} rules, median of {runs}",
        out.len(),
        rules.rules().len()
    );
    println!(
        "  classify (built-in rules): {:>10.3} ms",
        c.as_secs_f64() * 1e3
    );
    println!(
        "  reference (split lines):   {:>10.3} ms",
        s.as_secs_f64() * 1e3
    );
    println!(
        "  ratio: {:.1}x the plain scan; {:.0} MiB/s",
        c.as_secs_f64() / s.as_secs_f64().max(1e-9),
        out.len() as f64 / (1 << 20) as f64 / c.as_secs_f64()
    );
    assert!(c < Duration::from_millis(500), "classification took {c:?}");
}
