//! The `responder` command line: serve, replay, deliveries, diff, token, check, forms.
//!
//! Each command lives in its own module under `cli/`; this file parses, validates the
//! settings and reports the outcome.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use responder::settings::{Settings, SettingsArgs};
use responder::telemetry;

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
    // The template sandbox's child (started by the service, never by people): before
    // clap, so it stays out of `--help` and parses nothing else.
    if let Some(code) = responder::incident::render::sandbox::child_from_args() {
        return ExitCode::from(code);
    }
    let cli = cli::Cli::parse();
    let Some(args) = cli.command.settings() else {
        // `responder run` works without settings (a sandbox has none).
        return match cli.command {
            cli::Command::Run(args) => cli::run::run(args).await,
            _ => unreachable!("only `run` takes no settings"),
        };
    };
    let settings = match settings_or_exit(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    telemetry::init_logs(settings.log_format);
    match cli::run(cli.command, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("responder: {e:#}");
            ExitCode::FAILURE
        }
    }
}
