//! The `responder` command line's definitions (clap) and the dispatch to one module
//! per command. `--help` texts live here, next to the flags they describe.

mod check;
mod deliveries;
mod diff;
mod forms;
mod mcp;
mod replay;
pub mod run;
mod serve;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use responder::settings::{Settings, SettingsArgs};

/// Responder: incidents → bug and RCA issues, and complete PR diffs for agents.
///
/// Every setting is an environment variable and the same-named `serve` flag; see
/// `responder serve --help` and README.md.
#[derive(Parser)]
#[command(name = "responder", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// A scope: diff:read, incidents:write, runs:write or git:read; repeat for more.
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
    /// Serve the MCP tools (PR files and diffs, incidents) on stdio.
    ///
    /// Without a token the caller has the process's own access (as `responder diff`);
    /// with RESPONDER_AGENT_TOKEN it sees only the tools and repositories the token
    /// grants, checked on every call.
    Mcp {
        /// An agent token limiting what the MCP client may do (verified with
        /// RESPONDER_AGENT_SECRET).
        #[arg(long, env = "RESPONDER_AGENT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Run an agent CLI, pass its output through unchanged, and exit 70 with a
    /// one-line reason when exit 0 hid an API error; otherwise exit with the
    /// command's own code (a signal: 128 + its number).
    ///
    /// Needs no settings. The built-in rules are the default runbook's
    /// `[[output_rules]]`.
    Run(run::RunArgs),
    /// Put Responder's issue forms into a repository through a pull request.
    Forms {
        #[command(subcommand)]
        action: FormsAction,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

#[derive(Subcommand)]
pub enum FormsAction {
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
pub enum DeliveriesAction {
    /// Queue a delivery (by its X-GitHub-Delivery id) again with a fresh attempt budget.
    Retry { delivery_id: String },
}

impl Command {
    /// The settings flags the command takes (`run` takes none).
    pub fn settings(&self) -> Option<&SettingsArgs> {
        Some(match self {
            Command::Run(_) => return None,
            Command::Serve { settings }
            | Command::Replay { settings, .. }
            | Command::Deliveries { settings, .. }
            | Command::Diff { settings, .. }
            | Command::Token { settings, .. }
            | Command::Check { settings, .. }
            | Command::Forms { settings, .. }
            | Command::Mcp { settings, .. } => settings,
        })
    }
}

/// Runs `command` with its validated `settings`.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => Ok(run::run(args).await),
        Command::Serve { .. } => serve::run(settings).await,
        Command::Replay {
            file,
            event,
            action,
            ..
        } => replay::run(settings, file, event, action).await,
        Command::Deliveries {
            action,
            status,
            limit,
            redeliveries,
            ..
        } => deliveries::run(settings, action, status, limit, redeliveries).await,
        Command::Diff {
            target,
            format,
            via,
            ..
        } => diff::run(settings, target, format, via).await,
        Command::Token {
            repos,
            scopes,
            ttl,
            sub,
            ..
        } => token::run(settings, repos, scopes, ttl, sub),
        Command::Forms {
            action: FormsAction::Install { repo },
            ..
        } => forms::install(settings, repo).await,
        Command::Mcp { token, .. } => mcp::run(settings, token).await,
        Command::Check {
            repo_config,
            templates,
            forms,
            ..
        } => check::run(settings, repo_config, templates, forms).await,
    }
}
