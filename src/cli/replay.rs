//! `responder replay`: handles a saved payload as if GitHub had delivered it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use responder::Service;
use responder::settings::Settings;
use responder::webhook::Event;

pub async fn run(
    settings: Settings,
    file: PathBuf,
    event: String,
    action: Option<String>,
) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut new = responder::webhook::envelope::parse("replay", &event, &body)?;
    // `parse` has proved the body UTF-8.
    let payload = String::from_utf8(body).context("the file is not UTF-8")?;
    if action.is_some() {
        new.action = action;
    }
    let service = Service::new(settings).await?;
    let event = Event::from_delivery(
        &format!("replay-{}", uuid::Uuid::new_v4()),
        &new.event,
        new.action.as_deref(),
        new.repo.as_deref(),
        new.installation_id,
        payload.into(),
        1,
    );
    let ran = service.registry.dispatch(&event).await?;
    println!("{}: {} handler(s) ran", event.key(), ran);
    Ok(ExitCode::SUCCESS)
}
