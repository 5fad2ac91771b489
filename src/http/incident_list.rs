//! `GET /v1/incidents?repo=&status=&severity=&limit=`: incidents with their issues,
//! timings, RCA state and follow-ups, newest first.
//!
//! Purpose: let people and agents see incidents without opening GitHub. A token
//! sees only incidents of repositories it grants (`diff:read` or `incidents:write`):
//! naming another repository is 403, and without `repo` the store filters by the
//! grants, so `limit` counts only visible incidents. Must never reveal that an incident of an ungranted repository exists.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::agent::AgentAuth;
use super::error::ApiError;
use super::incidents::{
    IncidentJson, READ_SCOPES, can_read, rfc3339, service_error, unprocessable,
};
use crate::agent_token::Grant;
use crate::incident::model::IncidentStatus;
use crate::incident::model::severity::{Severity, SeverityAliases};
use crate::incident::model::{FollowUpOrigin, FollowUpState};
use crate::store::{FollowUp, IncidentFilter, RcaState, Within};
use crate::types::{Login, RepoName};

/// How many incidents one answer holds at most.
pub const MAX_LIMIT: i64 = 200;

#[derive(Deserialize)]
pub struct ListQuery {
    repo: Option<String>,
    status: Option<String>,
    severity: Option<String>,
    limit: Option<i64>,
}

/// Milestones (RFC 3339) and durations from declaration in seconds, `null` until
/// they happen. Acknowledged: the first commander or status update.
#[derive(Serialize)]
pub struct Timings {
    pub started_at: Option<String>,
    pub acknowledged_at: Option<String>,
    pub mitigated_at: Option<String>,
    /// From when it started (when known) to its declaration.
    pub time_to_declare_seconds: Option<i64>,
    pub time_to_acknowledge_seconds: Option<i64>,
    pub time_to_mitigate_seconds: Option<i64>,
    pub time_to_resolve_seconds: Option<i64>,
    pub rca_closed_at: Option<String>,
    pub time_to_rca_seconds: Option<i64>,
}

#[derive(Serialize)]
pub struct RcaJson {
    pub closed: bool,
    pub close_reason: Option<String>,
    pub reminders: i64,
    pub last_reminded: Option<String>,
    pub runbook_pull: Option<PullJson>,
}

#[derive(Serialize)]
pub struct PullJson {
    pub number: i64,
    pub url: String,
}

/// One action item of the RCA and the issue that tracks it.
#[derive(Serialize)]
pub struct FollowUpJson {
    pub repo: RepoName,
    pub number: u64,
    pub url: String,
    pub title: String,
    pub owner: Option<Login>,
    /// `created` (Responder opened it) or `linked` (the RCA named it).
    pub origin: FollowUpOrigin,
    pub state: FollowUpState,
}

#[derive(Serialize)]
pub struct ListedIncident {
    #[serde(flatten)]
    pub incident: IncidentJson,
    pub timings: Timings,
    pub rca: RcaJson,
    /// How many of `follow_ups` are open.
    pub open_follow_ups: usize,
    pub follow_ups: Vec<FollowUpJson>,
}

#[derive(Serialize)]
pub struct IncidentList {
    pub incidents: Vec<ListedIncident>,
}

pub async fn list(
    State(state): State<AppState>,
    auth: AgentAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let repo = match q.repo.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => {
            let repo: RepoName = r
                .parse()
                .map_err(|e| unprocessable("invalid_repo", format!("repo: {e}")))?;
            if !can_read(&auth, &repo) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "this token does not grant {repo} (scope diff:read or incidents:write)"
                    ),
                ));
            }
            Some(repo)
        }
    };
    let status = match q.status.as_deref().map(str::to_ascii_lowercase) {
        None => None,
        Some(s) => Some(s.parse::<IncidentStatus>().map_err(|_| {
            unprocessable(
                "invalid_status",
                format!("status {s:?}: use open, mitigated or resolved"),
            )
        })?),
    };
    let severity = match q.severity.as_deref() {
        None => None,
        Some(s) => Some(
            Severity::parse(s, &SeverityAliases::default())
                .map_err(|e| unprocessable("invalid_severity", format!("severity: {e}")))?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let filter = IncidentFilter {
        repo: repo.as_ref().map(RepoName::full),
        within: Some(granted(&auth)),
        status,
        severity,
        limit,
    };
    let rows = state
        .store
        .list_incidents(&filter)
        .await
        .map_err(|e| service_error(e.into()))?;
    // The store already kept to the grants; checking again costs nothing.
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(i, _)| can_read(&auth, &i.repo))
        .collect();
    // One query for the whole page, not one per incident.
    let ids: Vec<i64> = rows.iter().map(|(i, _)| i.id).collect();
    let mut follow_ups = state
        .store
        .follow_ups_of(&ids)
        .await
        .map_err(|e| service_error(e.into()))?;
    let incidents = rows
        .into_iter()
        .map(|(i, rca)| {
            let f = follow_ups.remove(&i.id).unwrap_or_default();
            listed(&i, &rca, &f)
        })
        .collect();
    Ok(Json(IncidentList { incidents }))
}

/// The repositories the token may read incidents of, for the store to filter by
/// (so `limit` counts only what the caller may see); none without a read scope.
fn granted(auth: &AgentAuth) -> Vec<Within> {
    let agent = &auth.0;
    if !READ_SCOPES
        .iter()
        .any(|s| agent.scopes.iter().any(|t| t == s))
    {
        return Vec::new();
    }
    agent
        .grants
        .iter()
        .map(|g| match g {
            Grant::Repo(r) => Within::Repo(r.full()),
            Grant::Owner(o) => Within::Owner(o.to_ascii_lowercase()),
        })
        .collect()
}

pub(super) fn listed(
    i: &crate::store::IncidentRecord,
    rca: &RcaState,
    follow_ups: &[FollowUp],
) -> ListedIncident {
    let secs = |to: i64| (to - i.created_at).max(0) / 1000;
    // A close as not planned is no RCA.
    let rca_done = rca
        .closed_at
        .filter(|_| rca.close_reason.as_deref() == Some("completed"));
    ListedIncident {
        incident: IncidentJson::new(i),
        timings: Timings {
            started_at: i.started_ms.map(rfc3339),
            acknowledged_at: i.acknowledged_at.map(rfc3339),
            mitigated_at: i.mitigated_at.map(rfc3339),
            time_to_declare_seconds: i.started_ms.map(|s| (i.created_at - s).max(0) / 1000),
            time_to_acknowledge_seconds: i.acknowledged_at.map(secs),
            time_to_mitigate_seconds: i.mitigated_at.map(secs),
            time_to_resolve_seconds: i.resolved_at.map(secs),
            rca_closed_at: rca.closed_at.map(rfc3339),
            time_to_rca_seconds: rca_done.map(secs),
        },
        rca: RcaJson {
            closed: rca.closed_at.is_some(),
            close_reason: rca.close_reason.clone(),
            reminders: rca.reminder_count,
            last_reminded: rca.reminded_day.clone(),
            runbook_pull: rca.runbook_pr_number.map(|number| PullJson {
                number,
                url: rca.runbook_pr_url.clone().unwrap_or_default(),
            }),
        },
        open_follow_ups: follow_ups
            .iter()
            .filter(|f| f.issue.is_some() && f.state == FollowUpState::Open)
            .count(),
        follow_ups: follow_ups.iter().filter_map(follow_up_json).collect(),
    }
}

/// A follow-up whose issue exists (one still being created is not shown).
fn follow_up_json(f: &FollowUp) -> Option<FollowUpJson> {
    let (repo, link) = f.issue.as_ref()?;
    Some(FollowUpJson {
        repo: repo.clone(),
        number: link.number.0,
        url: link.url.clone(),
        title: f.title.clone(),
        owner: f.owner.clone(),
        origin: f.origin,
        state: f.state,
    })
}
