//! The `responder` command line: serve, replay, deliveries, diff, token, check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use responder::settings::{Settings, SettingsArgs};
use responder::store::DeliveryStatus;
use responder::webhook::Event;
use responder::{Service, telemetry};

/// Responder: incidents → bug and RCA issues, and complete PR diffs for agents.
///
/// Every setting is an environment variable and the same-named `serve` flag; see
/// `responder serve --help` and README.md.
#[derive(Parser)]
#[command(name = "responder", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (webhooks, agent API, health, metrics) and its workers.
    Serve {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Process a saved webhook payload as if GitHub had delivered it (no signature check).
    Replay {
        /// The JSON payload, e.g. saved from the App's "Recent Deliveries" page.
        file: PathBuf,
        /// The event name (the delivery's X-GitHub-Event header), e.g. `issues`.
        #[arg(long)]
        event: String,
        /// Override the payload's `action`, e.g. `opened`.
        #[arg(long)]
        action: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List the webhook inbox, or queue a delivery again.
    Deliveries {
        #[command(subcommand)]
        action: Option<DeliveriesAction>,
        /// Only deliveries in this state.
        #[arg(long, value_parser = ["pending", "running", "failed", "done", "dead"])]
        status: Option<String>,
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// List the deliveries Responder asked GitHub to redeliver, and the job's last run.
        #[arg(long, conflicts_with = "status")]
        redeliveries: bool,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print a PR's files (JSON) or unified diff, with the same fallback as the service.
    ///
    /// Without App credentials it works anonymously on public repositories.
    Diff {
        /// The pull request, as OWNER/REPO#NUMBER.
        target: String,
        /// `json` (the /files body) or `diff` (unified diff).
        #[arg(long, default_value = "json", value_parser = ["json", "diff"])]
        format: String,
        /// `auto`: GitHub first, git when GitHub fails or is incomplete; `api` or `git` only.
        #[arg(long, default_value = "auto", value_parser = ["auto", "api", "git"])]
        via: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print an agent token signed with RESPONDER_AGENT_SECRET.
    Token {
        /// A repository the token grants (OWNER/REPO or OWNER/*); repeat for more.
        #[arg(long = "repo", required = true)]
        repos: Vec<String>,
        /// A scope: diff:read or incidents:write; repeat for more.
        #[arg(long = "scope", default_value = "diff:read")]
        scopes: Vec<String>,
        /// Lifetime, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Who the token is for (an agent or task id); it appears in logs.
        #[arg(long)]
        sub: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Validate settings, templates, runbook and issue forms; exit non-zero listing
    /// every problem.
    ///
    /// Renders every template with sample data (and a 70,000-character summary),
    /// checks the runbook (SEV1–SEV5 present, every component the incident form
    /// offers exists) and the issue forms. Without `--templates`/`--forms`, uses
    /// `./templates` and `./.github/ISSUE_TEMPLATE` when present, else the built-in
    /// defaults.
    Check {
        /// A repository's `.github/responder.toml` (FILE), or a checkout (DIR) whose
        /// overrides to check before pushing them: `.github/responder.toml`,
        /// `.github/responder/runbook.toml`, `.github/responder/templates/*.tera`,
        /// `.github/ISSUE_TEMPLATE/*.yml`. A FILE inside a checkout's `.github/`
        /// checks the whole checkout.
        #[arg(long, value_name = "FILE|DIR")]
        repo_config: Option<PathBuf>,
        /// Directory of the default templates and `runbook.toml`.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// Directory of the issue forms.
        #[arg(long, value_name = "DIR")]
        forms: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Put Responder's issue forms into a repository through a pull request.
    Forms {
        #[command(subcommand)]
        action: FormsAction,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

#[derive(Subcommand)]
enum FormsAction {
    /// Open (or update) one PR on branch `responder/forms` adding
    /// `.github/ISSUE_TEMPLATE/{incident,rca,bug_report,config}.yml`. Needs the App
    /// (GITHUB_APP_ID and key) installed on the repository with contents and pull
    /// requests write access.
    Install {
        /// The repository, OWNER/REPO.
        #[arg(long)]
        repo: String,
    },
}

#[derive(Subcommand)]
enum DeliveriesAction {
    /// Queue a delivery (by its X-GitHub-Delivery id) again with a fresh attempt budget.
    Retry { delivery_id: String },
}

fn settings_or_exit(args: &SettingsArgs) -> Result<Settings, ExitCode> {
    Settings::from_args(args).map_err(|problems| {
        eprintln!("responder: the settings are not usable:");
        for p in problems {
            eprintln!("  - {p}");
        }
        ExitCode::from(2)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings_args = match &cli.command {
        Command::Serve { settings }
        | Command::Replay { settings, .. }
        | Command::Deliveries { settings, .. }
        | Command::Diff { settings, .. }
        | Command::Token { settings, .. }
        | Command::Check { settings, .. }
        | Command::Forms { settings, .. } => settings.clone(),
    };
    let settings = match settings_or_exit(&settings_args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init_logs(settings.log_format);
    match run(cli.command, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("responder: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The redelivery job's last run and its requests, newest first.
async fn print_redeliveries(store: &responder::store::Store, limit: i64) -> anyhow::Result<()> {
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    match store.job_run(responder::webhook::redelivery::JOB).await? {
        Some(run) => println!("last run: {} ({})", time(run.last_run_at), run.summary),
        None => println!("last run: never"),
    }
    println!(
        "{:<38} {:<28} {:>6}  {:<24} REQUESTED",
        "DELIVERY", "EVENT", "STATUS", "FAILED AT"
    );
    for r in store.list_redeliveries(limit).await? {
        let key = match &r.action {
            Some(a) => format!("{}.{}", r.event, a),
            None => r.event.clone(),
        };
        println!(
            "{:<38} {:<28} {:>6}  {:<24} {}",
            r.guid,
            key,
            r.status_code,
            time(r.delivered_at),
            time(r.requested_at)
        );
    }
    Ok(())
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { .. } => {
            let listen = settings.listen;
            let service = Service::new(settings).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| {
                    format!("RESPONDER_LISTEN: cannot listen on {listen}; choose a free address")
                })?;
            service
                .run(listener, responder::service::shutdown_signal())
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            file,
            event,
            action,
            ..
        } => {
            let body =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let mut new = responder::webhook::envelope::parse("replay", &event, &body)?;
            if action.is_some() {
                new.action = action;
            }
            let service = Service::new(settings).await?;
            let event = Event {
                delivery_id: format!("replay-{}", uuid::Uuid::new_v4()),
                name: new.event,
                action: new.action,
                repo: new.repo.as_deref().and_then(|r| r.parse().ok()),
                installation: new
                    .installation_id
                    .map(|i| responder::types::InstallationId(i as u64)),
                payload: serde_json::from_slice(&body)?,
                attempt: 1,
            };
            let ran = service.registry.dispatch(&event).await?;
            println!("{}: {} handler(s) ran", event.key(), ran);
            Ok(ExitCode::SUCCESS)
        }
        Command::Deliveries {
            action,
            status,
            limit,
            redeliveries,
            ..
        } => {
            let service = Service::new(settings).await?;
            let store = &service.state.store;
            if redeliveries && action.is_none() {
                print_redeliveries(store, limit).await?;
                return Ok(ExitCode::SUCCESS);
            }
            match action {
                Some(DeliveriesAction::Retry { delivery_id }) => {
                    store.retry_delivery(&delivery_id).await?;
                    println!(
                        "{delivery_id}: queued again; a running `responder serve` picks it up"
                    );
                }
                None => {
                    let status = status.as_deref().and_then(DeliveryStatus::parse);
                    let rows = store.list_deliveries(status, limit).await?;
                    println!(
                        "{:<38} {:<28} {:<8} {:>8}  {:<30} LAST ERROR",
                        "DELIVERY", "EVENT", "STATUS", "ATTEMPTS", "REPO"
                    );
                    for d in rows {
                        let key = match &d.action {
                            Some(a) => format!("{}.{}", d.event, a),
                            None => d.event.clone(),
                        };
                        println!(
                            "{:<38} {:<28} {:<8} {:>8}  {:<30} {}",
                            d.delivery_id,
                            key,
                            d.status.as_str(),
                            d.attempts,
                            d.repo.as_deref().unwrap_or("-"),
                            d.last_error.as_deref().unwrap_or("")
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff {
            target,
            format,
            via,
            ..
        } => {
            let (repo, number) = target
                .split_once('#')
                .and_then(|(r, n)| {
                    Some((
                        r.parse::<responder::types::RepoName>().ok()?,
                        n.parse::<u64>().ok()?,
                    ))
                })
                .with_context(|| format!("{target:?} is not of the form OWNER/REPO#NUMBER"))?;
            let via = responder::diff::Via::parse(&via).context("--via takes auto, api or git")?;
            let (settings, _) = responder::setup::with_stored_credentials(settings)?;
            let github = responder::service::github_client(&settings)?;
            let diffs = responder::service::diff_service(&settings, github)?;
            let answer = diffs
                .get(&repo, responder::types::PrNumber(number), via)
                .await?;
            eprintln!(
                "{repo}#{number}: {} files from {}{}{}",
                answer.files.len(),
                answer.source.as_str(),
                answer
                    .fallback_reason
                    .as_deref()
                    .map(|r| format!(" (fallback: {r})"))
                    .unwrap_or_default(),
                if answer.complete {
                    ""
                } else {
                    " — INCOMPLETE"
                }
            );
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if format == "diff" {
                out.write_all(&answer.unified)?;
            } else {
                serde_json::to_writer_pretty(&mut out, &*answer)?;
                writeln!(out)?;
            }
            Ok(if answer.complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Token {
            repos,
            scopes,
            ttl,
            sub,
            ..
        } => {
            let secret = settings.agent_secret.as_ref().context(
                "RESPONDER_AGENT_SECRET is not set; set it to the same value the service uses",
            )?;
            let ttl = responder::agent_token::parse_ttl(&ttl).map_err(anyhow::Error::msg)?;
            responder::agent_token::check_ttl(ttl, settings.agent_token_max_ttl)
                .map_err(anyhow::Error::msg)?;
            let scopes: Vec<String> = scopes
                .iter()
                .flat_map(|s| s.split_whitespace().map(str::to_string))
                .collect();
            let token = responder::agent_token::mint(
                secret,
                &repos,
                &scopes,
                ttl,
                sub.as_deref(),
                chrono::Utc::now().timestamp(),
            )
            .map_err(anyhow::Error::msg)?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Forms {
            action: FormsAction::Install { repo },
            ..
        } => {
            let repo: responder::types::RepoName =
                repo.parse().map_err(|e| anyhow::anyhow!("--repo: {e}"))?;
            // An App registered through the setup page counts, as it does for `serve`.
            let (settings, _) = responder::setup::with_stored_credentials(settings)?;
            if settings.app.is_none() {
                anyhow::bail!(
                    "the GitHub App is not configured (missing: GITHUB_APP_ID, \
                     GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH); set them, or \
                     register the App from the service's / page, and try again"
                );
            }
            let github = responder::service::github_client(&settings)?;
            let done = responder::incident::forms_install::install_forms(github.as_ref(), &repo)
                .await
                .with_context(|| format!("could not propose the issue forms to {repo}"))?;
            let verb = if done.opened { "opened" } else { "updated" };
            println!(
                "{verb} {} (committed: {})",
                done.pull.html_url,
                if done.committed.is_empty() {
                    "nothing, the branch was up to date".to_string()
                } else {
                    done.committed.join(", ")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            repo_config,
            templates,
            forms,
            ..
        } => {
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
    }
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
                include_str!("../templates/bug.md.tera"),
            ),
            (
                "templates/rca.md.tera",
                include_str!("../templates/rca.md.tera"),
            ),
            (
                "templates/incident_comment.md.tera",
                include_str!("../templates/incident_comment.md.tera"),
            ),
            (
                "templates/runbook.toml",
                include_str!("../templates/runbook.toml"),
            ),
            (
                "forms/incident.yml",
                include_str!("../.github/ISSUE_TEMPLATE/incident.yml"),
            ),
            (
                "forms/rca.yml",
                include_str!("../.github/ISSUE_TEMPLATE/rca.yml"),
            ),
            (
                "forms/bug_report.yml",
                include_str!("../.github/ISSUE_TEMPLATE/bug_report.yml"),
            ),
            (
                "forms/config.yml",
                include_str!("../.github/ISSUE_TEMPLATE/config.yml"),
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
