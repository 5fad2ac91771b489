//! `responder check`: the shipped content passes; a repository's broken overrides
//! fail with every problem listed and a non-zero exit.

use std::process::Command;

fn check(args: &[&str], cwd: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_responder"))
        .arg("check")
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env("RESPONDER_DATA_DIR", cwd.join("data"))
        .output()
        .expect("run responder check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_shipped_content_passes_from_the_source_tree_and_elsewhere() {
    let (code, text) = check(&[], std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert_eq!(code, 0, "{text}");
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = check(&[], tmp.path());
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("incident content: ok"), "{text}");
}

#[test]
fn broken_overrides_fail_with_every_problem_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".github/responder/templates")).unwrap();
    std::fs::write(
        repo.join(".github/responder.toml"),
        "min_permisson = \"write\"\n",
    )
    .unwrap();
    std::fs::write(
        repo.join(".github/responder/templates/rca.md.tera"),
        "{% if %}",
    )
    .unwrap();
    let (code, text) = check(&["--repo-config", repo.to_str().unwrap()], tmp.path());
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("min_permisson"), "{text}");
    assert!(text.contains("rca.md.tera"), "{text}");
    assert!(text.contains("2 problem(s)"), "{text}");
}

#[test]
fn a_recursive_override_is_one_problem_not_a_crash_and_nothing_is_written_to_tmp() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".github/responder/templates")).unwrap();
    std::fs::write(
        repo.join(".github/responder/templates/bug.md.tera"),
        "{% macro r(n) %}{{ self::r(n=n+1) }}{% endmacro r %}{{ self::r(n=0) }}",
    )
    .unwrap();
    let (code, text) = check(&["--repo-config", repo.to_str().unwrap()], tmp.path());
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("bug.md.tera"), "{text}");
    assert!(text.contains("ran out of stack"), "{text}");
    assert!(text.contains("1 problem(s)"), "{text}");
    // The built-in content is checked in memory: no temporary copy to name.
    assert!(!text.contains("responder-check-"), "{text}");
    let (code, text) = check(&[], tmp.path());
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("templates built-in, forms built-in"),
        "{text}"
    );
}
