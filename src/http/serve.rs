//! The HTTP server loop: accepts connections up to a cap, closes those that do not
//! send their headers in time, and drains on shutdown.
//!
//! Purpose: `axum::serve` has neither a header timeout nor a connection cap, so a
//! client that opens connections and sends half a header would hold them (and their
//! buffers) forever. It must never hold more than `max_connections` connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Limits of the connections themselves (requests have theirs in the router).
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// From a connection's start (or its previous response) to its request's last
    /// header line.
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

/// Headers one request may carry; the router answers more with a JSON 431 (hyper's
/// own, higher, limits only answer what never reaches it).
const HYPER_MAX_HEADERS: usize = 2 * super::edge::MAX_HEADERS;

/// Serves `router` on `listener` until `signal` resolves, then stops accepting, asks
/// every connection to finish its request in flight, and returns once all closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    tokio::pin!(signal);
    loop {
        // At the cap, stop accepting: the kernel's backlog holds the next ones.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut signal => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                // The guard `wait_for` returns must not live across the drain below.
                _ = async { drop(stopping.wait_for(|s| *s).await) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it closes: all slots back means all closed.
    let _all = slots
        .acquire_many(config.max_connections as u32)
        .await
        .expect("the semaphore is never closed");
    Ok(())
}
