//! `POST /v1/agent-runs`: one agent run in, its verdict out (CONTRACT.md, Agent runs).
//!
//! Purpose: authenticate (`runs:write` on the run's repository), parse, check the
//! names before they reach the store or an issue, and hand the run to
//! `AgentRuns`. Must never classify or decide about incidents itself.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::agent::AgentAuth;
use super::error::ApiError;
use super::incidents::{IssueJson, issue, service_error, unprocessable};
use crate::incident::model::IncidentStatus;
use crate::incident::service::{RUNS_SCOPE, RunAnswer, RunReport};
use crate::runs::{Match, Verdict};
use crate::types::RepoName;

/// A 1 MiB output, JSON-escaped, with room to spare; the classifier reads 1 MiB.
pub const RUN_BODY_LIMIT: usize = 8 * 1024 * 1024;
const MAX_RUN_ID: usize = 200;
const MAX_AGENT: usize = 100;

/// The body (CONTRACT.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    run_id: String,
    repo: String,
    agent: String,
    /// `null` (or absent): the run was killed by a signal.
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    output: String,
    #[serde(default)]
    duration_ms: Option<u64>,
}

#[derive(Serialize)]
pub struct RunIncidentJson {
    pub id: i64,
    pub status: IncidentStatus,
    pub bug_issue: Option<IssueJson>,
    pub rca_issue: Option<IssueJson>,
}

#[derive(Serialize)]
pub struct RunJson {
    pub run_id: String,
    pub verdict: Verdict,
    pub reason: String,
    pub matches: Vec<Match>,
    /// The output was longer than 1 MiB: only its start was read.
    pub truncated: bool,
    /// The `run_id` was reported before: this is the stored verdict.
    pub repeat: bool,
    pub incident: Option<RunIncidentJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_error: Option<String>,
}

pub async fn report(
    State(state): State<AppState>,
    auth: AgentAuth,
    body: Result<Json<RunBody>, JsonRejection>,
) -> Result<Json<RunJson>, ApiError> {
    let Json(b) = body.map_err(|e| {
        // 400 for every malformed body, as the other routes answer; too large is 413.
        let (status, code) = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            _ => (StatusCode::BAD_REQUEST, "invalid_body"),
        };
        ApiError::new(
            status,
            code,
            format!(
                "{}. The body is {{\"run_id\": …, \"repo\": \"owner/repo\", \"agent\": …, \"exit_code\": 0, \"output\": …, \"duration_ms\": …}}",
                e.body_text()
            ),
        )
    })?;
    let repo: RepoName = b
        .repo
        .parse()
        .map_err(|e| unprocessable("invalid_repo", format!("repo: {e}")))?;
    auth.require(&repo, RUNS_SCOPE)?;
    check_name(
        "run_id",
        &b.run_id,
        MAX_RUN_ID,
        "without control characters",
        |c| !c.is_control(),
    )?;
    check_name(
        "agent",
        &b.agent,
        MAX_AGENT,
        "letters, digits, spaces and . _ : / @ + -",
        |c| c.is_alphanumeric() || " ._:/@+-".contains(c),
    )?;
    // The repository's runbook holds the rules: read as the App.
    state.require_app()?;
    let run_id = b.run_id.trim().to_string();
    let report = RunReport {
        repo,
        run_id: run_id.clone(),
        agent: b.agent.trim().to_string(),
        exit_code: b.exit_code,
        output: b.output,
        duration_ms: b.duration_ms,
        reporter: auth.0.clone(),
    };
    let answer = state.runs.report(report).await.map_err(service_error)?;
    Ok(Json(json(run_id, answer)))
}

/// 422 unless `value`, trimmed, is 1 to `max` characters that are all `allowed`
/// (`which` says which, in the message).
fn check_name(
    field: &str,
    value: &str,
    max: usize,
    which: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || !v.chars().all(allowed) {
        return Err(unprocessable(
            "invalid_run",
            format!("{field} must be 1 to {max} characters, {which}"),
        ));
    }
    Ok(())
}

fn json(run_id: String, a: RunAnswer) -> RunJson {
    RunJson {
        run_id,
        verdict: a.classification.verdict,
        reason: a.classification.reason,
        matches: a.classification.matches,
        truncated: a.classification.truncated,
        repeat: a.repeat,
        incident: a.incident.map(|i| RunIncidentJson {
            id: i.id,
            status: i.status,
            bug_issue: issue(&i.bug_issue),
            rca_issue: issue(&i.rca_issue),
        }),
        incident_error: a.incident_error,
    }
}
