//! What each MCP tool does: authorise on its arguments, ask the services the HTTP
//! API asks (`DiffService` with its single flight, caches and fallback;
//! `IncidentService` through the `/v1/incidents` path), and shape one page.
//!
//! Purpose: the tools' behaviour, with no protocol in it. Errors are tool errors a
//! model can act on; none reveals whether a repository the caller may not see
//! exists, and none carries a token.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use tracing::Instrument;

use super::access::{Access, AccessError, DIFF_READ, INCIDENTS_WRITE};
use super::cursor::{Cursor, CursorError, Version};
use super::pages::{self, CutAt, Page, Position};
use super::tools::*;
use crate::diff::service::split_files;
use crate::diff::view::PathFilter;
use crate::diff::{DiffAnswer, DiffError, Via};
use crate::http::{ApiError, AppState};
use crate::incident::model::declaration::ApiDeclaration;
use crate::types::{PrNumber, RepoName};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Access(#[from] AccessError),
    #[error("{0}")]
    Cursor(#[from] CursorError),
    #[error("{0}")]
    Argument(String),
    #[error("{0}")]
    Diff(#[from] DiffError),
    /// Responder's own fault; the text says what to do instead.
    #[error("{0}")]
    Internal(String),
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl From<ApiError> for ToolError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// Names checked, then the grant, before anything asks GitHub.
fn target(access: &Access, repo: &str, number: u64) -> Result<(RepoName, PrNumber), ToolError> {
    let name: RepoName = repo
        .parse()
        .map_err(|e| ToolError::Argument(format!("repo: {e}; write it as \"owner/name\"")))?;
    access.authorize(&name, DIFF_READ)?;
    if number == 0 {
        return Err(ToolError::Argument(
            "number: 0 is not a pull request number".into(),
        ));
    }
    Ok((name, PrNumber(number)))
}

async fn answer(
    state: &AppState,
    access: &Access,
    repo: &str,
    number: u64,
) -> Result<Arc<DiffAnswer>, ToolError> {
    let (repo, number) = target(access, repo, number)?;
    state.require_app()?;
    let span = tracing::info_span!("mcp_diff", %repo, pr = number.0, agent = access.who());
    Ok(state
        .diffs
        .get(&repo, number, Via::Auto)
        .instrument(span)
        .await?)
}

fn provenance(a: &DiffAnswer) -> Provenance {
    Provenance {
        repository: a.repository.clone(),
        number: a.number,
        head_sha: a.head_sha.clone(),
        merge_base_sha: a.merge_base_sha.clone(),
        source: a.source.as_str().to_string(),
        fallback_reason: a.fallback_reason.clone(),
        complete: a.complete,
    }
}

fn version(a: &DiffAnswer) -> Version<'_> {
    Version {
        repo: &a.repository,
        number: a.number,
        merge_base: &a.merge_base_sha,
        head: &a.head_sha,
    }
}

/// Where a cursor resumes, after checking it belongs to this call.
fn resume(
    cursor: Option<&str>,
    tool: &str,
    a: &DiffAnswer,
    paths: &[String],
) -> Result<Option<Position>, ToolError> {
    cursor
        .map(|c| Ok(Cursor::decode(c)?.resume(tool, &version(a), paths)?))
        .transpose()
}

fn structured<T: Serialize>(value: &T) -> CallToolResult {
    CallToolResult::structured(serde_json::to_value(value).expect("tool results serialise"))
}

pub async fn files(
    state: &AppState,
    access: &Access,
    args: FilesArgs,
) -> Result<CallToolResult, ToolError> {
    let limit = args.limit.unwrap_or(match args.fields {
        Fields::Patches => DEFAULT_LIMIT_PATCHES,
        _ => DEFAULT_LIMIT,
    });
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::Argument(format!(
            "limit: {limit} is outside 1..={MAX_LIMIT}"
        )));
    }
    let filter = PathFilter::new(&args.paths).map_err(ToolError::Argument)?;
    let a = answer(state, access, &args.repo, args.number).await?;
    let start = resume(args.cursor.as_deref(), "files", &a, &args.paths)?.map_or(0, |p| p.file);
    let matching: Vec<usize> = (0..a.files.len())
        .filter(|&i| filter.matches(&a.files[i]))
        .collect();
    let first = matching.partition_point(|&i| i < start);
    let end = (first + limit).min(matching.len());
    let next_cursor = matching.get(end).map(|&file| {
        Cursor::new(
            "files",
            &version(&a),
            &args.paths,
            Position { file, offset: 0 },
        )
        .encode()
    });
    let files = matching[first..end]
        .iter()
        .map(|&i| file_out(&a.files[i], args.fields))
        .collect();
    Ok(structured(&FilesPage {
        provenance: provenance(&a),
        total_files: a.files.len(),
        matching_files: matching.len(),
        remaining_files: matching.len() - end,
        files,
        next_cursor,
    }))
}

fn file_out(f: &crate::diff::FileEntry, fields: Fields) -> FileOut {
    let stats = fields != Fields::Names;
    FileOut {
        filename: f.filename.clone(),
        status: f.status.as_str().to_string(),
        additions: stats.then_some(f.additions),
        deletions: stats.then_some(f.deletions),
        changes: stats.then_some(f.changes),
        previous_filename: f.previous_filename.clone().filter(|_| stats),
        binary: stats.then_some(f.binary),
        patch: f.patch.clone().filter(|_| fields == Fields::Patches),
    }
}

pub async fn diff(
    state: &AppState,
    access: &Access,
    args: DiffArgs,
) -> Result<CallToolResult, ToolError> {
    let max = args.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if !(MIN_MAX_BYTES..=MAX_MAX_BYTES).contains(&max) {
        return Err(ToolError::Argument(format!(
            "max_bytes: {max} is outside {MIN_MAX_BYTES}..={MAX_MAX_BYTES}"
        )));
    }
    let filter = PathFilter::new(&args.paths).map_err(ToolError::Argument)?;
    let a = answer(state, access, &args.repo, args.number).await?;
    let start = resume(args.cursor.as_deref(), "diff", &a, &args.paths)?;
    // Splitting a big diff scans all of it: off the async threads.
    let (a2, paths) = (a.clone(), args.paths);
    state
        .diffs
        .blocking(move || diff_page(&a2, &filter, &paths, start, max))
        .await
        .unwrap_or_else(|| {
            Err(ToolError::Internal(
                "cutting the page failed inside Responder; try again".into(),
            ))
        })
}

fn diff_page(
    a: &DiffAnswer,
    filter: &PathFilter,
    paths: &[String],
    start: Option<Position>,
    max: usize,
) -> Result<CallToolResult, ToolError> {
    let parts = split_files(&a.unified);
    if parts.len() != a.files.len() {
        return Err(ToolError::Internal(format!(
            "the diff of {} has {} file sections for {} files; read it whole from GET /v1/repos/{}/pulls/{}/diff",
            a.repository,
            parts.len(),
            a.files.len(),
            a.repository,
            a.number
        )));
    }
    let selected: Vec<usize> = (0..a.files.len())
        .filter(|&i| filter.matches(&a.files[i]))
        .collect();
    let start = start.unwrap_or(Position {
        file: selected.first().copied().unwrap_or(0),
        offset: 0,
    });
    let page = pages::cut(&a.unified, &parts, &selected, start, max)
        .map_err(|_| CursorError::Malformed)?;
    let remaining_bytes = page.next.map_or(0, |n| {
        selected
            .iter()
            .filter(|&&i| i >= n.file)
            .map(|&i| parts[i].len())
            .sum::<usize>()
            - n.offset
    });
    let out = describe(a, &page, &selected, paths, max, remaining_bytes);
    let (text, lossy) = match String::from_utf8(page.body) {
        Ok(t) => (t, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    };
    let out = DiffPageOut { lossy, ..out };
    let value = serde_json::to_value(&out).expect("tool results serialise");
    let mut result = CallToolResult::success(vec![
        ContentBlock::text(text),
        ContentBlock::text(value.to_string()),
    ]);
    result.structured_content = Some(value);
    Ok(result)
}

fn describe(
    a: &DiffAnswer,
    page: &Page,
    selected: &[usize],
    paths: &[String],
    max: usize,
    remaining_bytes: usize,
) -> DiffPageOut {
    let name = |i: usize| a.files[i].filename.clone();
    DiffPageOut {
        provenance: provenance(a),
        bytes: page.body.len(),
        max_bytes: max,
        files: page.files.iter().map(|&i| name(i)).collect(),
        split: page.split.as_ref().map(|s| {
            let cut_at = s.cut.map(|c| match c {
                CutAt::Hunk => "hunk",
                CutAt::Line => "line",
                CutAt::Character => "character",
            });
            let note = match s.cut {
                Some(_) => format!(
                    "{} is bigger than max_bytes: this page holds bytes {}..{} of its {}-byte diff, cut before a {}; the next page continues it",
                    name(s.file),
                    s.held.start,
                    s.held.end,
                    s.len,
                    match s.cut {
                        Some(CutAt::Hunk) => "hunk",
                        Some(CutAt::Line) => "line (one hunk is bigger than max_bytes)",
                        _ => "character (one line is bigger than max_bytes)",
                    }
                ),
                None => format!(
                    "this page begins with the rest of {} (bytes {}..{}), continued from the previous page",
                    name(s.file),
                    s.held.start,
                    s.len
                ),
            };
            SplitOut {
                filename: name(s.file),
                from_byte: s.held.start,
                to_byte: s.held.end,
                file_bytes: s.len,
                cut_at: cut_at.map(str::to_string),
                note,
            }
        }),
        remaining_files: page
            .next
            .map_or(0, |n| selected.iter().filter(|&&i| i >= n.file).count()),
        remaining_bytes,
        next_file: page.next.map(|n| name(n.file)),
        filtered_out: a.files.len() - selected.len(),
        lossy: false,
        next_cursor: page
            .next
            .map(|n| Cursor::new("diff", &version(a), paths, n).encode()),
    }
}

pub async fn declare(
    state: &AppState,
    access: &Access,
    args: DeclareArgs,
) -> Result<CallToolResult, ToolError> {
    let req = ApiDeclaration {
        repo: args.repo,
        title: args.title,
        severity: args.severity,
        component: args.component,
        summary: args.summary.unwrap_or_default(),
        dedup_key: args.dedup_key,
    };
    let may_write = |r: &RepoName| {
        access.authorize(r, INCIDENTS_WRITE).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                e.to_string(),
            )
        })
    };
    let (created, incident) =
        crate::http::declare_for(state, &req, access.who(), may_write).await?;
    let mut value = serde_json::to_value(&incident).expect("incidents serialise");
    value["created"] = created.into();
    Ok(CallToolResult::structured(value))
}

pub async fn get_incident(
    state: &AppState,
    access: &Access,
    args: GetIncidentArgs,
) -> Result<CallToolResult, ToolError> {
    let may_read = |r: &RepoName| access.may_any(r, &[INCIDENTS_WRITE, DIFF_READ]);
    let incident = crate::http::incident_for(state, &args.id.to_string(), may_read).await?;
    Ok(structured(&incident))
}
