//! `POST /v1/incidents` and `GET /v1/incidents/{id}`: the agent API for incidents.
//!
//! Purpose: authenticate, parse, authorise, and hand the declaration to
//! `IncidentService` — nothing more. Errors name their cause (the unknown
//! component lists the valid ones, a bad severity lists the spellings). Must never
//! reveal an incident or repository the token does not cover.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use super::agent::AgentAuth;
use super::error::ApiError;
use super::incident_list::{ListedIncident, listed};
use crate::incident::model::declaration::{ApiDeclaration, Declaration};
use crate::incident::model::severity::Severity;
use crate::incident::model::{DeclaredVia, EventKind, IncidentStatus};
use crate::incident::render::timeline::entry_text;
use crate::incident::service::{IncidentError, IncidentKey, NewDeclaration, millis};
use crate::store::{IncidentEvent, IncidentRecord, IssueLink};
use crate::types::RepoName;

pub const WRITE_SCOPE: &str = "incidents:write";
/// Reading an incident is allowed with either scope on its repository.
pub const READ_SCOPES: [&str; 2] = [WRITE_SCOPE, "diff:read"];

/// Whether the token may read incidents of `repo`.
pub(super) fn can_read(auth: &AgentAuth, repo: &RepoName) -> bool {
    READ_SCOPES
        .iter()
        .any(|s| auth.0.authorize(repo, s).is_ok())
}

#[derive(Serialize)]
pub struct IssueJson {
    pub number: u64,
    pub url: String,
}

/// The answer of both routes (CONTRACT.md, plus details).
#[derive(Serialize)]
pub struct IncidentJson {
    pub id: i64,
    pub repo: RepoName,
    pub target_repo: RepoName,
    pub title: String,
    pub severity: Severity,
    pub component: Option<String>,
    pub status: IncidentStatus,
    pub commander: Option<String>,
    pub declared_by: String,
    pub declared_via: DeclaredVia,
    pub dedup_key: Option<String>,
    pub created_at: String,
    pub rca_due: String,
    pub resolved_at: Option<String>,
    pub source_issue: Option<IssueJson>,
    pub bug_issue: Option<IssueJson>,
    pub rca_issue: Option<IssueJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<IncidentEvent>>,
}

pub(super) fn issue(l: &Option<IssueLink>) -> Option<IssueJson> {
    l.as_ref().map(|l| IssueJson {
        number: l.number.0,
        url: l.url.clone(),
    })
}

pub(super) fn rfc3339(ms: i64) -> String {
    millis(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl IncidentJson {
    pub fn new(i: &IncidentRecord) -> Self {
        Self {
            id: i.id,
            repo: i.repo.clone(),
            target_repo: i.target_repo.clone(),
            title: i.title.clone(),
            severity: i.severity,
            component: i.component.clone(),
            status: i.status,
            commander: i.commander.clone(),
            declared_by: i.declared_by.clone(),
            declared_via: i.declared_via,
            dedup_key: i.dedup_key.clone(),
            created_at: rfc3339(i.created_at),
            rca_due: i.rca_due_at.clone(),
            resolved_at: i.resolved_at.map(rfc3339),
            source_issue: issue(&i.source_issue),
            bug_issue: issue(&i.bug_issue),
            rca_issue: issue(&i.rca_issue),
            summary: None,
            events: None,
        }
    }
}

pub(super) fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

pub(super) fn service_error(e: IncidentError) -> ApiError {
    match e {
        IncidentError::User(m) => unprocessable("repo_config", m),
        IncidentError::GitHub(g) if g.is_transient() => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "github_unavailable",
            format!(
                "{g}. Nothing is lost: post again with the same dedup_key to continue where this stopped."
            ),
        ),
        IncidentError::GitHub(g) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "github_error", g.to_string())
        }
        IncidentError::Store(s) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("{s}; try again"),
        ),
        // The repository's template: its writers can fix it, retrying cannot.
        IncidentError::Render(r) => unprocessable(
            "render_failed",
            format!(
                "{r}. Fix the template under `.github/responder/templates/` on the default branch and post again."
            ),
        ),
    }
}

/// `POST /v1/incidents`: 201 with a new incident, 200 with the one its `dedup_key`
/// already opened.
pub async fn declare(
    State(state): State<AppState>,
    auth: AgentAuth,
    body: Result<Json<ApiDeclaration>, JsonRejection>,
) -> Result<(StatusCode, Json<IncidentJson>), ApiError> {
    let Json(req) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!(
                "{}. The body is {{\"repo\": \"owner/repo\", \"title\": …, \"severity\": \"SEV2\", \"component\": …, \"summary\": …, \"dedup_key\": …}}",
                e.body_text()
            ),
        )
    })?;
    let (created, incident) =
        declare_for(&state, &req, &auth.0.sub, |r| auth.require(r, WRITE_SCOPE)).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(incident)))
}

/// The declaration behind `POST /v1/incidents`, shared with the MCP tool
/// `declare_incident`: `may_write` refuses a repository the caller may not write
/// incidents of (asked for the named repository and the runbook's target).
/// Whether the incident is new, and the incident.
pub(crate) async fn declare_for(
    state: &AppState,
    req: &ApiDeclaration,
    declared_by: &str,
    may_write: impl Fn(&RepoName) -> Result<(), ApiError>,
) -> Result<(bool, IncidentJson), ApiError> {
    let repo: RepoName = req
        .repo
        .parse()
        .map_err(|e| unprocessable("invalid_repo", format!("repo: {e}")))?;
    may_write(&repo)?;
    state.require_app()?;
    let incidents = &state.incidents;
    let ctx = incidents.context(&repo).await.map_err(service_error)?;
    // The issues are written in the target repository: the token must grant it too.
    may_write(&ctx.target_repo())?;
    let (_, declaration) = Declaration::from_api(req, &ctx.runbook, &ctx.aliases)
        .map_err(|e| unprocessable("invalid_declaration", e.to_string()))?;
    let key = match &declaration.dedup_key {
        Some(k) => IncidentKey::api(&repo, k),
        None => IncidentKey::api(&repo, &uuid::Uuid::new_v4().to_string()),
    };
    let new = NewDeclaration {
        key,
        declaration,
        declared_by: declared_by.to_string(),
        source: None,
    };
    let declared = incidents.declare(&ctx, new).await.map_err(service_error)?;
    tracing::info!(incident = declared.incident.id, repo = %repo, agent = %declared_by, created = declared.created, "incident declared by API");
    Ok((declared.created, IncidentJson::new(&declared.incident)))
}

/// `GET /v1/incidents/{id}`: the incident, its issues, timings, RCA state, follow-ups (as each
/// entry of the list has them) and its history. 404 both
/// when it does not exist and when the token covers neither scope on its
/// repository, so ids cannot be probed.
pub async fn show(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> Result<Json<ListedIncident>, ApiError> {
    incident_for(&state, &id, |r| can_read(&auth, r))
        .await
        .map(Json)
}

/// The incident `id` as `GET /v1/incidents/{id}` shows it, shared with the MCP tool
/// `get_incident`; not found unless `may_read` allows its repository.
pub(crate) async fn incident_for(
    state: &AppState,
    id: &str,
    may_read: impl Fn(&RepoName) -> bool,
) -> Result<ListedIncident, ApiError> {
    let inc = readable_incident(state, id, may_read).await?;
    let store = state.incidents.store();
    let events = store
        .incident_events(inc.id)
        .await
        .map_err(|e| service_error(e.into()))?;
    let rca = store
        .rca_state(inc.id)
        .await
        .map_err(|e| service_error(e.into()))?;
    let follow_ups = store
        .follow_ups(inc.id)
        .await
        .map_err(|e| service_error(e.into()))?;
    let mut json = listed(&inc, &rca, &follow_ups);
    json.incident.summary = Some(inc.summary.clone());
    json.incident.events = Some(events);
    Ok(json)
}

/// The incident `id` when `may_read` allows its repository; 404 alike when it does
/// not exist and when the caller covers neither scope there, so ids cannot be probed.
async fn readable_incident(
    state: &AppState,
    id: &str,
    may_read: impl Fn(&RepoName) -> bool,
) -> Result<IncidentRecord, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no incident {id} in the repositories this token covers"),
        )
    };
    let n: i64 = id.parse().map_err(|_| not_found())?;
    let inc = state
        .incidents
        .store()
        .incident(n)
        .await
        .map_err(|e| service_error(e.into()))?
        .ok_or_else(not_found)?;
    if !may_read(&inc.repo) {
        return Err(not_found());
    }
    Ok(inc)
}

/// One entry of `GET /v1/incidents/{id}/timeline` (CONTRACT.md, Timeline).
#[derive(Serialize)]
pub struct TimelineEntry {
    pub at: String,
    pub kind: EventKind,
    pub actor: Option<String>,
    pub text: String,
    pub url: Option<String>,
}

#[derive(Serialize)]
pub struct TimelineJson {
    pub incident: i64,
    pub entries: Vec<TimelineEntry>,
}

/// `GET /v1/incidents/{id}/timeline`: every entry, oldest first (by when it
/// happened: a back-dated note stands at its own time).
pub async fn timeline(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(id): Path<String>,
) -> Result<Json<TimelineJson>, ApiError> {
    let inc = readable_incident(&state, &id, |r| can_read(&auth, r)).await?;
    let events = state
        .incidents
        .store()
        .incident_events(inc.id)
        .await
        .map_err(|e| service_error(e.into()))?;
    let entries = events
        .into_iter()
        .map(|e| TimelineEntry {
            at: rfc3339(e.at),
            kind: e.kind,
            actor: Some(e.actor.clone()).filter(|a| !a.is_empty()),
            text: entry_text(&e),
            url: e.url,
        })
        .collect();
    Ok(Json(TimelineJson {
        incident: inc.id,
        entries,
    }))
}
