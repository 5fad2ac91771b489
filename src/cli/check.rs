//! `responder check`: validates settings, templates, runbook and issue forms, and
//! a repository's overrides; lists every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use responder::check::{FORMS_DIR, Source, check_all};
use responder::incident::render::sandbox::{Sandbox, SandboxConfig};
use responder::settings::Settings;

pub async fn run(
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
    // The git mirror for sandboxes runs `git upload-pack`: without git, /v1/git
    // answers 500 on every clone.
    let git = responder::gitserve::git_version();
    match &git {
        Ok(version) => println!("git mirror: ok ({version})"),
        Err(e) => eprintln!("git mirror: {e}"),
    }
    // Given, else the source tree's when run from one, else what the binary ships
    // (checked in memory).
    let pick = |given: Option<PathBuf>, local: &str| {
        given.or_else(|| Some(PathBuf::from(local)).filter(|d| d.is_dir()))
    };
    let templates = pick(templates, "templates");
    let forms = pick(forms, FORMS_DIR);
    fn source(dir: &Option<PathBuf>) -> Source<'_> {
        match dir {
            Some(d) => Source::Dir(d.as_path()),
            None => Source::Builtin,
        }
    }
    // CONTRACT.md names a FILE (`.github/responder.toml`); a repository checkout
    // (its root) checks every override in it.
    let mut problems = Vec::new();
    if let Err(e) = git {
        problems.push(format!(
            "git: {e}; the git mirror (/v1/git) serves clones with `git upload-pack`: \
             install git (Debian: apt-get install git)"
        ));
    }
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
    // Templates are hostile input here too: rendered in the service's sandbox.
    let sandbox = Sandbox::new(SandboxConfig::default());
    problems.extend(
        check_all(
            source(&templates),
            source(&forms),
            checkout.as_deref(),
            Some(sandbox),
        )
        .await,
    );
    problems.dedup();
    if problems.is_empty() {
        let shown = |d: &Option<PathBuf>| match d {
            Some(d) => d.display().to_string(),
            None => "built-in".to_string(),
        };
        println!(
            "incident content: ok (templates {}, forms {}{})",
            shown(&templates),
            shown(&forms),
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
