//! `responder check` for the incident content: runbook, templates, issue forms.
//!
//! Purpose: list every problem at once, each prefixed with the file it concerns, so
//! a maintainer fixes them in one pass. Checks the content the binary ships in
//! memory (nothing written to disk), or directories it is pointed at; never stops
//! at the first problem. Must never contact GitHub.
//!
//! A repository override directory mirrors a repository's layout: its
//! `.github/responder.toml`, `.github/responder/runbook.toml`,
//! `.github/responder/templates/*.tera` and `.github/ISSUE_TEMPLATE/*.yml` are each
//! checked when present, on top of the defaults, as the service would combine them
//! — templates rendered in the same sandbox as the service's, when one is given.

pub mod forms;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::assets;
use crate::check::forms::{FormKind, validate_chooser_config, validate_form};
use crate::incident::config::{
    CONFIG_PATH, RUNBOOK_OVERRIDE_PATH, RepoConfig, TEMPLATES_OVERRIDE_DIR,
};
use crate::incident::render::sandbox::Sandbox;
use crate::incident::render::{
    GITHUB_BODY_LIMIT, IncidentView, Renderer, TemplateKind, Templates, builtin_templates,
    load_templates_dir,
};
use crate::incident::runbook::Runbook;

pub use crate::assets::FORMS_DIR;

/// Where default content comes from: what the binary ships, or a directory.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Builtin,
    Dir(&'a Path),
}

impl Source<'_> {
    /// How problems name it: `built-in templates`, or the directory.
    fn label(&self, what: &str) -> String {
        match self {
            Source::Builtin => format!("built-in {what}"),
            Source::Dir(d) => d.display().to_string(),
        }
    }
}

/// Checks the default templates and runbook from `templates`, the issue forms from
/// `forms`, and, if given, a repository checkout's overrides. Templates that are
/// not built in render in `sandbox` when given (as the service renders a
/// repository's), else in this process. Empty means fine.
pub async fn check_all(
    templates: Source<'_>,
    forms: Source<'_>,
    repo_overrides: Option<&Path>,
    sandbox: Option<Arc<Sandbox>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut runbook = match templates {
        Source::Builtin => parse_runbook("built-in runbook.toml", assets::RUNBOOK, &mut problems),
        Source::Dir(d) => read_runbook(&d.join("runbook.toml"), &mut problems),
    };
    let defaults = match templates {
        Source::Builtin => builtin_templates(),
        Source::Dir(d) => load_templates_dir(d).unwrap_or_else(|e| {
            problems.push(e.to_string());
            HashMap::new()
        }),
    };
    let trusted = matches!(templates, Source::Builtin);
    let label = templates.label("templates");
    let render = renderer(
        &defaults,
        HashMap::new(),
        sandbox.clone().filter(|_| !trusted),
    );
    check_templates(&label, render, runbook.as_ref(), &mut problems).await;

    let mut form_files = match forms {
        Source::Builtin => assets::FORMS
            .iter()
            .map(|(name, text)| {
                (
                    format!("built-in {name}"),
                    name.to_string(),
                    text.to_string(),
                )
            })
            .collect(),
        Source::Dir(d) => read_forms(d, &mut problems),
    };
    if let Some(repo) = repo_overrides {
        let rb = repo.join(RUNBOOK_OVERRIDE_PATH);
        if rb.exists() {
            // A broken override is reported; keep checking the rest against the
            // default so one mistake does not hide the others.
            if let Some(over) = read_runbook(&rb, &mut problems) {
                runbook = Some(over);
            }
        }
        check_config(&repo.join(CONFIG_PATH), runbook.as_ref(), &mut problems);
        let dir = repo.join(TEMPLATES_OVERRIDE_DIR);
        if dir.is_dir() {
            match load_templates_dir(&dir) {
                Ok(overrides) => {
                    let render = renderer(&defaults, overrides, sandbox.clone());
                    let label = dir.display().to_string();
                    check_templates(&label, render, runbook.as_ref(), &mut problems).await;
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        let dir = repo.join(FORMS_DIR);
        if dir.is_dir() {
            form_files = read_forms(&dir, &mut problems);
        }
    }
    check_forms(&form_files, runbook.as_ref(), &mut problems);
    problems.dedup();
    problems
}

/// The templates as the service would render them: `overrides` in the sandbox
/// when there is one, else compiled here.
fn renderer(
    defaults: &HashMap<String, String>,
    overrides: HashMap<String, String>,
    sandbox: Option<Arc<Sandbox>>,
) -> Result<Templates, String> {
    match sandbox {
        Some(sandbox) => Ok(Templates::Sandboxed {
            sandbox,
            defaults: Arc::new(defaults.clone()),
            overrides,
        }),
        None => Renderer::with_overrides(defaults.clone(), overrides)
            .map(|r| Templates::Trusted(Arc::new(r)))
            .map_err(|e| e.to_string()),
    }
}

fn read_runbook(path: &Path, problems: &mut Vec<String>) -> Option<Runbook> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_runbook(&path.display().to_string(), &text, problems),
        Err(e) => {
            problems.push(format!("{}: cannot read: {e}", path.display()));
            None
        }
    }
}

fn parse_runbook(label: &str, text: &str, problems: &mut Vec<String>) -> Option<Runbook> {
    Runbook::parse(text)
        .map_err(|e| problems.push(format!("{label}: {e}")))
        .ok()
}

fn check_config(path: &Path, runbook: Option<&Runbook>, problems: &mut Vec<String>) {
    if !path.exists() {
        return;
    }
    match std::fs::read_to_string(path).map(|t| RepoConfig::parse(&t)) {
        Err(e) => problems.push(format!("{}: cannot read: {e}", path.display())),
        Ok(Err(e)) => problems.push(format!("{}: {e}", path.display())),
        Ok(Ok(c)) => {
            if let Some(Err(e)) = runbook.map(|rb| c.all_aliases(rb)) {
                problems.push(format!("{}: {e}", path.display()));
            }
        }
    }
}

/// Renders every template with sample data, plus a 70,000-character summary to
/// prove the length limit holds for these templates.
async fn check_templates(
    label: &str,
    templates: Result<Templates, String>,
    runbook: Option<&Runbook>,
    problems: &mut Vec<String>,
) {
    let templates = match templates {
        Ok(t) => t,
        Err(e) => return problems.push(format!("{label}: {e}")),
    };
    let Some(rb) = runbook else {
        return;
    };
    for v in &sample_views(rb) {
        for kind in TemplateKind::ALL {
            match templates.render(kind, v).await {
                Ok(body) if body.chars().count() >= GITHUB_BODY_LIMIT => problems.push(format!(
                    "{label}: the {} body is too long",
                    kind.file_name()
                )),
                Ok(_) => {}
                Err(e) => problems.push(format!("{label}: {e}")),
            }
        }
        // One template that fails fails every view the same way: say it once.
        problems.dedup();
    }
}

/// The views a template must render: complete, with a huge summary, bare, and
/// each event of the comment.
fn sample_views(rb: &Runbook) -> Vec<IncidentView> {
    let mut views = vec![IncidentView::sample(rb)];
    let mut long = IncidentView::sample(rb);
    long.summary = "x".repeat(70_000);
    views.push(long);
    let mut bare = IncidentView::sample(rb);
    (bare.component, bare.impact, bare.links, bare.started_at) = (None, None, None, None);
    (bare.bug_issue, bare.rca_issue, bare.source_issue) = (None, None, None);
    views.push(bare);
    for event in ["severity", "resolved", "reopened"] {
        let mut v = IncidentView::sample(rb);
        v.event = event.into();
        v.note = Some("sample note".into());
        views.push(v);
    }
    views
}

/// Every `*.yml`/`*.yaml` of `dir` as (label, file name, text), sorted.
fn read_forms(dir: &Path, problems: &mut Vec<String>) -> Vec<(String, String, String)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{}: cannot read: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(t) => out.push((path.display().to_string(), name.to_string(), t)),
            Err(e) => problems.push(format!("{}: cannot read: {e}", path.display())),
        }
    }
    out
}

fn check_forms(
    files: &[(String, String, String)],
    runbook: Option<&Runbook>,
    problems: &mut Vec<String>,
) {
    for (label, name, text) in files {
        let found = if name.starts_with("config.") {
            validate_chooser_config(text)
        } else if let Some(rb) = runbook {
            validate_form(text, FormKind::for_file(name), rb)
        } else {
            Vec::new()
        };
        problems.extend(found.into_iter().map(|p| format!("{label}: {p}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[tokio::test]
    async fn the_shipped_content_has_no_problems_in_memory_and_on_disk() {
        let p = check_all(Source::Builtin, Source::Builtin, None, None).await;
        assert_eq!(p, Vec::<String>::new());
        let (t, f) = (root().join("templates"), root().join(FORMS_DIR));
        let p = check_all(Source::Dir(&t), Source::Dir(&f), None, None).await;
        assert_eq!(p, Vec::<String>::new());
    }

    #[tokio::test]
    async fn every_problem_in_a_repository_override_is_listed() {
        let repo = tempfile::tempdir().unwrap();
        let gh = repo.path().join(".github");
        std::fs::create_dir_all(gh.join("responder/templates")).unwrap();
        std::fs::create_dir_all(gh.join("ISSUE_TEMPLATE")).unwrap();
        std::fs::write(gh.join("responder.toml"), "min_permission = \"read\"\n").unwrap();
        std::fs::write(
            gh.join("responder/runbook.toml"),
            assets::RUNBOOK.replace("rca_due_days = 2", "rca_due_days = 0"),
        )
        .unwrap();
        std::fs::write(
            gh.join("responder/templates/bug.md.tera"),
            "{{ nope.field }}",
        )
        .unwrap();
        std::fs::write(
            gh.join("ISSUE_TEMPLATE/incident.yml"),
            assets::form("incident.yml").replace("label: Summary", "label: Details"),
        )
        .unwrap();
        let p = check_all(Source::Builtin, Source::Builtin, Some(repo.path()), None)
            .await
            .join("\n");
        for needle in [
            "responder.toml",
            "min_permission",
            "rca_due_days",
            "bug.md.tera",
            "must ask `Summary`",
        ] {
            assert!(p.contains(needle), "{needle} not in\n{p}");
        }
    }
}
