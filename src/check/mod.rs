//! `responder check` for the incident content: runbook, templates, issue forms.
//!
//! Purpose: list every problem at once, each prefixed with the file it concerns, so
//! a maintainer fixes them in one pass. Reads only the paths it is given and
//! never stops at the first problem. Must never contact GitHub.
//!
//! A repository override directory mirrors a repository's layout: its
//! `.github/responder.toml`, `.github/responder/runbook.toml`,
//! `.github/responder/templates/*.tera` and `.github/ISSUE_TEMPLATE/*.yml` are each
//! checked when present, on top of the defaults, as the service would combine them.

pub mod forms;

use std::collections::HashMap;
use std::path::Path;

use crate::check::forms::{FormKind, validate_chooser_config, validate_form};
use crate::incident::config::{CONFIG_PATH, RepoConfig};
use crate::incident::render::{IncidentView, Renderer, load_templates_dir};
use crate::incident::runbook::Runbook;

/// Where a repository overrides the runbook.
pub const RUNBOOK_OVERRIDE_PATH: &str = ".github/responder/runbook.toml";
/// Where a repository overrides templates.
pub const TEMPLATES_OVERRIDE_DIR: &str = ".github/responder/templates";
/// Where a repository keeps its issue forms.
pub use crate::assets::FORMS_DIR;

/// Checks the default templates and runbook in `templates_dir`, the issue forms in
/// `forms_dir`, and, if given, a repository checkout's overrides. Empty means fine.
pub fn check_all(
    templates_dir: &Path,
    forms_dir: &Path,
    repo_overrides: Option<&Path>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let runbook_path = templates_dir.join("runbook.toml");
    let mut runbook = check_runbook(&runbook_path, &mut problems);

    let mut templates = match load_templates_dir(templates_dir) {
        Ok(t) => t,
        Err(e) => {
            problems.push(e.to_string());
            HashMap::new()
        }
    };
    check_templates(
        templates_dir,
        &templates,
        &HashMap::new(),
        runbook.as_ref(),
        &mut problems,
    );

    let mut forms = forms_dir.to_path_buf();
    if let Some(repo) = repo_overrides {
        let rb = repo.join(RUNBOOK_OVERRIDE_PATH);
        if rb.exists() {
            // A broken override is reported above; keep checking the rest against
            // the default so one mistake does not hide the others.
            if let Some(over) = check_runbook(&rb, &mut problems) {
                runbook = Some(over);
            }
        }
        let config = repo.join(CONFIG_PATH);
        if config.exists() {
            match std::fs::read_to_string(&config).map(|t| RepoConfig::parse(&t)) {
                Err(e) => problems.push(format!("{}: cannot read: {e}", config.display())),
                Ok(Err(e)) => problems.push(format!("{}: {e}", config.display())),
                Ok(Ok(c)) => {
                    if let Some(Err(e)) = runbook.as_ref().map(|rb| c.all_aliases(rb)) {
                        problems.push(format!("{}: {e}", config.display()));
                    }
                }
            }
        }
        let dir = repo.join(TEMPLATES_OVERRIDE_DIR);
        if dir.is_dir() {
            match load_templates_dir(&dir) {
                Ok(overrides) => {
                    check_templates(
                        &dir,
                        &templates,
                        &overrides,
                        runbook.as_ref(),
                        &mut problems,
                    );
                    templates.extend(overrides);
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        if repo.join(FORMS_DIR).is_dir() {
            forms = repo.join(FORMS_DIR);
        }
    }
    check_forms(&forms, runbook.as_ref(), &mut problems);
    problems
}

fn check_runbook(path: &Path, problems: &mut Vec<String>) -> Option<Runbook> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("{}: cannot read: {e}", path.display()));
            return None;
        }
    };
    match Runbook::parse(&text) {
        Ok(rb) => Some(rb),
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            None
        }
    }
}

/// Builds the renderer and renders every template with sample data, plus a
/// 70,000-character summary to prove the length limit holds for these templates.
fn check_templates(
    dir: &Path,
    defaults: &HashMap<String, String>,
    overrides: &HashMap<String, String>,
    runbook: Option<&Runbook>,
    problems: &mut Vec<String>,
) {
    let renderer = match Renderer::with_overrides(defaults.clone(), overrides.clone()) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    let Some(rb) = runbook else {
        return;
    };
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
    for v in &views {
        for (name, result) in [
            ("bug", renderer.render_bug(v)),
            ("rca", renderer.render_rca(v)),
            ("comment", renderer.render_comment(v)),
        ] {
            match result {
                Ok(body) if body.chars().count() >= crate::incident::render::GITHUB_BODY_LIMIT => {
                    problems.push(format!("{}: the {name} body is too long", dir.display()))
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{}: {e}", dir.display())),
            }
        }
    }
    problems.dedup();
}

fn check_forms(dir: &Path, runbook: Option<&Runbook>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{}: cannot read: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        let found = if name.starts_with("config.") {
            validate_chooser_config(&text)
        } else if let Some(rb) = runbook {
            validate_form(&text, FormKind::for_file(name), rb)
        } else {
            Vec::new()
        };
        problems.extend(
            found
                .into_iter()
                .map(|p| format!("{}: {p}", path.display())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_shipped_content_has_no_problems() {
        let p = check_all(&root().join("templates"), &root().join(FORMS_DIR), None);
        assert_eq!(p, Vec::<String>::new());
    }

    #[test]
    fn every_problem_in_a_repository_override_is_listed() {
        let repo = tempfile::tempdir().unwrap();
        let gh = repo.path().join(".github");
        std::fs::create_dir_all(gh.join("responder/templates")).unwrap();
        std::fs::create_dir_all(gh.join("ISSUE_TEMPLATE")).unwrap();
        std::fs::write(gh.join("responder.toml"), "min_permission = \"read\"\n").unwrap();
        std::fs::write(
            gh.join("responder/runbook.toml"),
            crate::incident::runbook::DEFAULT_RUNBOOK
                .replace("rca_due_days = 2", "rca_due_days = 0"),
        )
        .unwrap();
        std::fs::write(
            gh.join("responder/templates/bug.md.tera"),
            "{{ nope.field }}",
        )
        .unwrap();
        std::fs::write(
            gh.join("ISSUE_TEMPLATE/incident.yml"),
            crate::assets::form("incident.yml").replace("label: Summary", "label: Details"),
        )
        .unwrap();
        let p = check_all(
            &root().join("templates"),
            &root().join(FORMS_DIR),
            Some(repo.path()),
        )
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
