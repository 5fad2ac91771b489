//! `responder diff`: a PR's files or unified diff, with the service's fallback.

use std::process::ExitCode;

use anyhow::Context;
use responder::settings::Settings;

pub async fn run(
    settings: Settings,
    target: String,
    format: String,
    via: String,
) -> anyhow::Result<ExitCode> {
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
    // The disk cache is written after answering; this process is about to exit.
    diffs.flush().await;
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
