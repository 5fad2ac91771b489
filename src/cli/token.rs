//! `responder token`: mints an agent token with the service's secret and limits.

use std::process::ExitCode;

use anyhow::Context;
use responder::settings::Settings;

pub fn run(
    settings: Settings,
    repos: Vec<String>,
    scopes: Vec<String>,
    ttl: String,
    sub: Option<String>,
) -> anyhow::Result<ExitCode> {
    let secret = settings
        .agent_secret
        .as_ref()
        .context("RESPONDER_AGENT_SECRET is not set; set it to the same value the service uses")?;
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
