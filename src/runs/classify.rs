//! The classifier: exit code and output in, verdict, reason and matching lines out.
//!
//! Pure and bounded: the output is cut at [`MAX_OUTPUT`] bytes (the verdict says so),
//! each line is scanned once by the rule set (linear time), and at most
//! [`MAX_MATCHES`] matches with [`MAX_EXCERPT`]-character excerpts are kept.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::rules::{RuleSet, RuleVerdict};

/// The most output classified; beyond it the bytes are ignored and the reason says so.
pub const MAX_OUTPUT: usize = 1 << 20;
/// The most matches kept in a classification.
pub const MAX_MATCHES: usize = 20;
/// The longest excerpt, in characters.
pub const MAX_EXCERPT: usize = 200;
/// The exit code of `timeout(1)` when it killed the command.
pub const TIMEOUT_EXIT_CODE: i32 = 124;

/// How a run ended, as the evaluation engine should count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    InfraError,
    Timeout,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Passed,
        Verdict::Failed,
        Verdict::InfraError,
        Verdict::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::InfraError => "infra_error",
            Verdict::Timeout => "timeout",
        }
    }

    /// The inverse of [`Verdict::as_str`] (for stored rows).
    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One output line a rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub rule: String,
    /// 1-based line number in the output.
    pub line: u64,
    /// The line, sanitised (control characters and secrets removed) and cut.
    pub excerpt: String,
}

/// The verdict and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub verdict: Verdict,
    pub reason: String,
    pub matches: Vec<Match>,
    /// Whether the output was longer than [`MAX_OUTPUT`] and only its start was read.
    pub truncated: bool,
}

/// Classifies one run of `agent` that exited with `exit_code` (`None`: killed by a
/// signal) after printing `output`.
pub fn classify(
    rules: &RuleSet,
    agent: Option<&str>,
    exit_code: Option<i32>,
    output: &[u8],
) -> Classification {
    let truncated = output.len() > MAX_OUTPUT;
    let output = &output[..output.len().min(MAX_OUTPUT)];
    let mut matches = Vec::new();
    // The first match of each kind, kept apart so a full `matches` cannot lose it.
    let mut first_infra: Option<(Match, usize)> = None;
    let mut first_timeout: Option<(Match, usize)> = None;
    for (n, line) in output.split(|&b| b == b'\n').enumerate() {
        // One pass of the whole set first: almost every line matches nothing.
        if !rules.set.is_match(line) {
            continue;
        }
        for i in rules.set.matches(line).iter() {
            let rule = &rules.rules[i];
            if !rule.applies_to(agent) {
                continue;
            }
            let slot = match rule.verdict {
                RuleVerdict::InfraError => &mut first_infra,
                RuleVerdict::Timeout => &mut first_timeout,
            };
            if slot.is_some() && matches.len() >= MAX_MATCHES {
                continue;
            }
            let m = Match {
                rule: rule.name.clone(),
                line: n as u64 + 1,
                excerpt: sanitise(line),
            };
            if slot.is_none() {
                *slot = Some((m.clone(), i));
            }
            if matches.len() < MAX_MATCHES {
                matches.push(m);
            }
        }
        if matches.len() >= MAX_MATCHES && first_infra.is_some() {
            break;
        }
    }
    let (verdict, mut reason) = if let Some((m, i)) = first_infra.or(first_timeout) {
        let rule = &rules.rules[i];
        let verdict = match rule.verdict {
            RuleVerdict::InfraError => Verdict::InfraError,
            RuleVerdict::Timeout => Verdict::Timeout,
        };
        let exit = match exit_code {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".into(),
        };
        (
            verdict,
            format!(
                "{exit}, but line {} matched rule {} ({}): {}",
                m.line, rule.name, rule.meaning, m.excerpt
            ),
        )
    } else {
        match exit_code {
            Some(0) => (Verdict::Passed, "exit code 0 and no rule matched".into()),
            Some(TIMEOUT_EXIT_CODE) => (
                Verdict::Timeout,
                format!("exit code {TIMEOUT_EXIT_CODE}: killed by timeout(1)"),
            ),
            Some(c) => (Verdict::Failed, format!("exit code {c}")),
            None => (Verdict::Failed, "killed by a signal".into()),
        }
    };
    if truncated {
        reason.push_str(&format!(
            " (output longer than {MAX_OUTPUT} bytes: only the first {MAX_OUTPUT} were read)"
        ));
    }
    Classification {
        verdict,
        reason,
        matches,
        truncated,
    }
}

/// API keys and bearer tokens an agent CLI may echo in an error line.
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:sk-[a-z0-9_-]{8,}|gh[pousr]_[a-z0-9]{16,}|github_pat_[a-z0-9_]{16,}|xox[a-z]-[a-z0-9-]{8,}|AIza[0-9a-z_-]{20,})|\b(bearer|authorization:|api[_-]?key[\x22':= ]+)\s*[a-z0-9._~+/=-]{8,}",
    )
    .expect("the secret pattern compiles")
});

/// A line fit to show on an issue: valid UTF-8, no control characters (terminal
/// escapes), secrets replaced, at most [`MAX_EXCERPT`] characters.
pub fn sanitise(line: &[u8]) -> String {
    // Cut before decoding so a hostile 1 MiB line costs no more than a short one.
    let head = &line[..line.len().min(MAX_EXCERPT * 4)];
    let text: String = String::from_utf8_lossy(head)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = SECRET.replace_all(text.trim(), |c: &regex::Captures<'_>| match c.get(1) {
        Some(word) => format!("{} [redacted]", word.as_str()),
        None => "[redacted]".to_string(),
    });
    let mut out: String = text.chars().take(MAX_EXCERPT).collect();
    if text.chars().count() > MAX_EXCERPT || head.len() < line.len() {
        out.push('…');
    }
    out
}
