//! The classifier against the built-in rules: the seed's failure, clean runs, and
//! hostile output.

use std::time::{Duration, Instant};

use super::*;
use crate::incident::runbook::Runbook;

fn rules() -> RuleSet {
    Runbook::builtin()
        .rule_set()
        .expect("built-in rules compile")
}

fn verdict(exit: i32, out: &str) -> Classification {
    classify(&rules(), Some("claude-code"), Some(exit), out.as_bytes())
}

#[test]
fn exit_zero_with_429_is_infra_error_naming_the_line() {
    let c = verdict(0, "working on it\nError: 429 Too Many Requests\ndone\n");
    assert_eq!(c.verdict, Verdict::InfraError);
    assert_eq!(c.matches[0].line, 2);
    assert!(c.matches.iter().all(|m| m.line == 2));
    assert!(
        c.matches.iter().any(|m| m.rule == "rate-limit"),
        "{:?}",
        c.matches
    );
    assert!(c.reason.contains("line 2"), "{}", c.reason);
    assert!(
        c.reason.contains("Error: 429 Too Many Requests"),
        "{}",
        c.reason
    );
}

#[test]
fn clean_exit_zero_passes_and_exit_one_fails() {
    let clean = verdict(0, "All 12 tests passed\nrate limiting middleware added\n");
    assert_eq!(clean.verdict, Verdict::Passed, "{:?}", clean.matches);
    assert!(clean.matches.is_empty());
    let failed = verdict(1, "assertion failed\n");
    assert_eq!(failed.verdict, Verdict::Failed);
    assert_eq!(failed.reason, "exit code 1");
    assert_eq!(verdict(124, "").verdict, Verdict::Timeout);
    let killed = classify(&rules(), None, None, b"");
    assert_eq!(killed.verdict, Verdict::Failed);
}

#[test]
fn json_lines_is_error_true_is_infra_error_and_false_is_not() {
    let out = "{\"type\":\"assistant\",\"text\":\"hi\"}\n{\"type\":\"result\",\"is_error\": true,\"result\":\"x\"}\n";
    let c = verdict(0, out);
    assert_eq!(c.verdict, Verdict::InfraError);
    assert_eq!(c.matches[0].rule, "json-is-error");
    assert_eq!(c.matches[0].line, 2);
    let ok = verdict(0, "{\"type\":\"result\",\"is_error\":false}\n");
    assert_eq!(ok.verdict, Verdict::Passed);
}

#[test]
fn every_built_in_rule_catches_its_sample_and_names_itself() {
    for r in Runbook::builtin().output_rules {
        let c = verdict(0, &format!("before\n{}\nafter", r.sample));
        assert_eq!(c.verdict, Verdict::InfraError, "rule {}", r.name);
        assert!(
            c.matches.iter().any(|m| m.rule == r.name && m.line == 2),
            "rule {}",
            r.name
        );
    }
}

#[test]
fn infra_error_wins_over_a_non_zero_exit() {
    let c = verdict(2, "Traceback (most recent call last):\n  File \"x.py\"\n");
    assert_eq!(c.verdict, Verdict::InfraError);
    assert!(
        c.reason.starts_with("exit code 2, but line 1"),
        "{}",
        c.reason
    );
}

#[test]
fn rules_for_other_agents_do_not_apply() {
    let mut rb = Runbook::builtin();
    for r in &mut rb.output_rules {
        r.agents = vec!["aider".into()];
    }
    let set = rb.rule_set().unwrap();
    let out = b"Error: 429 Too Many Requests";
    assert_eq!(
        classify(&set, Some("codex"), Some(0), out).verdict,
        Verdict::Passed
    );
    assert_eq!(
        classify(&set, Some("AIDER"), Some(0), out).verdict,
        Verdict::InfraError
    );
}

#[test]
fn excerpts_drop_escapes_and_secrets_and_are_cut() {
    let line = format!(
        "\x1b[31mError: 429 Too Many Requests\x1b[0m key sk-ant-abcdefghijklmnop Bearer abcdef123456789 {}",
        "x".repeat(5000)
    );
    let c = verdict(0, &line);
    let e = &c.matches[0].excerpt;
    assert!(
        !e.contains('\x1b') && !e.contains("sk-ant") && !e.contains("abcdef123456789"),
        "{e}"
    );
    assert!(e.contains("[redacted]"), "{e}");
    assert!(
        e.chars().count() <= classify::MAX_EXCERPT + 1 && e.ends_with('…'),
        "{e}"
    );
}

#[test]
fn output_beyond_one_mebibyte_is_cut_and_said() {
    let mut out = vec![b'a'; classify::MAX_OUTPUT];
    out.extend_from_slice(b"\nError: 429 Too Many Requests\n");
    let c = classify(&rules(), None, Some(0), &out);
    assert_eq!(c.verdict, Verdict::Passed);
    assert!(
        c.truncated && c.reason.contains("only the first 1048576"),
        "{}",
        c.reason
    );
}

#[test]
fn hostile_outputs_of_one_mebibyte_classify_quickly() {
    let near_miss = "HTTP/1.1 200 OK rate limiting status=399 \"is_error\": false overload 4290 Traceback (most\n";
    let lines = near_miss.repeat(classify::MAX_OUTPUT / near_miss.len());
    let one_line = "(((((aaaa".repeat(classify::MAX_OUTPUT / 9);
    let many_matches = "Error: 429 Too Many Requests\n".repeat(classify::MAX_OUTPUT / 29);
    let invalid_utf8 = vec![0xffu8; classify::MAX_OUTPUT];
    for out in [
        lines.as_bytes(),
        one_line.as_bytes(),
        many_matches.as_bytes(),
        &invalid_utf8,
    ] {
        let start = Instant::now();
        let c = classify(&rules(), None, Some(0), out);
        // Debug builds are slow; the bench measures release. This bounds the worst case.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert!(c.matches.len() <= classify::MAX_MATCHES);
    }
    assert_eq!(
        classify(&rules(), None, Some(0), lines.as_bytes()).verdict,
        Verdict::Passed
    );
}

#[test]
fn bad_rules_are_refused_with_every_problem() {
    let rule = |name: &str, pattern: &str, sample: &str| OutputRule {
        name: name.into(),
        pattern: pattern.into(),
        verdict: RuleVerdict::InfraError,
        meaning: "m".into(),
        agents: vec![],
        sample: sample.into(),
    };
    let err = RuleSet::compile(&[
        rule("a", "(unclosed", "x"),
        rule("a", "boom", "no match here"),
        rule("c", ".*", ""),
        rule("d", "a{1000}{1000}", "a"),
        rule("e", "(?=look)", "look"),
    ])
    .unwrap_err();
    let all = err.0.join("\n");
    assert_eq!(err.0.len(), 6, "{all}");
    assert!(
        all.contains("does not compile") && all.contains("used by an earlier rule"),
        "{all}"
    );
    assert!(
        all.contains("does not match its sample") && all.contains("empty line"),
        "{all}"
    );
}

#[test]
fn a_runbook_with_a_broken_output_rule_is_refused_naming_it() {
    let text = format!(
        "{}\n[[output_rules]]\nname = \"mine\"\npattern = 'quota gone'\nverdict = \"infra_error\"\nmeaning = \"m\"\nsample = \"all good\"\n",
        crate::incident::runbook::DEFAULT_RUNBOOK
    );
    let err = Runbook::parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("\"mine\"") && err.contains("does not match its sample"),
        "{err}"
    );
    let bad_detection = crate::incident::runbook::DEFAULT_RUNBOOK
        .replace("component = \"llm-api\"", "component = \"nope\"");
    let err = Runbook::parse(&bad_detection).unwrap_err().to_string();
    assert!(err.contains("detection.component \"nope\""), "{err}");
}
