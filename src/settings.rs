//! Settings: environment variables and `serve` flags → a validated `Settings`.
//!
//! Purpose: fail fast at startup with the variable's name and what to set, and keep
//! secrets wrapped so they never print. Nothing else reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::types::Secret;

/// Every setting of CONTRACT.md, as flags with their environment variables.
/// `hide_env_values` keeps secret values out of `--help`.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Address to serve on.
    #[arg(long, env = "RESPONDER_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,

    /// Directory for the SQLite database, git mirrors and the diff cache.
    #[arg(long, env = "RESPONDER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://…` (default: `sqlite://$RESPONDER_DATA_DIR/responder.db`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The GitHub App's id (or client id).
    #[arg(long, env = "GITHUB_APP_ID")]
    pub github_app_id: Option<String>,

    /// The App's private key, PEM (PKCS#1 or PKCS#8); literal `\n` sequences are accepted.
    #[arg(long, env = "GITHUB_APP_PRIVATE_KEY", hide_env_values = true)]
    pub github_app_private_key: Option<String>,

    /// Path of a file holding the App's private key (PEM).
    #[arg(long, env = "GITHUB_APP_PRIVATE_KEY_PATH")]
    pub github_app_private_key_path: Option<PathBuf>,

    /// Webhook secret; a comma-separated list accepts each (for rotation).
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub github_webhook_secret: Option<String>,

    /// GitHub REST API base (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,

    /// GitHub web/git base: repositories are `$GITHUB_SERVER_URL/OWNER/REPO.git`.
    #[arg(long, env = "GITHUB_SERVER_URL", default_value = "https://github.com")]
    pub github_server_url: String,

    /// HS256 key for agent tokens; without it the agent API answers 503.
    #[arg(long, env = "RESPONDER_AGENT_SECRET", hide_env_values = true)]
    pub agent_secret: Option<String>,

    /// The URL GitHub and browsers reach this service at (webhook and setup
    /// callback URLs are built from it); default `http://<RESPONDER_LISTEN>`.
    #[arg(long, env = "RESPONDER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Log format: `pretty` or `json`.
    #[arg(long, env = "RESPONDER_LOG_FORMAT", default_value = "pretty")]
    pub log_format: String,

    /// How often to ask GitHub to redeliver failed deliveries the inbox lacks
    /// (`15m`, `1h`, `900s`; at least a minute); `0` turns the job off.
    #[arg(long, env = "RESPONDER_REDELIVERY_INTERVAL", default_value = "15m")]
    pub redelivery_interval: String,

    /// How long a client may take to send a request's headers (`10s`, `1m`) before
    /// the connection is closed.
    #[arg(long, env = "RESPONDER_HEADER_TIMEOUT", default_value = "10s")]
    pub header_timeout: String,

    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, env = "RESPONDER_MAX_CONNECTIONS", default_value = "1024")]
    pub max_connections: String,

    /// The longest lifetime an agent token may have (`30d`, `12h`): `responder token`
    /// refuses a longer `--ttl`, and the agent API refuses tokens that grant more.
    #[arg(long, env = "RESPONDER_AGENT_TOKEN_MAX_TTL", default_value = "30d")]
    pub agent_token_max_ttl: String,

    /// Longest a git fetch for a diff may take (`30s`, `10m`); past it the request
    /// gets 504 `git_fetch_timeout`.
    #[arg(long, env = "RESPONDER_GIT_FETCH_TIMEOUT", default_value = "10m")]
    pub git_fetch_timeout: String,

    /// How long the git mirror serves sandboxes without asking GitHub for new
    /// commits (`30s`, `5m`; `0`: ask before every clone or fetch).
    #[arg(long, env = "RESPONDER_GIT_MIRROR_TTL", default_value = "30s")]
    pub git_mirror_ttl: String,

    /// `git upload-pack` processes serving sandboxes at once; more clones wait.
    #[arg(long, env = "RESPONDER_GIT_UPLOAD_PACKS", default_value = "8")]
    pub git_upload_packs: String,

    /// How long a clone or fetch waits for a free upload-pack before it gets 503.
    #[arg(long, env = "RESPONDER_GIT_QUEUE_TIMEOUT", default_value = "60s")]
    pub git_queue_timeout: String,

    /// Disk the git mirrors may use (`50G`, `500M`): past it no new repository is
    /// mirrored for sandboxes (existing mirrors keep updating).
    #[arg(long, env = "RESPONDER_GIT_MIRROR_MAX_BYTES", default_value = "50G")]
    pub git_mirror_max_bytes: String,

    /// How long reported agent runs (their verdicts, never their output) are kept
    /// and counted; at least a day, the longest `[detection] window`.
    #[arg(long, env = "RESPONDER_AGENT_RUN_RETENTION", default_value = "7d")]
    pub agent_run_retention: String,
}

impl Default for SettingsArgs {
    /// The documented defaults with nothing configured (what tests and tools start from).
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3000".into(),
            data_dir: "./data".into(),
            database_url: None,
            github_app_id: None,
            github_app_private_key: None,
            github_app_private_key_path: None,
            github_webhook_secret: None,
            github_api_url: "https://api.github.com".into(),
            github_server_url: "https://github.com".into(),
            agent_secret: None,
            public_url: None,
            log_format: "pretty".into(),
            redelivery_interval: "15m".into(),
            header_timeout: "10s".into(),
            max_connections: "1024".into(),
            agent_token_max_ttl: "30d".into(),
            git_fetch_timeout: "10m".into(),
            git_mirror_ttl: "30s".into(),
            git_upload_packs: "8".into(),
            git_queue_timeout: "60s".into(),
            git_mirror_max_bytes: "50G".into(),
            agent_run_retention: "7d".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The App's identity, when configured.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub app_id: String,
    /// PEM text with real newlines.
    pub private_key: Secret,
    /// The variable the key came from, for error messages.
    pub key_variable: &'static str,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub app: Option<AppCredentials>,
    pub webhook_secrets: Vec<Secret>,
    pub api_url: String,
    pub server_url: String,
    pub agent_secret: Option<Secret>,
    /// Where GitHub and browsers reach this service, without a trailing slash.
    pub public_url: String,
    pub log_format: LogFormat,
    /// `None`: the redelivery job is off.
    pub redelivery_interval: Option<Duration>,
    /// How long a connection may take to send a request's headers.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// The longest lifetime an agent token may have, in seconds.
    pub agent_token_max_ttl: i64,
    pub git_fetch_timeout: Duration,
    /// The git mirror for sandboxes (`/v1/git`).
    pub git_mirror: GitMirrorSettings,
    /// How long reported agent runs are kept.
    pub agent_run_retention: Duration,
}

/// The git mirror's settings (`RESPONDER_GIT_*` beyond the fetch timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitMirrorSettings {
    /// How long a mirror is served without asking GitHub for new commits.
    pub ttl: Duration,
    /// `git upload-pack` processes at once.
    pub upload_packs: usize,
    /// How long a request waits for a free upload-pack.
    pub queue_timeout: Duration,
    /// Bytes the mirrors may use before no new repository is mirrored.
    pub max_bytes: u64,
}

/// A setting that cannot be used, with the variable's name and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}. {fix}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
    pub fix: String,
}

fn err(
    variable: &'static str,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> SettingsError {
    SettingsError {
        variable,
        problem: problem.into(),
        fix: fix.into(),
    }
}

impl Settings {
    /// Validates every setting; returns all problems, not just the first.
    pub fn from_args(args: &SettingsArgs) -> Result<Self, Vec<SettingsError>> {
        let mut problems = Vec::new();

        let listen = args.listen.parse::<SocketAddr>().unwrap_or_else(|e| {
            problems.push(err(
                "RESPONDER_LISTEN",
                format!("{:?} is not an address ({e})", args.listen),
                "Set it to HOST:PORT, for example 127.0.0.1:3000 or 0.0.0.0:8080.",
            ));
            SocketAddr::from(([127, 0, 0, 1], 3000))
        });

        let data_dir = args.data_dir.clone();
        let database_url = match &args.database_url {
            Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => url.clone(),
            Some(_) => {
                problems.push(err(
                    "DATABASE_URL",
                    "it is neither a sqlite: nor a postgres:// URL",
                    "Unset it to use the embedded SQLite database, or set sqlite://PATH.",
                ));
                String::new()
            }
            None => format!("sqlite://{}/responder.db", data_dir.display()),
        };

        let app = app_credentials(args, &mut problems);

        let webhook_secrets: Vec<Secret> = args
            .github_webhook_secret
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .collect();

        for (variable, url) in [
            ("GITHUB_API_URL", &args.github_api_url),
            ("GITHUB_SERVER_URL", &args.github_server_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push(err(
                    variable,
                    format!("{url:?} is not an http(s) URL"),
                    "Set a full URL such as https://api.github.com or https://HOST/api/v3.",
                ));
            }
        }

        let agent_secret = match args.agent_secret.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) if s.len() < 32 => {
                problems.push(err(
                    "RESPONDER_AGENT_SECRET",
                    "it is shorter than 32 characters",
                    "Use a long random value, e.g. `openssl rand -hex 32`.",
                ));
                None
            }
            Some(s) => Some(Secret::new(s)),
        };

        let public_url = match args.public_url.as_deref().map(str::trim) {
            None | Some("") => format!("http://{listen}"),
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => {
                problems.push(err(
                    "RESPONDER_PUBLIC_URL",
                    format!("{url:?} is not an http(s) URL"),
                    "Set the URL GitHub reaches this service at, e.g. https://responder.example.com.",
                ));
                String::new()
            }
        };

        let log_format = match args.log_format.to_ascii_lowercase().as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                problems.push(err(
                    "RESPONDER_LOG_FORMAT",
                    format!("{other:?} is not a log format"),
                    "Set it to `pretty` or `json`.",
                ));
                LogFormat::Pretty
            }
        };

        let redelivery_interval = match crate::agent_token::parse_ttl(&args.redelivery_interval) {
            Ok(0) => None,
            Ok(secs) if secs >= 60 => Some(Duration::from_secs(secs as u64)),
            Ok(_) => {
                problems.push(err(
                    "RESPONDER_REDELIVERY_INTERVAL",
                    format!("{:?} is shorter than a minute", args.redelivery_interval),
                    "Set it to 1m or more (GitHub keeps failed deliveries 3 days), or 0 to turn the job off.",
                ));
                None
            }
            Err(problem) => {
                problems.push(err(
                    "RESPONDER_REDELIVERY_INTERVAL",
                    problem,
                    "Set a duration such as 15m or 1h, or 0 to turn the job off.",
                ));
                None
            }
        };

        let header_timeout = Duration::from_secs(duration_at_least(
            "RESPONDER_HEADER_TIMEOUT",
            &args.header_timeout,
            (1, "a second"),
            "Set a duration such as 10s or 1m.",
            &mut problems,
        ) as u64);

        let max_connections = match args.max_connections.trim().parse::<usize>() {
            Ok(n) if (1..=1 << 20).contains(&n) => n,
            _ => {
                problems.push(err(
                    "RESPONDER_MAX_CONNECTIONS",
                    format!(
                        "{:?} is not a number from 1 to 1048576",
                        args.max_connections
                    ),
                    "Set how many connections to serve at once, e.g. 1024.",
                ));
                0
            }
        };

        let agent_token_max_ttl = duration_at_least(
            "RESPONDER_AGENT_TOKEN_MAX_TTL",
            &args.agent_token_max_ttl,
            (60, "a minute"),
            "Set a duration such as 30d or 12h.",
            &mut problems,
        );

        let git_fetch_timeout = match crate::agent_token::parse_ttl(&args.git_fetch_timeout) {
            Ok(secs) if secs > 0 => Duration::from_secs(secs as u64),
            Ok(_) | Err(_) => {
                problems.push(err(
                    "RESPONDER_GIT_FETCH_TIMEOUT",
                    format!("{:?} is not a positive duration", args.git_fetch_timeout),
                    "Set a duration such as 90s or 10m.",
                ));
                Duration::ZERO
            }
        };

        let git_mirror = git_mirror_settings(args, &mut problems);

        let agent_run_retention = Duration::from_secs(duration_at_least(
            "RESPONDER_AGENT_RUN_RETENTION",
            &args.agent_run_retention,
            (86_400, "a day (the longest detection window)"),
            "Set a duration such as 7d or 30d.",
            &mut problems,
        ) as u64);

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            app,
            webhook_secrets,
            api_url: args.github_api_url.trim_end_matches('/').to_string(),
            server_url: args.github_server_url.trim_end_matches('/').to_string(),
            agent_secret,
            public_url,
            log_format,
            redelivery_interval,
            header_timeout,
            max_connections,
            agent_token_max_ttl,
            git_fetch_timeout,
            git_mirror,
            agent_run_retention,
        })
    }

    /// The GitHub App variables that are not set; empty when webhooks can be served.
    pub fn missing_github(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.app.is_none() {
            missing.push("GITHUB_APP_ID");
            missing.push("GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH");
        }
        if self.webhook_secrets.is_empty() {
            missing.push("GITHUB_WEBHOOK_SECRET");
        }
        missing
    }
}

/// A duration setting in seconds, at least `min` (seconds, and its words for the
/// message); 0 with a problem recorded otherwise.
fn duration_at_least(
    variable: &'static str,
    value: &str,
    (min, min_words): (i64, &str),
    fix: &str,
    problems: &mut Vec<SettingsError>,
) -> i64 {
    match crate::agent_token::parse_ttl(value) {
        Ok(secs) if secs >= min => secs,
        Ok(_) => {
            problems.push(err(
                variable,
                format!("{value:?} is shorter than {min_words}"),
                fix,
            ));
            0
        }
        Err(problem) => {
            problems.push(err(variable, problem, fix));
            0
        }
    }
}

fn git_mirror_settings(
    args: &SettingsArgs,
    problems: &mut Vec<SettingsError>,
) -> GitMirrorSettings {
    let ttl = duration_at_least(
        "RESPONDER_GIT_MIRROR_TTL",
        &args.git_mirror_ttl,
        (0, "zero"),
        "Set a duration such as 30s or 5m (0: ask GitHub before every clone).",
        problems,
    );
    let queue_timeout = duration_at_least(
        "RESPONDER_GIT_QUEUE_TIMEOUT",
        &args.git_queue_timeout,
        (1, "a second"),
        "Set a duration such as 60s or 5m.",
        problems,
    );
    let upload_packs = match args.git_upload_packs.trim().parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => n,
        _ => {
            problems.push(err(
                "RESPONDER_GIT_UPLOAD_PACKS",
                format!("{:?} is not a number from 1 to 4096", args.git_upload_packs),
                "Set how many git upload-pack processes may run at once, e.g. 8.",
            ));
            0
        }
    };
    let max_bytes = parse_bytes(&args.git_mirror_max_bytes).unwrap_or_else(|| {
        problems.push(err(
            "RESPONDER_GIT_MIRROR_MAX_BYTES",
            format!("{:?} is not a size", args.git_mirror_max_bytes),
            "Set a size such as 50G, 500M or a number of bytes.",
        ));
        0
    });
    GitMirrorSettings {
        ttl: Duration::from_secs(ttl as u64),
        upload_packs,
        queue_timeout: Duration::from_secs(queue_timeout as u64),
        max_bytes,
    }
}

/// `123`, `64K`, `500M`, `50G`, `2T` (powers of 1024) → bytes.
fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

fn app_credentials(
    args: &SettingsArgs,
    problems: &mut Vec<SettingsError>,
) -> Option<AppCredentials> {
    let key = match (
        &args.github_app_private_key,
        &args.github_app_private_key_path,
    ) {
        (Some(_), Some(_)) => {
            problems.push(err(
                "GITHUB_APP_PRIVATE_KEY",
                "both GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_PATH are set",
                "Set only one of them.",
            ));
            None
        }
        (Some(inline), None) => Some(inline.replace("\\n", "\n")),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                problems.push(err(
                    "GITHUB_APP_PRIVATE_KEY_PATH",
                    format!("cannot read {} ({e})", path.display()),
                    "Point it at the .pem file downloaded from the App's settings page.",
                ));
                None
            }
        },
        (None, None) => None,
    };
    let app_id = args
        .github_app_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (app_id, key) {
        (Some(id), Some(pem)) => {
            if !pem.contains("-----BEGIN") {
                problems.push(err(
                    if args.github_app_private_key.is_some() {
                        "GITHUB_APP_PRIVATE_KEY"
                    } else {
                        "GITHUB_APP_PRIVATE_KEY_PATH"
                    },
                    "the key is not PEM (no -----BEGIN line)",
                    "Use the .pem file GitHub generated for the App (PKCS#1 or PKCS#8).",
                ));
                return None;
            }
            Some(AppCredentials {
                app_id: id.to_string(),
                private_key: Secret::new(pem),
                key_variable: if args.github_app_private_key.is_some() {
                    "GITHUB_APP_PRIVATE_KEY"
                } else {
                    "GITHUB_APP_PRIVATE_KEY_PATH"
                },
            })
        }
        (Some(_), None) => {
            problems.push(err(
                "GITHUB_APP_PRIVATE_KEY",
                "GITHUB_APP_ID is set but no private key is",
                "Set GITHUB_APP_PRIVATE_KEY (PEM text) or GITHUB_APP_PRIVATE_KEY_PATH (a file).",
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(err(
                "GITHUB_APP_ID",
                "a private key is set but GITHUB_APP_ID is not",
                "Set GITHUB_APP_ID to the number on the App's settings page.",
            ));
            None
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(args: SettingsArgs) -> Vec<String> {
        match Settings::from_args(&args) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn agent_run_retention_shorter_than_a_day_names_the_variable() {
        let ok = Settings::from_args(&SettingsArgs::default()).unwrap();
        assert_eq!(ok.agent_run_retention, Duration::from_secs(7 * 86_400));
        for bad in ["1h", "forever"] {
            let p = problems(SettingsArgs {
                agent_run_retention: bad.into(),
                ..SettingsArgs::default()
            });
            assert_eq!(p.len(), 1, "{p:?}");
            assert!(p[0].starts_with("RESPONDER_AGENT_RUN_RETENTION: "), "{p:?}");
            assert!(p[0].contains("7d"), "says what to set: {p:?}");
        }
    }
}
