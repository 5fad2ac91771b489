//! The MCP tools as a model sees them: names, descriptions, argument and result
//! schemas (CONTRACT.md, "MCP tools"), and which scope each needs.
//!
//! Purpose: the tools' outside contract in one file. Doc comments on the argument
//! structs become the JSON schema's descriptions, so they are written for a model
//! choosing arguments. Nothing here runs a tool.

use std::borrow::Cow;

use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::access::{Access, DIFF_READ, INCIDENTS_WRITE};

pub const PULL_REQUEST_FILES: &str = "pull_request_files";
pub const PULL_REQUEST_DIFF: &str = "pull_request_diff";
pub const DECLARE_INCIDENT: &str = "declare_incident";
pub const GET_INCIDENT: &str = "get_incident";

/// The default page of `pull_request_diff`: about 15,000 tokens of diff, under the
/// 25,000-token tool-output limit agent CLIs apply by default, with room left.
pub const DEFAULT_MAX_BYTES: usize = 60_000;
/// Small pages would cost one call per hunk; big ones no context holds.
pub const MIN_MAX_BYTES: usize = 1_000;
pub const MAX_MAX_BYTES: usize = 2_000_000;
/// Files per `pull_request_files` page: names and stats are small, patches are not.
pub const DEFAULT_LIMIT: usize = 1_000;
pub const DEFAULT_LIMIT_PATCHES: usize = 100;
pub const MAX_LIMIT: usize = 5_000;

/// What each file entry of `pull_request_files` carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fields {
    /// Path and status only: the cheapest way to see what a PR touches.
    Names,
    /// Path, status, additions, deletions, changes, previous name (renames), binary.
    #[default]
    Stats,
    /// Everything in `stats` plus each file's patch (hunks as GitHub shows them).
    Patches,
}

/// Arguments of `pull_request_files`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesArgs {
    /// The repository, as "owner/name".
    pub repo: String,
    /// The pull request's number.
    pub number: u64,
    /// Only files whose path (or, for a rename, old path) matches one of these globs,
    /// e.g. ["src/**/*.rs", "Cargo.toml"]. Every file when absent.
    #[serde(default)]
    pub paths: Vec<String>,
    /// "names" (path and status; cheap), "stats" (default: + additions, deletions,
    /// previous name) or "patches" (+ each file's patch; use pull_request_diff to
    /// read whole diffs as text).
    #[serde(default)]
    pub fields: Fields,
    /// The `next_cursor` of the previous page, to continue; absent for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Files per page: default 1000 (100 with patches), at most 5000.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Arguments of `pull_request_diff`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffArgs {
    /// The repository, as "owner/name".
    pub repo: String,
    /// The pull request's number.
    pub number: u64,
    /// Only files whose path (or, for a rename, old path) matches one of these globs,
    /// e.g. ["src/**/*.rs"]. Every file when absent.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Bytes of diff text per page: default 60000 (about 15k tokens), from 1000 to
    /// 2000000. Whole files are kept together while they fit; a single file bigger
    /// than this is split at hunk boundaries.
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// The `next_cursor` of the previous page, to continue; absent for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Arguments of `declare_incident`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareArgs {
    /// The repository the incident is about, as "owner/name".
    pub repo: String,
    /// A short title, e.g. "LLM API answers 429 for every evaluation".
    pub title: String,
    /// SEV1 (critical) to SEV5 (cosmetic); SEV2 is a major feature down for many users.
    pub severity: String,
    /// A component from the repository's runbook, e.g. "sandbox"; an unknown one is
    /// refused with the list of valid ones.
    #[serde(default)]
    pub component: Option<String>,
    /// What is happening and since when; defaults to the title.
    #[serde(default)]
    pub summary: Option<String>,
    /// Any string naming this incident for you (e.g. your task id): declaring again
    /// with the same key returns the incident it opened instead of a second one.
    #[serde(default)]
    pub dedup_key: Option<String>,
}

/// Arguments of `get_incident`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetIncidentArgs {
    /// The incident's id, as `declare_incident` returned it.
    pub id: i64,
}

/// One changed file in a `pull_request_files` page.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FileOut {
    pub filename: String,
    /// added, removed, modified, renamed, copied or changed (mode only).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<u64>,
    /// The old path of a renamed or copied file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<bool>,
    /// The hunks (only with fields=patches; absent for binary and content-less changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

/// Where a page's answer came from: the same for every page of a version.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Provenance {
    pub repository: String,
    pub number: u64,
    pub head_sha: String,
    pub merge_base_sha: String,
    /// "api" (GitHub's answer, verified complete) or "git" (Responder's git mirror).
    pub source: String,
    /// Why GitHub's answer was not used, when source is "git".
    pub fallback_reason: Option<String>,
    /// Whether the diff covers every file of the PR.
    pub complete: bool,
}

/// One `pull_request_files` page.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FilesPage {
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Files in the PR.
    pub total_files: usize,
    /// Files matching `paths` (all of them without `paths`).
    pub matching_files: usize,
    /// Matching files after this page.
    pub remaining_files: usize,
    pub files: Vec<FileOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The file a `pull_request_diff` page holds only part of.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SplitOut {
    pub filename: String,
    /// Bytes of this file's diff before this page.
    pub from_byte: usize,
    /// Bytes of this file's diff up to the end of this page.
    pub to_byte: usize,
    /// The size of this file's whole diff.
    pub file_bytes: usize,
    /// "hunk" (this page ends before a @@ line), "line" or "character" (one hunk or
    /// line bigger than max_bytes); null when the file's diff ends on this page.
    pub cut_at: Option<String>,
    /// The marker in words.
    pub note: String,
}

/// The description of one `pull_request_diff` page (the page's text is the content).
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffPageOut {
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Bytes of diff text on this page (at most max_bytes).
    pub bytes: usize,
    pub max_bytes: usize,
    /// Files on this page, whole or in part, in diff order.
    pub files: Vec<String>,
    /// The file this page holds only part of, if any.
    pub split: Option<SplitOut>,
    /// Matching files whose diff is not yet (fully) sent.
    pub remaining_files: usize,
    /// Bytes of diff after this page.
    pub remaining_bytes: usize,
    /// The first file of the next page.
    pub next_file: Option<String>,
    /// Files left out by `paths`.
    pub filtered_out: usize,
    /// True when bytes of the diff that are not UTF-8 were replaced by U+FFFD on
    /// this page (the HTTP diff route has them exactly).
    pub lossy: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

const FILES_DESCRIPTION: &str = "List the changed files of a GitHub pull request: complete even \
where GitHub's own API truncates (3,000-file cap, missing patches, 404/406), by falling back to \
a git mirror. Start with fields=\"names\" to see what a PR touches cheaply; filter with `paths` \
globs; page with `cursor`/`limit`. Every page says the PR's total file count, whether the answer \
is complete, where it came from (`source`, `fallback_reason`) and `next_cursor`. To read the \
changes themselves, prefer pull_request_diff.";

const DIFF_DESCRIPTION: &str = "Read a GitHub pull request's unified diff (three-dot: merge base \
to head, as GitHub shows it, byte-identical to `git diff -M`) as plain text, in pages of at most \
`max_bytes` (default 60000). Pages hold whole files while they fit; one file bigger than a page \
is split at hunk boundaries, and `split` says so. Concatenating every page's text gives the \
whole diff exactly. The structured result lists the page's files, how many files and bytes \
remain, and `next_cursor`; call again with it until it is null. Narrow with `paths` globs.";

const DECLARE_DESCRIPTION: &str = "Declare an incident in a repository that uses Responder: opens \
a bug issue and an RCA issue following the repository's runbook, exactly as the incident form or \
POST /v1/incidents would. Pass a `dedup_key` (e.g. your task id) so a retry returns the same \
incident instead of opening a second one. Returns the incident's id, status and issue links.";

const GET_DESCRIPTION: &str = "Show an incident Responder tracks: severity, status, its bug and \
RCA issues, timings, RCA state and history. Only incidents of repositories this token covers.";

/// A tool and what it takes to see it.
struct Spec {
    tool: Tool,
    /// The caller sees the tool when it holds any of these scopes.
    scopes: &'static [&'static str],
}

fn specs() -> Vec<Spec> {
    let read_only = ToolAnnotations::new().read_only(true).open_world(true);
    vec![
        Spec {
            tool: Tool::new(PULL_REQUEST_FILES, FILES_DESCRIPTION, empty())
                .with_title("Pull request files")
                .with_input_schema::<FilesArgs>()
                .with_output_schema::<FilesPage>()
                .with_annotations(read_only.clone()),
            scopes: &[DIFF_READ],
        },
        Spec {
            tool: Tool::new(PULL_REQUEST_DIFF, DIFF_DESCRIPTION, empty())
                .with_title("Pull request diff")
                .with_input_schema::<DiffArgs>()
                .with_output_schema::<DiffPageOut>()
                .with_annotations(read_only.clone()),
            scopes: &[DIFF_READ],
        },
        Spec {
            tool: Tool::new(DECLARE_INCIDENT, DECLARE_DESCRIPTION, empty())
                .with_title("Declare an incident")
                .with_input_schema::<DeclareArgs>()
                .with_annotations(
                    ToolAnnotations::new()
                        .read_only(false)
                        .destructive(false)
                        .idempotent(true)
                        .open_world(true),
                ),
            scopes: &[INCIDENTS_WRITE],
        },
        Spec {
            tool: Tool::new(GET_INCIDENT, GET_DESCRIPTION, empty())
                .with_title("Get an incident")
                .with_input_schema::<GetIncidentArgs>()
                .with_annotations(read_only),
            scopes: &[INCIDENTS_WRITE, DIFF_READ],
        },
    ]
}

fn empty() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}

/// The tools `access` may see, in a stable order.
pub fn visible(access: &Access) -> Vec<Tool> {
    specs()
        .into_iter()
        .filter(|s| access.has_any(s.scopes))
        .map(|s| s.tool)
        .collect()
}

/// The scopes that show tool `name`, or `None` for a tool that does not exist.
pub fn scopes_of(name: &str) -> Option<&'static [&'static str]> {
    specs()
        .into_iter()
        .find(|s| s.tool.name == name)
        .map(|s| s.scopes)
}

/// Tool `name`'s definition, whoever asks (rmcp validates headers against it).
pub fn definition(name: &str) -> Option<Tool> {
    specs()
        .into_iter()
        .find(|s| s.tool.name == Cow::Borrowed(name))
        .map(|s| s.tool)
}
