//! `responder run`: the real binary wrapping `sh`, its exit codes, its pass-through
//! and its streaming.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn responder() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_responder"));
    // A sandbox has no settings; the wrapper must not need any.
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

fn run(script: &str) -> std::process::Output {
    responder()
        .args(["run", "--", "sh", "-c", script])
        .output()
        .expect("responder runs")
}

fn child(script: &str) -> std::process::Output {
    Command::new("sh").args(["-c", script]).output().unwrap()
}

#[test]
fn exit_zero_hiding_an_api_error_exits_70_with_stdout_unchanged() {
    let script = r#"echo "APIError: rate limit exceeded"; exit 0"#;
    let out = run(script);
    assert_eq!(out.status.code(), Some(70));
    assert_eq!(out.stdout, child(script).stdout);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("stdout line 1") && err.contains("rate-limit"),
        "{err}"
    );
    assert!(err.contains("APIError: rate limit exceeded"), "{err}");
}

#[test]
fn the_childs_own_exit_code_and_output_otherwise() {
    let out = run("printf ok; exit 3");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"ok");
    assert!(out.stderr.is_empty());
    let clean = run("echo all tests passed; echo warning >&2");
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(clean.stderr, b"warning\n");
}

#[test]
fn a_signal_exits_128_plus_its_number() {
    assert_eq!(run("kill -TERM $$").status.code(), Some(128 + 15));
    assert_eq!(run("kill -KILL $$").status.code(), Some(128 + 9));
}

#[test]
fn json_lines_error_on_stderr_exits_70_naming_stderr() {
    let out = run(r#"echo '{"type":"result","is_error":true}' >&2"#);
    assert_eq!(out.status.code(), Some(70));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("{\"type\":\"result\",\"is_error\":true}\n"),
        "{err}"
    );
    assert!(
        err.contains("stderr line 1 matched rule json-is-error"),
        "{err}"
    );
}

#[test]
fn binary_and_large_output_passes_through_byte_for_byte() {
    // 3 MiB of every byte value: beyond the 1 MiB kept, all of it still reaches us.
    let script = "i=0; while [ $i -lt 48 ]; do head -c 65536 /dev/urandom; i=$((i+1)); done | tee /tmp/responder-run-bytes-$$ | cat; cat /tmp/responder-run-bytes-$$ >&2; rm /tmp/responder-run-bytes-$$";
    let out = run(script);
    assert_eq!(out.stdout.len(), 48 * 65536);
    assert_eq!(out.stdout, out.stderr[..out.stdout.len()]);
}

#[test]
fn output_streams_before_the_child_ends() {
    let mut c = responder()
        .args(["run", "--", "sh", "-c", "echo first; sleep 3; echo second"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut stdout = c.stdout.take().unwrap();
    let mut first = [0u8; 6];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"first\n");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(c.wait().unwrap().code(), Some(0));
}

#[test]
fn rules_file_replaces_the_built_in_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(
        &file,
        r#"[[output_rules]]
name = "sandbox-oom"
pattern = 'Killed process \d+'
verdict = "infra_error"
meaning = "the sandbox ran out of memory"
sample = "Killed process 4242 (node)"
"#,
    )
    .unwrap();
    let with = |script: &str| {
        responder()
            .args(["run", "--rules"])
            .arg(&file)
            .args(["--", "sh", "-c", script])
            .output()
            .unwrap()
    };
    assert_eq!(with("echo Killed process 12").status.code(), Some(70));
    // The built-in rules are replaced, not added to.
    assert_eq!(
        with("echo 'Error: 429 Too Many Requests'").status.code(),
        Some(0)
    );
    std::fs::write(&file, "[[output_rules]]\nname = \"x\"\npattern = \"(\"\n").unwrap();
    let bad = with("true");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--rules"));
}

#[test]
fn a_failed_report_is_said_and_keeps_the_exit_code() {
    let out = responder()
        .env("RESPONDER_TOKEN", "x")
        .args([
            "run",
            "--repo",
            "o/r",
            "--report",
            "http://127.0.0.1:9",
            "--",
        ])
        .args(["sh", "-c", "printf ok; exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(out.stdout, b"ok");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the run was not reported to http://127.0.0.1:9"),
        "{err}"
    );
}

#[test]
fn a_command_that_cannot_start_exits_127() {
    let out = responder()
        .args(["run", "--", "/nonexistent/agent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot start /nonexistent/agent"));
}
