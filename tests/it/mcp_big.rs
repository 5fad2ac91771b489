//! A 5,000-file PR whose files endpoint answers 404, read through MCP by the
//! official Python SDK: pages within budget that join to `git diff` exactly, names
//! a small fraction of patches, and one set of GitHub calls for all of it.

use std::time::Instant;

use serde_json::{Value, json};

use crate::mcp_client::{op, python, run, text};
use crate::support::fake_github::{FakeGitHub, Fault, RepoOpts};
use crate::support::git_fixture::{RepoBuilder, git_bytes};
use crate::support::service::{TestService, agent_token, app_args};

const MAX_BYTES: usize = 100_000;

fn body(seed: usize, lines: usize) -> String {
    (0..lines)
        .map(|l| format!("    let value_{l} = compute({seed}, {l}); // line {l} of file {seed}\n"))
        .collect()
}

fn changes(owned: &[(String, Option<String>)]) -> Vec<(&str, Option<&[u8]>)> {
    owned
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_deref().map(str::as_bytes)))
        .collect()
}

/// 5,000 changed files: 4,700 modified (one of them, `huge.rs`, with a diff of about
/// 250 KB in 400 hunks), 100 deleted, 200 added; main moves on after the branch.
fn generate(root: &std::path::Path) -> std::path::PathBuf {
    let path = |i: usize| format!("pkg{:02}/module_{i:05}.rs", i % 50);
    let huge = |edited: bool| -> String {
        (0..8_000)
            .map(|l| match (edited, l % 20) {
                (true, 0) => {
                    format!("    let edited_{l} = recompute({l}); // changed on the branch\n")
                }
                _ => format!("    let line_{l} = compute({l}); // unchanged context line\n"),
            })
            .collect()
    };
    let mut b = RepoBuilder::new(root);
    let mut base: Vec<(String, Option<String>)> = (0..4_800)
        .map(|i| (path(i), Some(body(i, 20 + i % 10))))
        .collect();
    base.push(("huge.rs".into(), Some(huge(false))));
    b.commit_on("main", &changes(&base), "base");
    b.branch_from("pr", "main");
    let mut pr: Vec<(String, Option<String>)> = (0..4_699)
        .map(|i| {
            (
                path(i),
                Some(body(i, 20 + i % 10).replacen("compute(", "compute_v2(", 1)),
            )
        })
        .collect();
    pr.push(("huge.rs".into(), Some(huge(true))));
    pr.extend((4_700..4_800).map(|i| (path(i), None)));
    pr.extend((0..200).map(|i| (format!("new/file_{i:04}.rs"), Some(body(10_000 + i, 15)))));
    b.commit_on("pr", &changes(&pr), "pr");
    b.commit_on(
        "main",
        &[("main_only.txt", Some(b"later\n".as_slice()))],
        "main moves on",
    );
    b.pull(1, "pr");
    b.publish()
}

/// Bytes of every page's text content (what a model reads).
fn text_bytes(pages: &[Value]) -> usize {
    pages
        .iter()
        .map(|p| {
            p["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().map_or(0, str::len))
                .sum::<usize>()
        })
        .sum()
}

#[tokio::test]
async fn a_5000_file_pr_with_a_404_files_endpoint_pages_to_git_diff_byte_for_byte() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let bare = generate(&tmp.path().join("src"));
    eprintln!("fixture: 5,000-file PR built in {:.1?}", started.elapsed());
    let fake = FakeGitHub::start().await;
    let opts = RepoOpts {
        installation: Some(5),
        public: false,
    };
    fake.add_repo("acme", "big", &bare, opts);
    fake.add_pull("acme", "big", 1);
    fake.fault(
        "GET",
        "/repos/acme/big/pulls/1/files",
        Fault::Status(404),
        1_000,
    );
    let svc = TestService::start_with(app_args(&tmp.path().join("data"), &fake), |_| {}).await;
    let token = agent_token(&["acme/big"], &["diff:read"], 3600);
    let pr = json!({"repo": "acme/big", "number": 1});
    let with = |extra: Value| {
        let mut a = pr.clone();
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        a
    };
    let ops = json!([
        {"page": "pull_request_diff", "args": with(json!({"max_bytes": MAX_BYTES}))},
        {"page": "pull_request_files", "args": with(json!({"fields": "names", "limit": 5000}))},
        {"page": "pull_request_files", "args": with(json!({"fields": "patches", "limit": 5000}))},
    ]);
    let spec = json!({"transport": "http", "url": format!("{}/mcp", svc.url),
                      "token": token, "mode": "auto", "ops": ops});
    let started = Instant::now();
    let out = run(&py, &spec).await;
    let elapsed = started.elapsed();

    let pages = op(&out, 0);
    let first = &pages[0]["structured"];
    assert_eq!(first["source"], "git", "{first}");
    // With 5,000 files (the PR's metadata says so) GitHub's endpoints cannot give the
    // whole diff, so Responder goes to git without asking them; the reason says why.
    let reason = first["fallback_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("5000 files"), "{first}");
    assert_eq!(first["complete"], true);
    let mut joined = Vec::new();
    let mut split_pages = 0;
    let mut huge_bytes = 0;
    let mut files_seen = 0;
    for (i, p) in pages.iter().enumerate() {
        assert!(!p["is_error"].as_bool().unwrap(), "page {i}: {p}");
        let t = text(p);
        assert!(t.len() <= MAX_BYTES, "page {i} holds {} bytes", t.len());
        assert_eq!(p["structured"]["bytes"], t.len());
        joined.extend_from_slice(t.as_bytes());
        let split = &p["structured"]["split"];
        if !split.is_null() {
            split_pages += 1;
            assert_eq!(split["filename"], "huge.rs", "page {i}: {split}");
            huge_bytes = split["file_bytes"].as_u64().unwrap() as usize;
        }
        files_seen += p["structured"]["files"].as_array().unwrap().len();
    }
    let want = git_bytes(
        &bare,
        &[
            "diff",
            "--no-color",
            "-M",
            first["merge_base_sha"].as_str().unwrap(),
            first["head_sha"].as_str().unwrap(),
        ],
    );
    assert!(
        joined == want,
        "the pages joined ({} bytes) differ from git diff ({} bytes)",
        joined.len(),
        want.len()
    );
    assert!(
        huge_bytes > MAX_BYTES,
        "huge.rs's diff is {huge_bytes} bytes"
    );
    assert!(
        split_pages >= huge_bytes.div_ceil(MAX_BYTES),
        "huge.rs ({huge_bytes} bytes) spans {split_pages} pages"
    );
    // Each file once, and huge.rs once more on every page it continues onto.
    assert_eq!(files_seen, 5_000 + split_pages - 1);

    let (names, patches) = (op(&out, 1), op(&out, 2));
    assert_eq!(names[0]["structured"]["total_files"], 5_000);
    assert_eq!(
        names[0]["structured"]["files"].as_array().unwrap().len(),
        5_000
    );
    let (names_bytes, patches_bytes) = (text_bytes(names), text_bytes(patches));
    let ms: Vec<f64> = pages.iter().map(|p| p["ms"].as_f64().unwrap()).collect();
    let mut warm = ms[1..].to_vec();
    warm.sort_by(f64::total_cmp);
    println!(
        "mcp 5,000-file PR: first diff page (cold: 404, git fetch, diff) {:.0} ms, later pages median {:.0} ms",
        ms[0],
        warm[warm.len() / 2]
    );
    println!(
        "mcp 5,000-file PR: {} diff pages of at most {MAX_BYTES} bytes (largest {}), {} bytes in all; \
         pull_request_files names {} bytes vs patches {} bytes ({:.1}%); all calls in {:.1?}",
        pages.len(),
        pages.iter().map(|p| text(p).len()).max().unwrap(),
        joined.len(),
        names_bytes,
        patches_bytes,
        100.0 * names_bytes as f64 / patches_bytes as f64,
        elapsed
    );
    // One changed line per file here: real PRs make patches weigh far more.
    assert!(
        names_bytes * 5 < patches_bytes,
        "names is not a small fraction of patches"
    );

    // Every page of all three tools came from one fetch and one diff.
    let fetches = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("git-upload-pack"))
        .count();
    assert_eq!(fetches, 1, "pages cost one git fetch");
}
