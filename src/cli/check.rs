//! `responder check`: validates settings, templates, runbook and issue forms, and
//! a repository's overrides; lists every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use responder::settings::Settings;

pub fn run(
    settings: Settings,
    repo_config: Option<PathBuf>,
    templates: Option<PathBuf>,
    forms: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let missing = settings.missing_github();
    if missing.is_empty() {
        println!("settings: ok");
    } else {
        println!(
            "settings: ok, but the GitHub App is not configured (missing: {})",
            missing.join(", ")
        );
    }
    let builtin = BuiltinContent::write()?;
    let pick = |given: Option<PathBuf>, local: &str, fallback: PathBuf| {
        given.unwrap_or_else(|| {
            let local = PathBuf::from(local);
            if local.is_dir() { local } else { fallback }
        })
    };
    let templates = pick(templates, "templates", builtin.templates());
    let forms = pick(forms, ".github/ISSUE_TEMPLATE", builtin.forms());
    // CONTRACT.md names a FILE (`.github/responder.toml`); a repository checkout
    // (its root) checks every override in it.
    let mut problems = Vec::new();
    let checkout = match repo_config.as_deref() {
        Some(p) if p.is_file() => {
            match std::fs::read_to_string(p) {
                Ok(text) => {
                    if let Err(e) = responder::incident::config::RepoConfig::parse(&text) {
                        problems.push(format!("{}: {e}", p.display()));
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", p.display())),
            }
            // `<root>/.github/responder.toml` → also check `<root>`'s overrides.
            p.parent()
                .filter(|d| d.file_name().is_some_and(|n| n == ".github"))
                .and_then(|d| d.parent())
                .map(std::path::Path::to_path_buf)
        }
        other => other.map(std::path::Path::to_path_buf),
    };
    problems.extend(responder::incident::check::check_all(
        &templates,
        &forms,
        checkout.as_deref(),
    ));
    problems.dedup();
    if problems.is_empty() {
        println!(
            "incident content: ok (templates {}, forms {}{})",
            templates.display(),
            forms.display(),
            repo_config
                .map(|r| format!(", overrides in {}", r.display()))
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("responder check: {} problem(s):", problems.len());
    for p in &problems {
        eprintln!("  - {p}");
    }
    Ok(ExitCode::from(1))
}

/// The built-in templates, runbook and issue forms written to a temporary
/// directory, so `check` validates what the binary ships when run elsewhere.
struct BuiltinContent(PathBuf);

impl BuiltinContent {
    fn write() -> anyhow::Result<Self> {
        let root = std::env::temp_dir().join(format!("responder-check-{}", uuid::Uuid::new_v4()));
        let me = Self(root);
        let files: [(&str, &str); 8] = [
            (
                "templates/bug.md.tera",
                include_str!("../../templates/bug.md.tera"),
            ),
            (
                "templates/rca.md.tera",
                include_str!("../../templates/rca.md.tera"),
            ),
            (
                "templates/incident_comment.md.tera",
                include_str!("../../templates/incident_comment.md.tera"),
            ),
            (
                "templates/runbook.toml",
                include_str!("../../templates/runbook.toml"),
            ),
            (
                "forms/incident.yml",
                include_str!("../../.github/ISSUE_TEMPLATE/incident.yml"),
            ),
            (
                "forms/rca.yml",
                include_str!("../../.github/ISSUE_TEMPLATE/rca.yml"),
            ),
            (
                "forms/bug_report.yml",
                include_str!("../../.github/ISSUE_TEMPLATE/bug_report.yml"),
            ),
            (
                "forms/config.yml",
                include_str!("../../.github/ISSUE_TEMPLATE/config.yml"),
            ),
        ];
        for (path, text) in files {
            let full = me.0.join(path);
            if let Some(dir) = full.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&full, text)
                .with_context(|| format!("cannot write {}", full.display()))?;
        }
        Ok(me)
    }

    fn templates(&self) -> PathBuf {
        self.0.join("templates")
    }

    fn forms(&self) -> PathBuf {
        self.0.join("forms")
    }
}

impl Drop for BuiltinContent {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
