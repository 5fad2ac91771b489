//! `responder deliveries`: lists the webhook inbox (or the redelivery job's
//! requests), or queues a delivery again. It never takes over work in flight.

use std::process::ExitCode;

use responder::Service;
use responder::settings::Settings;
use responder::store::DeliveryStatus;

use super::DeliveriesAction;

pub async fn run(
    settings: Settings,
    action: Option<DeliveriesAction>,
    status: Option<String>,
    limit: i64,
    redeliveries: bool,
) -> anyhow::Result<ExitCode> {
    let service = Service::new(settings).await?;
    let store = &service.state.store;
    if redeliveries && action.is_none() {
        print_redeliveries(store, limit).await?;
        return Ok(ExitCode::SUCCESS);
    }
    match action {
        Some(DeliveriesAction::Retry { delivery_id }) => {
            store.retry_delivery(&delivery_id).await?;
            println!("{delivery_id}: queued again; a running `responder serve` picks it up");
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
