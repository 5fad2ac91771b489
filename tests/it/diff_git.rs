//! The git2 fallback against the git CLI on the same commits: three-dot semantics,
//! renames, deletions, binaries, non-ASCII paths, missing final newlines, modes.

use std::path::Path;

use responder::diff::{FileStatus, LocalDiff, diff};
use responder::types::Sha;

use crate::git_fixture::{Fixture, git, git_str};

fn sha(s: &str) -> Sha {
    Sha::new(s).unwrap()
}

/// Diffs with the engine and checks every byte and count against the git CLI run in
/// the same repository.
pub fn assert_agrees_with_git_cli(repo: &Path, base: &str, head: &str) -> LocalDiff {
    let d = diff(repo, &sha(base), &sha(head)).unwrap();
    let mb = git_str(repo, &["merge-base", base, head]);
    assert_eq!(d.merge_base.as_str(), mb, "merge base");
    let expected = git(repo, &["diff", "--no-color", "-M", &mb, head]);
    assert_eq!(
        String::from_utf8_lossy(&d.unified),
        String::from_utf8_lossy(&expected),
        "unified diff differs from git diff --no-color -M"
    );
    assert_eq!(d.unified, expected, "unified diff bytes");

    let name_status = git(repo, &["diff", "--name-status", "-z", "-M", &mb, head]);
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
    let numstat = git(repo, &["diff", "--numstat", "-z", "-M", &mb, head]);
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

/// A PR touching every kind of change, with `main` moving on after the branch.
fn rich_fixture() -> (Fixture, String, String) {
    let mut f = Fixture::new();
    f.write("keep.txt", lines("keep", 20));
    f.write("old_name.rs", lines("fn body", 40));
    f.write("exact_old.txt", lines("exact", 10));
    f.write("gone.txt", lines("gone", 5));
    f.write("image.bin", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-original");
    f.write("script.sh", "#!/bin/sh\necho hi\n");
    f.write("with space.txt", "a\nb\n");
    f.write("ends_with_newline.txt", "one\ntwo\n");
    f.write("main_only.txt", "base\n");
    f.commit("base");
    f.git(&["checkout", "-q", "-b", "pr"]);
    let mut keep = lines("keep", 20);
    keep = keep.replace("keep line 3\n", "keep line three\n") + "appended\n";
    f.write("keep.txt", keep);
    f.rename("old_name.rs", "src/new_name.rs");
    f.write(
        "src/new_name.rs",
        lines("fn body", 40).replace("fn body line 7\n", "changed\n") + "tail\n",
    );
    f.rename("exact_old.txt", "moved/exact_new.txt");
    f.remove("gone.txt");
    f.write("image.bin", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-changed!");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(f.work.join("script.sh"))
        .status()
        .unwrap();
    f.write("with space.txt", "a\nb\nc\n");
    f.write("ends_with_newline.txt", "one\ntwo");
    f.write("docs/über.md", "# Über\n\nGrüße\n");
    f.write("no_final_newline.txt", "first\nlast without newline");
    f.write("empty.txt", "");
    std::os::unix::fs::symlink("keep.txt", f.work.join("link")).unwrap();
    let head = f.commit("pr changes");
    f.git(&["checkout", "-q", "main"]);
    f.write("main_only.txt", "base\nmoved on\n");
    f.write(
        "keep.txt",
        lines("keep", 20).replace("keep line 15\n", "main edit\n"),
    );
    f.write("added_on_main.txt", "main\n");
    let base = f.commit("main moves on");
    f.publish("pr", 1);
    (f, base, head)
}

#[test]
fn local_diff_agrees_byte_for_byte_with_git_cli_on_every_kind_of_change() {
    let (f, base, head) = rich_fixture();
    let d = assert_agrees_with_git_cli(&f.origin, &base, &head);
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
fn three_dot_diff_ignores_what_the_base_branch_did_after_the_branch_point() {
    let (f, base, head) = rich_fixture();
    let d = assert_agrees_with_git_cli(&f.origin, &base, &head);
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
    let (f, base, head) = rich_fixture();
    let d = diff(&f.origin, &sha(&base), &sha(&head)).unwrap();
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
    let mut f = Fixture::new();
    // Several deletions and additions with overlapping content: the matrix, the
    // basename pass and the 50% threshold all matter here.
    let common = lines("shared", 30);
    f.write("a/config.toml", format!("{common}{}", lines("a-only", 10)));
    f.write("b/readme.md", format!("{common}{}", lines("b-only", 25)));
    f.write("c/util.rs", lines("util", 12));
    f.write("d/half.txt", lines("half", 20));
    f.write("crlf.txt", "x\r\ny\r\nz\r\n".repeat(10));
    f.commit("base");
    f.git(&["checkout", "-q", "-b", "pr"]);
    f.git(&["rm", "-q", "-r", "a", "b", "c", "d", "crlf.txt"]);
    f.write("x/config.toml", format!("{common}{}", lines("x-new", 14)));
    f.write("y/other.md", format!("{common}{}", lines("b-only", 20)));
    f.write(
        "z/util.rs",
        format!("{}{}", lines("util", 6), lines("fresh", 7)),
    );
    f.write(
        "e/half.txt",
        format!("{}{}", lines("half", 10), lines("new", 10)),
    );
    f.write("crlf_moved.txt", "x\ny\nz\n".repeat(10));
    let head = f.commit("moves");
    f.publish("pr", 1);
    let main = git_str(&f.origin, &["rev-parse", "main"]);
    let d = assert_agrees_with_git_cli(&f.origin, &main, &head);
    assert!(
        d.files.iter().any(|e| e.status == FileStatus::Renamed),
        "{:#?}",
        d.files
    );
}

#[test]
fn unknown_commit_is_reported_as_not_found() {
    let (f, base, _) = rich_fixture();
    let missing = "0123456789012345678901234567890123456789";
    let err = diff(&f.origin, &sha(&base), &sha(missing)).unwrap_err();
    assert_eq!(err.kind(), responder::diff::GitErrorKind::NotFound);
    assert!(err.to_string().contains(missing), "{err}");
}
