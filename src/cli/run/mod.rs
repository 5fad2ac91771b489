//! `responder run [--agent NAME] [--report URL] -- CMD [ARG…]`: the sandbox wrapper.
//!
//! Purpose: run an agent CLI as a child, pass its stdout and stderr through byte for
//! byte as they arrive, keep a bounded copy for the agent-run rules, and turn "exit 0
//! but the output shows an API error" into exit 70 with one line on stderr. Every
//! other outcome is the child's own exit code (a signal: 128 + its number, as shells
//! do). Needs no settings: a sandbox has none, and a wrapper that refused to start
//! would turn a working agent into a failed task.

mod pump;
mod report;
mod rules;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use clap::Args;
use tokio::process::Command;

use responder::runs::classify::{Classification, MAX_OUTPUT, classify};
use responder::runs::{RuleSet, Verdict};

/// What `responder run` exits with when exit 0 hid an API error (`EX_SOFTWARE`).
pub const HIDDEN_ERROR_EXIT: u8 = 70;
/// What it exits with when the command cannot be started, as shells do.
const NOT_STARTED_EXIT: u8 = 127;
/// What it exits with when its own arguments or rules are unusable.
const USAGE_EXIT: u8 = 2;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent's name, for rules limited to some agents and for the report
    /// (default: the command's file name).
    #[arg(long)]
    agent: Option<String>,
    /// Rules to apply instead of the built-in ones: a runbook TOML (with
    /// `[severities…]`) or a file holding only `[[output_rules]]`.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Post the run to this Responder (its base URL, or the full
    /// `…/v1/agent-runs` URL) with the token in RESPONDER_TOKEN.
    #[arg(long, value_name = "URL")]
    report: Option<String>,
    /// The repository the run belongs to, for the report (OWNER/REPO).
    #[arg(long, env = "RESPONDER_REPO")]
    repo: Option<String>,
    /// The run's id for the report; a repeat answers the stored verdict (default: random).
    #[arg(long, env = "RESPONDER_RUN_ID")]
    run_id: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// Runs the child and returns the exit code the caller should see.
pub async fn run(args: RunArgs) -> ExitCode {
    let rules = match rules::load(args.rules.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("responder run: {e}");
            return ExitCode::from(USAGE_EXIT);
        }
    };
    let agent = args
        .agent
        .clone()
        .unwrap_or_else(|| program_name(&args.command[0]));
    let started = Instant::now();
    let mut child = match Command::new(&args.command[0])
        .args(&args.command[1..])
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "responder run: cannot start {}: {e}",
                args.command[0].to_string_lossy()
            );
            return ExitCode::from(NOT_STARTED_EXIT);
        }
    };
    let forward = pump::forward_signals(child.id());
    // Half the budget each, so a chatty stdout cannot hide the error on stderr.
    let out = tokio::spawn(pump::pump(
        child.stdout.take().expect("stdout is piped"),
        tokio::io::stdout(),
        MAX_OUTPUT / 2,
    ));
    let err = tokio::spawn(pump::pump(
        child.stderr.take().expect("stderr is piped"),
        tokio::io::stderr(),
        MAX_OUTPUT / 2,
    ));
    let status = child.wait().await;
    let stdout = out.await.unwrap_or_default();
    let stderr = err.await.unwrap_or_default();
    forward.abort();
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            eprintln!("responder run: waiting for the command failed: {e}");
            return ExitCode::from(NOT_STARTED_EXIT);
        }
    };
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    let outcome = Outcome::of(&rules, &agent, status.code(), &stdout, &stderr);
    if let Some(url) = &args.report {
        let body = report::Body {
            run_id: args
                .run_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            repo: args.repo.clone(),
            agent: agent.clone(),
            exit_code: code,
            output: report::output(&stdout, &stderr),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(e) = report::post(url, &body).await {
            eprintln!("responder run: the run was not reported to {url}: {e}");
        }
    }
    if code == 0 && outcome.verdict != Verdict::Passed {
        eprintln!("responder run: exit 0 hid an API error: {}", outcome.line);
        return ExitCode::from(HIDDEN_ERROR_EXIT);
    }
    ExitCode::from((code & 0xff) as u8)
}

/// The local verdict over both streams, and the one line saying why.
struct Outcome {
    verdict: Verdict,
    line: String,
}

impl Outcome {
    fn of(rules: &RuleSet, agent: &str, code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Self {
        // Each stream apart, so the line number points into the stream that held it.
        let classified: [(&str, Classification); 2] = [
            ("stdout", classify(rules, Some(agent), code, stdout)),
            ("stderr", classify(rules, Some(agent), code, stderr)),
        ];
        let worst = classified
            .iter()
            .find(|(_, c)| c.verdict == Verdict::InfraError)
            .or_else(|| {
                classified
                    .iter()
                    .find(|(_, c)| c.verdict == Verdict::Timeout)
            });
        match worst {
            Some((stream, c)) => Outcome {
                verdict: c.verdict,
                line: format!("{stream} {}", c.reason.replacen("exit code 0, but ", "", 1)),
            },
            None => Outcome {
                verdict: classified[0].1.verdict,
                line: classified[0].1.reason.clone(),
            },
        }
    }
}

fn program_name(cmd: &OsString) -> String {
    std::path::Path::new(cmd)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| cmd.to_string_lossy().into_owned())
}
