//! Benchmark: cold git fallback (mirror fetch + local diff) for a 5,000-file PR,
//! against `git fetch` + `git diff` of the same refs by the git CLI from the same
//! smart-HTTP server. Prints medians, the ratio, and the engine's peak RSS.
//!
//! Run: `cargo bench --bench diff_fallback` (RUNS=n to change the run count).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use responder::diff::{Mirrors, diff, pr_refspecs};
use responder::types::{PrNumber, RepoName};

#[path = "../tests/support/mod.rs"]
// As in tests/it/main.rs: the fake GitHub answers axum `Response`s as errors.
#[allow(dead_code, clippy::result_large_err, clippy::too_many_arguments)]
mod support;

use support::fake_github::{FakeGitHub, RepoOpts};
use support::git_fixture::{RepoBuilder, git_bytes};

fn body(seed: usize, lines: usize) -> String {
    (0..lines)
        .map(|l| format!("    let value_{l} = compute({seed}, {l}); // line {l} of file {seed}\n"))
        .collect()
}

/// Base: 6,000 files. PR: 4,200 modified, 200 deleted, 400 added, 200 renamed with
/// edits = 5,000 changed files. Then main moves on (100 other files). Returns the
/// bare repository.
fn generate(root: &Path) -> PathBuf {
    let path = |i: usize| format!("pkg{:02}/module_{i:05}.rs", i % 60);
    let mut b = RepoBuilder::new(root);
    let base: Vec<(String, Option<String>)> = (0..6000)
        .map(|i| (path(i), Some(body(i, 30 + i % 20))))
        .collect();
    b.commit_on("main", &changes(&base), "base");
    b.branch_from("pr", "main");
    let mut pr: Vec<(String, Option<String>)> = Vec::new();
    for i in 0..4200 {
        let text = body(i, 30 + i % 20).replacen("compute(", "compute_v2(", 2) + "// appended\n";
        pr.push((path(i), Some(text)));
    }
    pr.extend((4200..4400).map(|i| (path(i), None)));
    for i in 4400..4600 {
        pr.push((path(i), None));
        pr.push((
            format!("moved/{}", path(i)),
            Some(body(i, 30 + i % 20) + "// moved\n"),
        ));
    }
    pr.extend((0..400).map(|i| (format!("new/file_{i:04}.rs"), Some(body(10_000 + i, 25)))));
    b.commit_on("pr", &changes(&pr), "pr");
    let main: Vec<(String, Option<String>)> =
        (5000..5100).map(|i| (path(i), Some(body(i, 10)))).collect();
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
    let bare = generate(tmp.path());
    eprintln!("generated fixture in {:.1?}", started.elapsed());

    // The fake serves from its own runtime thread; this one only starts it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(FakeGitHub::start());
    let public = RepoOpts {
        installation: None,
        public: true,
    };
    server.add_repo("bench", "big", &bare, public);
    let url = format!("{}/bench/big.git", server.server_url());
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
        git_bytes(&dir, &["init", "-q", "--bare"]);
        let t0 = Instant::now();
        let mut args = vec!["fetch", "-q", "--no-tags", url.as_str()];
        args.extend(refspecs.iter().map(String::as_str));
        git_bytes(&dir, &args);
        let t_fetch = t0.elapsed();
        let mb = String::from_utf8(git_bytes(
            &dir,
            &["merge-base", "refs/heads/main", "refs/pull/1/head"],
        ))
        .unwrap();
        cli_output = git_bytes(
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
