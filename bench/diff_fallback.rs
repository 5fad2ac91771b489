//! Benchmark: cold git fallback (mirror fetch + local diff) for a 5,000-file PR,
//! against `git fetch` + `git diff` of the same refs by the git CLI from the same
//! smart-HTTP server. Prints medians, the ratio, and the engine's peak RSS.
//!
//! Run: `cargo bench --bench diff_fallback` (RUNS=n to change the run count).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use responder::diff::{Mirrors, diff, pr_refspecs};
use responder::types::{PrNumber, RepoName};

#[path = "../tests/it/git_http.rs"]
#[allow(dead_code)]
mod git_http;

fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed");
    out.stdout
}

fn body(seed: usize, lines: usize) -> String {
    (0..lines)
        .map(|l| format!("    let value_{l} = compute({seed}, {l}); // line {l} of file {seed}\n"))
        .collect()
}

/// Base: 6,000 files. PR: 4,200 modified, 200 deleted, 400 added, 200 renamed with
/// edits = 5,000 changed files. Then main moves on (100 other files).
fn generate(root: &Path) {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let path = |i: usize| format!("pkg{:02}/module_{i:05}.rs", i % 60);
    for i in 0..6000 {
        let p = work.join(path(i));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body(i, 30 + i % 20)).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "base"]);
    git(&work, &["checkout", "-q", "-b", "pr"]);
    for i in 0..4200 {
        let text = body(i, 30 + i % 20).replacen("compute(", "compute_v2(", 2) + "// appended\n";
        std::fs::write(work.join(path(i)), text).unwrap();
    }
    for i in 4200..4400 {
        std::fs::remove_file(work.join(path(i))).unwrap();
    }
    for i in 4400..4600 {
        let to = work.join(format!("moved/{}", path(i)));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::remove_file(work.join(path(i))).unwrap();
        std::fs::write(to, body(i, 30 + i % 20) + "// moved\n").unwrap();
    }
    for i in 0..400 {
        let p = work.join(format!("new/file_{i:04}.rs"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body(10_000 + i, 25)).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "pr"]);
    git(&work, &["checkout", "-q", "main"]);
    for i in 5000..5100 {
        std::fs::write(work.join(path(i)), body(i, 10)).unwrap();
    }
    git(&work, &["commit", "-q", "-a", "-m", "main moves on"]);
    git(root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    let origin = root.join("origin.git");
    let origin = origin.to_str().unwrap();
    git(
        &work,
        &[
            "push",
            "-q",
            origin,
            "main:refs/heads/main",
            "pr:refs/pull/1/head",
        ],
    );
    git(&root.join("origin.git"), &["repack", "-a", "-d", "-q"]);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    generate(tmp.path());
    eprintln!("generated fixture in {:.1?}", started.elapsed());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(git_http::GitHttpServer::start(
        tmp.path().to_path_buf(),
        None,
    ));
    let url = format!("{}/origin.git", server.base_url);
    let repo: RepoName = "bench/big".parse().unwrap();
    let refspecs = pr_refspecs(PrNumber(1), "main").unwrap();

    // Peak RSS of the engine runs only (the fixture was built by child processes;
    // the in-process HTTP server's buffers still count, which only flatters git).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
    let mut engine_times = Vec::new();
    let mut fetch_times = Vec::new();
    let mut engine_output = Vec::new();
    let mut files = 0;
    for run in 0..runs {
        let root = tmp.path().join(format!("mirrors-{run}"));
        let t0 = Instant::now();
        let mirrors = Mirrors::new(root.clone());
        mirrors.fetch(&repo, &url, None, &refspecs).unwrap();
        let t_fetch = t0.elapsed();
        let base = mirrors.resolve(&repo, "refs/heads/main").unwrap();
        let head = mirrors.resolve(&repo, "refs/pull/1/head").unwrap();
        let d = diff(&mirrors.path_for(&repo), &base, &head).unwrap();
        let total = t0.elapsed();
        engine_times.push(total);
        fetch_times.push(t_fetch);
        files = d.files.len();
        engine_output = d.unified;
        std::fs::remove_dir_all(root).unwrap();
        eprintln!("engine run {run}: {total:.2?} (fetch {t_fetch:.2?})");
    }
    let peak_kib = status_kib("VmHWM:");

    let mut cli_times = Vec::new();
    let mut cli_fetch_times = Vec::new();
    let mut cli_output = Vec::new();
    for run in 0..runs {
        let dir = tmp.path().join(format!("cli-{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "--bare"]);
        let t0 = Instant::now();
        let mut args = vec!["fetch", "-q", "--no-tags", url.as_str()];
        args.extend(refspecs.iter().map(String::as_str));
        git(&dir, &args);
        let t_fetch = t0.elapsed();
        let mb = String::from_utf8(git(
            &dir,
            &["merge-base", "refs/heads/main", "refs/pull/1/head"],
        ))
        .unwrap();
        cli_output = git(
            &dir,
            &["diff", "--no-color", "-M", mb.trim(), "refs/pull/1/head"],
        );
        let total = t0.elapsed();
        cli_times.push(total);
        cli_fetch_times.push(t_fetch);
        std::fs::remove_dir_all(dir).unwrap();
        eprintln!("git CLI run {run}: {total:.2?} (fetch {t_fetch:.2?})");
    }

    let engine = median(engine_times);
    let cli = median(cli_times);
    println!(
        "diff_fallback: PR of {files} changed files, {runs} runs each, server: git http-backend over HTTP"
    );
    println!(
        "  engine (libgit2 fetch + diff): median {:.3} s (fetch {:.3} s)",
        engine.as_secs_f64(),
        median(fetch_times).as_secs_f64()
    );
    println!(
        "  git CLI (git fetch + merge-base + diff): median {:.3} s (fetch {:.3} s)",
        cli.as_secs_f64(),
        median(cli_fetch_times).as_secs_f64()
    );
    println!(
        "  ratio engine / CLI: {:.2}x (goal <= 1.5x)",
        engine.as_secs_f64() / cli.as_secs_f64()
    );
    println!(
        "  peak RSS during engine runs: {:.1} MiB (RSS before: {:.1} MiB; goal < 200 MiB)",
        peak_kib as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!(
        "  unified diff: {} bytes, byte-identical to git CLI: {}",
        engine_output.len(),
        engine_output == cli_output
    );
}
