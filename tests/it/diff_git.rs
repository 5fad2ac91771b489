//! The git2 fallback against the git CLI on the same commits: three-dot semantics,
//! renames, deletions, binaries, non-ASCII paths, missing final newlines, modes.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use responder::diff::{FileStatus, LocalDiff, diff};
use responder::types::Sha;

use crate::support::git_fixture::{Entry, RepoBuilder, git_bytes, git_str};

fn sha(s: &str) -> Sha {
    Sha::new(s).unwrap()
}

/// Diffs with the engine and checks every byte and count against the git CLI run in
/// the same repository.
pub fn assert_agrees_with_git_cli(repo: &Path, base: &str, head: &str) -> LocalDiff {
    let d = diff(repo, &sha(base), &sha(head)).unwrap();
    let mb = git_str(repo, &["merge-base", base, head]);
    assert_eq!(d.merge_base.as_str(), mb, "merge base");
    let expected = git_bytes(repo, &["diff", "--no-color", "-M", &mb, head]);
    assert_eq!(
        String::from_utf8_lossy(&d.unified),
        String::from_utf8_lossy(&expected),
        "unified diff differs from git diff --no-color -M"
    );
    assert_eq!(d.unified, expected, "unified diff bytes");

    let name_status = git_bytes(repo, &["diff", "--name-status", "-z", "-M", &mb, head]);
    let mut tokens = name_status
        .split(|&b| b == 0)
        .map(|t| String::from_utf8(t.to_vec()).unwrap());
    let mut cli: Vec<(String, Option<String>, String)> = Vec::new();
    while let Some(status) = tokens.next().filter(|t| !t.is_empty()) {
        let first = tokens.next().unwrap();
        if status.starts_with('R') || status.starts_with('C') {
            let second = tokens.next().unwrap();
            cli.push((status, Some(first), second));
        } else {
            cli.push((status, None, first));
        }
    }
    let numstat = git_bytes(repo, &["diff", "--numstat", "-z", "-M", &mb, head]);
    let mut counts: Vec<(Option<u64>, Option<u64>)> = Vec::new();
    let mut tokens = numstat.split(|&b| b == 0);
    while let Some(t) = tokens.next().filter(|t| !t.is_empty()) {
        let t = String::from_utf8(t.to_vec()).unwrap();
        let mut f = t.split('\t');
        let a = f.next().unwrap().parse().ok();
        let r = f.next().unwrap().parse().ok();
        if f.next() == Some("") {
            tokens.next();
            tokens.next();
        }
        counts.push((a, r));
    }

    assert_eq!(
        d.files.len(),
        cli.len(),
        "file count: {:#?} vs {cli:?}",
        d.files
    );
    for ((file, (status, old, new)), (adds, dels)) in d.files.iter().zip(&cli).zip(&counts) {
        assert_eq!(&file.filename, new);
        assert_eq!(&file.previous_filename, old, "{new}");
        let expected_status = match &status[..1] {
            "A" => FileStatus::Added,
            "D" => FileStatus::Removed,
            "R" => FileStatus::Renamed,
            "T" => FileStatus::Changed,
            "M" if file.additions + file.deletions == 0 && !file.binary => FileStatus::Changed,
            "M" => FileStatus::Modified,
            other => panic!("unexpected status {other}"),
        };
        assert_eq!(file.status, expected_status, "{new}");
        assert_eq!(file.binary, adds.is_none(), "{new} binary");
        assert_eq!(file.additions, adds.unwrap_or(0), "{new} additions");
        assert_eq!(file.deletions, dels.unwrap_or(0), "{new} deletions");
        assert_eq!(file.changes, file.additions + file.deletions);
        if file.binary {
            assert!(file.patch.is_none());
        }
    }
    d
}

fn lines(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("{prefix} line {i}\n")).collect()
}

/// A PR touching every kind of change, with `main` moving on after the branch:
/// the temporary directory, the bare repository, base and head SHAs.
fn rich_fixture() -> (TempDir, PathBuf, String, String) {
    rich_fixture_with(0)
}

/// [`rich_fixture`] plus `fillers` more modified files (`fill/fNNNNN.txt`), sorted
/// between its other paths.
fn rich_fixture_with(fillers: usize) -> (TempDir, PathBuf, String, String) {
    use Entry::{Deleted, Executable, File, Symlink};
    let dir = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(dir.path());
    let (keep, body, exact) = (lines("keep", 20), lines("fn body", 40), lines("exact", 10));
    let fill: Vec<(String, String, String)> = (0..fillers)
        .map(|i| {
            let old = lines(&format!("filler {i}"), 8);
            let new = old.replace(" line 4\n", " line four\n");
            (format!("fill/f{i:05}.txt"), old, new)
        })
        .collect();
    let fill_base: Vec<(&str, Entry<'_>)> = fill
        .iter()
        .map(|(p, old, _)| (p.as_str(), File(old.as_bytes())))
        .collect();
    let fill_pr: Vec<(&str, Entry<'_>)> = fill
        .iter()
        .map(|(p, _, new)| (p.as_str(), File(new.as_bytes())))
        .collect();
    if fillers > 0 {
        b.commit_on("main", &fill_base, "fillers");
    }
    b.commit_on(
        "main",
        &[
            ("keep.txt", File(keep.as_bytes())),
            ("old_name.rs", File(body.as_bytes())),
            ("exact_old.txt", File(exact.as_bytes())),
            ("gone.txt", File(lines("gone", 5).as_bytes())),
            ("image.bin", File(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-original")),
            ("script.sh", File(b"#!/bin/sh\necho hi\n")),
            ("with space.txt", File(b"a\nb\n")),
            ("ends_with_newline.txt", File(b"one\ntwo\n")),
            ("main_only.txt", File(b"base\n")),
        ],
        "base",
    );
    b.branch_from("pr", "main");
    if fillers > 0 {
        b.commit_on("pr", &fill_pr, "fillers change");
    }
    let keep_pr = keep.replace("keep line 3\n", "keep line three\n") + "appended\n";
    let body_pr = body.replace("fn body line 7\n", "changed\n") + "tail\n";
    let head = b.commit_on(
        "pr",
        &[
            ("keep.txt", File(keep_pr.as_bytes())),
            ("old_name.rs", Deleted),
            ("src/new_name.rs", File(body_pr.as_bytes())),
            ("exact_old.txt", Deleted),
            ("moved/exact_new.txt", File(exact.as_bytes())),
            ("gone.txt", Deleted),
            ("image.bin", File(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-changed!")),
            ("script.sh", Executable(b"#!/bin/sh\necho hi\n")),
            ("with space.txt", File(b"a\nb\nc\n")),
            ("ends_with_newline.txt", File(b"one\ntwo")),
            ("docs/über.md", File("# Über\n\nGrüße\n".as_bytes())),
            ("no_final_newline.txt", File(b"first\nlast without newline")),
            ("empty.txt", File(b"")),
            ("link", Symlink("keep.txt")),
        ],
        "pr changes",
    );
    let keep_main = keep.replace("keep line 15\n", "main edit\n");
    let base = b.commit_on(
        "main",
        &[
            ("main_only.txt", File(b"base\nmoved on\n")),
            ("keep.txt", File(keep_main.as_bytes())),
            ("added_on_main.txt", File(b"main\n")),
        ],
        "main moves on",
    );
    b.pull(1, "pr");
    let bare = b.publish();
    (dir, bare, base, head)
}

#[test]
fn local_diff_agrees_byte_for_byte_with_git_cli_on_every_kind_of_change() {
    let (_dir, bare, base, head) = rich_fixture();
    let d = assert_agrees_with_git_cli(&bare, &base, &head);
    let by_name = |n: &str| {
        d.files
            .iter()
            .find(|e| e.filename == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(by_name("src/new_name.rs").status, FileStatus::Renamed);
    assert_eq!(
        by_name("src/new_name.rs").previous_filename.as_deref(),
        Some("old_name.rs")
    );
    assert_eq!(by_name("moved/exact_new.txt").status, FileStatus::Renamed);
    assert_eq!(by_name("gone.txt").status, FileStatus::Removed);
    assert!(by_name("image.bin").binary);
    assert_eq!(by_name("script.sh").status, FileStatus::Changed);
    assert_eq!(by_name("docs/über.md").status, FileStatus::Added);
    let text = String::from_utf8_lossy(&d.unified);
    assert!(text.contains("\\ No newline at end of file"), "{text}");
    assert!(text.contains("\"b/docs/\\303\\274ber.md\""), "{text}");
    assert!(text.contains("similarity index"), "{text}");
    assert!(
        text.contains("Binary files a/image.bin and b/image.bin differ"),
        "{text}"
    );
}

#[test]
fn a_diff_big_enough_for_two_writer_threads_is_still_byte_identical_to_git_cli() {
    let (_dir, bare, base, head) = rich_fixture_with(700);
    let d = assert_agrees_with_git_cli(&bare, &base, &head);
    assert!(d.files.len() > 700, "{} files", d.files.len());
    let changed = d.files.iter().filter(|f| f.filename.starts_with("fill/"));
    assert_eq!(
        changed
            .filter(|f| f.additions == 1 && f.deletions == 1)
            .count(),
        700
    );
}

#[test]
fn three_dot_diff_ignores_what_the_base_branch_did_after_the_branch_point() {
    let (_dir, bare, base, head) = rich_fixture();
    let d = assert_agrees_with_git_cli(&bare, &base, &head);
    assert!(
        d.files
            .iter()
            .all(|e| e.filename != "main_only.txt" && e.filename != "added_on_main.txt")
    );
    let keep = d.files.iter().find(|e| e.filename == "keep.txt").unwrap();
    assert!(!keep.patch.as_deref().unwrap().contains("main edit"));
    assert_eq!(d.base.as_str(), base);
    assert_ne!(d.merge_base.as_str(), base);
}

#[test]
fn patch_field_is_the_hunks_without_headers_or_trailing_newline() {
    let (_dir, bare, base, head) = rich_fixture();
    let d = diff(&bare, &sha(&base), &sha(&head)).unwrap();
    let keep = d.files.iter().find(|e| e.filename == "keep.txt").unwrap();
    let patch = keep.patch.as_deref().unwrap();
    assert!(patch.starts_with("@@ -1,"), "{patch}");
    assert!(!patch.contains("+++") && !patch.ends_with('\n'), "{patch}");
    assert!(String::from_utf8_lossy(&d.unified).contains(&format!("{patch}\n")));
    let nonl = d
        .files
        .iter()
        .find(|e| e.filename == "no_final_newline.txt")
        .unwrap();
    assert!(
        nonl.patch
            .as_deref()
            .unwrap()
            .ends_with("+last without newline\n\\ No newline at end of file")
    );
    let empty = d.files.iter().find(|e| e.filename == "empty.txt").unwrap();
    assert_eq!(empty.patch, None);
}

#[test]
fn partial_renames_get_gits_similarity_and_pairing() {
    use Entry::{Deleted, File};
    let dir = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(dir.path());
    // Several deletions and additions with overlapping content: the matrix, the
    // basename pass and the 50% threshold all matter here.
    let common = lines("shared", 30);
    let with_common = |tail: String| format!("{common}{tail}");
    let (config, readme) = (
        with_common(lines("a-only", 10)),
        with_common(lines("b-only", 25)),
    );
    b.commit_on(
        "main",
        &[
            ("a/config.toml", File(config.as_bytes())),
            ("b/readme.md", File(readme.as_bytes())),
            ("c/util.rs", File(lines("util", 12).as_bytes())),
            ("d/half.txt", File(lines("half", 20).as_bytes())),
            ("crlf.txt", File("x\r\ny\r\nz\r\n".repeat(10).as_bytes())),
        ],
        "base",
    );
    b.branch_from("pr", "main");
    let (x_config, y_other) = (
        with_common(lines("x-new", 14)),
        with_common(lines("b-only", 20)),
    );
    let util = format!("{}{}", lines("util", 6), lines("fresh", 7));
    let half = format!("{}{}", lines("half", 10), lines("new", 10));
    let head = b.commit_on(
        "pr",
        &[
            ("a/config.toml", Deleted),
            ("b/readme.md", Deleted),
            ("c/util.rs", Deleted),
            ("d/half.txt", Deleted),
            ("crlf.txt", Deleted),
            ("x/config.toml", File(x_config.as_bytes())),
            ("y/other.md", File(y_other.as_bytes())),
            ("z/util.rs", File(util.as_bytes())),
            ("e/half.txt", File(half.as_bytes())),
            ("crlf_moved.txt", File("x\ny\nz\n".repeat(10).as_bytes())),
        ],
        "moves",
    );
    b.pull(1, "pr");
    let bare = b.publish();
    let main = git_str(&bare, &["rev-parse", "main"]);
    let d = assert_agrees_with_git_cli(&bare, &main, &head);
    assert!(
        d.files.iter().any(|e| e.status == FileStatus::Renamed),
        "{:#?}",
        d.files
    );
}

#[test]
fn unknown_commit_is_reported_as_not_found() {
    let (_dir, bare, base, _) = rich_fixture();
    let missing = "0123456789012345678901234567890123456789";
    let err = diff(&bare, &sha(&base), &sha(missing)).unwrap_err();
    assert_eq!(err.kind(), responder::diff::GitErrorKind::NotFound);
    assert!(err.to_string().contains(missing), "{err}");
}
