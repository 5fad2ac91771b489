//! `responder serve`: the HTTP service and its workers until SIGINT/SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use responder::Service;
use responder::settings::Settings;

pub async fn run(settings: Settings) -> anyhow::Result<ExitCode> {
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
