//! The worker pool: claims stored deliveries, dispatches them, records the outcome.
//!
//! Purpose: all webhook work happens here, never in the request. Deliveries of one
//! repository run in arrival order (the store's claim guarantees it), different
//! repositories in parallel up to `concurrency`. A claim takes a run of up to `batch`
//! fresh deliveries of each repository in one round trip and one task runs them in
//! order, recording their successes together. Failures back off exponentially with
//! jitter and end as `dead` with the last error kept; a failure that will be retried
//! hands the rest of its batch back, since they must wait for it. A handler that
//! panics fails its delivery like any other error: it must never stall its repository.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::{self, JoinSet};
use tracing::Instrument;

use super::completions::Completions;
use super::registry::{Event, HandlerError, Registry};
use crate::store::{Delivery, DeliveryStatus, Store, now_ms};

/// While tasks run, the least time between two claims that new work (not a finished
/// task) asks for: under load the inbox commits hundreds of times a second, and a claim
/// for each would queue in front of those commits on SQLite's one writer connection
/// (and mostly find the repository busy). An idle worker claims at once.
const BUSY_CLAIM_GAP: Duration = Duration::from_millis(50);

/// How long a batch holds successes before recording them: fast handlers share one
/// write, a slow handler's earlier successes do not wait behind it for long (and are
/// not run again after a crash).
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// Payloads up to this many bytes are read with the rest of their batch in one query;
/// larger ones (GitHub allows 25 MiB) one at a time. Bounds what a batch holds: `batch`
/// × this. Bytes, not characters: SQLite's `length` counts characters by reading every
/// byte, `octet_length` does not.
const PREFETCH_MAX_BYTES: i64 = 64 * 1024;

/// What became of one delivery of a batch.
enum Outcome {
    Done,
    /// Failed and will be retried: what is behind it in its repository waits.
    Retry,
    /// Failed for good (or the failure could not be recorded): its repository moves on.
    Settled,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Repositories handled at once (one task each).
    pub concurrency: usize,
    /// The most deliveries of one repository one claim takes (run in order by one
    /// task): one round trip to the store for the claim and one for the successes,
    /// instead of one each per delivery. 1 claims them one by one.
    pub batch: usize,
    /// Attempts before a delivery is marked `dead`.
    pub max_attempts: i64,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a claim holds without a heartbeat before another worker may take the
    /// delivery over (the heartbeat renews it every third of this).
    pub lease: Duration,
    /// How long shutdown waits for handlers in flight before handing them back.
    pub drain_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            batch: 32,
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(20),
        }
    }
}

pub struct Worker {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub work_ready: Arc<Notify>,
    pub config: WorkerConfig,
    /// Identifies this process's claims: [`worker_id`].
    pub id: String,
    pub completions: Completions,
    /// Counts outcomes recorded (done, failed, dead): whoever waits for the inbox to
    /// settle (`responder replay`, tests) wakes on it instead of polling the store.
    pub recorded: Arc<watch::Sender<u64>>,
}

impl Worker {
    /// Runs until `shutdown` turns true, then finishes or hands back work in flight.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        self.recover().await;
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.config.concurrency));
        let mut tasks = JoinSet::new();
        // The deliveries in flight, by task: the heartbeat renews exactly these.
        let mut in_flight: HashMap<task::Id, Vec<i64>> = HashMap::new();
        let mut gauge_at = Instant::now() - Duration::from_secs(1);
        let mut claimed_at = Instant::now() - BUSY_CLAIM_GAP;
        let mut heartbeat = tokio::time::interval(this.config.lease / 3);
        // Polled only while handlers run: after an idle spell, one renewal, not a burst.
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let poll = Duration::from_secs(5);
        loop {
            // A dropped sender is a shutdown too: `changed()` would then return at once
            // on every turn and the loop would spin, claiming as fast as it can.
            if *shutdown.borrow() || shutdown.has_changed().is_err() {
                break;
            }
            let free = slots.available_permits();
            if free > 0 {
                claimed_at = Instant::now();
                match this
                    .store
                    .claim_batches(
                        &this.id,
                        free as i64,
                        this.config.batch.max(1) as i64,
                        this.config.lease.as_millis() as i64,
                        this.config.max_attempts,
                    )
                    .await
                {
                    // At most one batch per repository and `free` repositories.
                    Ok(claimed) => {
                        for batch in into_batches(claimed) {
                            let permit =
                                slots.clone().acquire_owned().await.expect("semaphore open");
                            let worker = this.clone();
                            let ids = batch.iter().map(|d| d.id).collect();
                            let stop = shutdown.clone();
                            let handle = tasks.spawn(async move {
                                worker.process_batch(batch, stop).await;
                                drop(permit);
                            });
                            in_flight.insert(handle.id(), ids);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "could not claim deliveries"),
                }
            }
            // Counting a large backlog is not free: once a second is enough for a gauge.
            if gauge_at.elapsed() >= Duration::from_secs(1) {
                gauge_at = Instant::now();
                if let Ok(depth) = this.store.queue_depth().await {
                    metrics::gauge!("responder_queue_depth").set(depth as f64);
                }
            }
            // With every slot busy only a finished task can start more: no need to ask
            // the store when a retry is due.
            let wait = if slots.available_permits() == 0 {
                poll
            } else {
                this.until_next_due(poll).await
            };
            tokio::select! {
                _ = this.work_ready.notified() => {
                    if !tasks.is_empty() {
                        tokio::time::sleep_until((claimed_at + BUSY_CLAIM_GAP).into()).await;
                    }
                }
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let task = match &done {
                        Ok((task, ())) => *task,
                        Err(e) => e.id(),
                    };
                    if let (Err(e), Some(ids)) = (done, in_flight.remove(&task)) {
                        // `process` catches handler panics; this is one in recording the
                        // outcome. The lease, no longer renewed, hands the deliveries on.
                        tracing::error!(error = %e, delivery_rows = ?ids, "a delivery task failed");
                    }
                }
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
                _ = heartbeat.tick(), if !tasks.is_empty() => {
                    let ids: Vec<i64> = in_flight.values().flatten().copied().collect();
                    if let Err(e) = this.store.renew_leases(&this.id, &ids, this.config.lease.as_millis() as i64).await {
                        tracing::warn!(error = %e, "could not renew delivery leases");
                    }
                }
            }
        }
        this.drain(tasks).await;
    }

    /// Takes back what an earlier process of this host and pid left `running` (a
    /// crash, then a restart in the same container) and expired claims. Only the
    /// process that runs the worker does this: a command opening the store beside a
    /// live `serve` must never hand its work in flight to a second handler.
    async fn recover(&self) {
        let predecessor = match self.id.rsplit_once('/') {
            Some((host_and_pid, _)) => format!("{host_and_pid}/"),
            None => return,
        };
        match self.store.recover_claims(&predecessor).await {
            Ok(0) => {}
            Ok(recovered) => tracing::warn!(
                recovered,
                "deliveries were in flight when the last process stopped; handling them again"
            ),
            Err(e) => tracing::error!(error = %e, "could not recover deliveries left in flight"),
        }
    }

    async fn until_next_due(&self, poll: Duration) -> Duration {
        match self.store.next_due_at().await {
            Ok(Some(t)) => {
                Duration::from_millis((t - now_ms()).clamp(5, poll.as_millis() as i64) as u64)
            }
            _ => poll,
        }
    }

    async fn drain(&self, mut tasks: JoinSet<()>) {
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(in_flight, "waiting for deliveries in flight");
        }
        let deadline = tokio::time::sleep(self.config.drain_timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => {
                    tasks.abort_all();
                    break;
                }
            }
        }
        match self.store.release_deliveries(&self.id).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                released = n,
                "handed unfinished deliveries back to the inbox"
            ),
            Err(e) => {
                tracing::error!(error = %e, "could not hand deliveries back; their lease will expire")
            }
        }
    }

    /// Runs one repository's claimed deliveries in order. Successes are recorded
    /// together ([`FLUSH_AFTER`]); a failure that will be retried hands back the
    /// deliveries behind it unattempted, so nothing overtakes it; on shutdown the rest
    /// stay claimed for [`Self::drain`] to hand back.
    async fn process_batch(&self, batch: Vec<Delivery>, shutdown: watch::Receiver<bool>) {
        let mut done = Vec::new();
        let mut held_since = Instant::now();
        let mut payloads = self.prefetch(&batch).await;
        let mut rest = batch.into_iter();
        while let Some(delivery) = rest.next() {
            if *shutdown.borrow() {
                break;
            }
            let payload = payloads.remove(&delivery.id);
            match self.process(&delivery, payload).await {
                Outcome::Done => {
                    if done.is_empty() {
                        held_since = Instant::now();
                    }
                    done.push(delivery.id);
                }
                Outcome::Settled => {}
                Outcome::Retry => {
                    let behind: Vec<i64> = rest.by_ref().map(|d| d.id).collect();
                    if let Err(e) = self.store.release_claimed(&self.id, &behind).await {
                        // Their lease expires and they are claimed again, one attempt
                        // counted for nothing.
                        tracing::error!(error = %e, deliveries = behind.len(), "could not hand back the deliveries behind a failed one");
                    }
                }
            }
            if !done.is_empty() && held_since.elapsed() >= FLUSH_AFTER {
                self.record_done(std::mem::take(&mut done)).await;
            }
            // With its payloads read ahead, a batch of quick handlers would otherwise
            // run end to end without an await, holding one of the runtime's threads
            // while webhook requests wait behind it.
            tokio::task::yield_now().await;
        }
        self.record_done(done).await;
    }

    /// The payloads the batch's handlers will need, read together; a failed read only
    /// means each is read when its turn comes.
    async fn prefetch(&self, batch: &[Delivery]) -> HashMap<i64, String> {
        let wanted: Vec<i64> = batch
            .iter()
            .filter(|d| self.registry.handles(&d.event, d.action.as_deref()))
            .map(|d| d.id)
            .collect();
        if wanted.len() < 2 {
            return HashMap::new();
        }
        match self.store.small_payloads(&wanted, PREFETCH_MAX_BYTES).await {
            Ok(rows) => rows.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read a batch's payloads together");
                HashMap::new()
            }
        }
    }

    async fn record_done(&self, ids: Vec<i64>) {
        if ids.is_empty() {
            return;
        }
        let n = ids.len() as u64;
        if let Err(e) = self.completions.done(ids).await {
            // The lease expires and another attempt follows: the handler must be idempotent.
            tracing::error!(error = %e, deliveries = n, "could not record deliveries as done");
        }
        self.recorded.send_modify(|r| *r += n);
    }

    /// Runs one delivery's handlers; records a failure (a success is the batch's to
    /// record).
    async fn process(&self, delivery: &Delivery, payload: Option<String>) -> Outcome {
        let span = tracing::info_span!(
            "delivery",
            delivery = %delivery.delivery_id,
            event = %delivery.event,
            action = delivery.action.as_deref().unwrap_or(""),
            repo = delivery.repo.as_deref().unwrap_or(""),
            attempt = delivery.attempts,
        );
        async {
            let started = Instant::now();
            let result = AssertUnwindSafe(self.dispatch(delivery, payload))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(HandlerError::Retry(panic_message(&*panic))));
            let elapsed = started.elapsed();
            metrics::histogram!("responder_handler_seconds", "event" => delivery.event.clone())
                .record(elapsed.as_secs_f64());
            self.record(delivery, result).await
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        &self,
        delivery: &Delivery,
        payload: Option<String>,
    ) -> Result<usize, HandlerError> {
        // Nobody listens: done, without reading a payload of up to 25 MiB.
        if !self
            .registry
            .handles(&delivery.event, delivery.action.as_deref())
        {
            return Ok(0);
        }
        let text = match payload {
            Some(text) => text,
            None => self
                .store
                .delivery_payload(delivery.id)
                .await
                .map_err(|e| {
                    HandlerError::Retry(format!("could not read the stored payload: {e}"))
                })?,
        };
        let event = Event::from_delivery(
            &delivery.delivery_id,
            &delivery.event,
            delivery.action.as_deref(),
            delivery.repo.as_deref(),
            delivery.installation_id,
            text.into(),
            delivery.attempts,
        );
        self.registry.dispatch(&event).await
    }

    async fn record(&self, delivery: &Delivery, result: Result<usize, HandlerError>) -> Outcome {
        let event = delivery.event.clone();
        let e = match result {
            Ok(ran) => {
                tracing::info!(handlers = ran, "delivery handled");
                metrics::counter!("responder_deliveries_processed_total", "event" => event)
                    .increment(1);
                return Outcome::Done;
            }
            Err(e) => e,
        };
        metrics::counter!("responder_deliveries_failed_total", "event" => event).increment(1);
        let retry_at = match &e {
            HandlerError::Retry(_) if delivery.attempts < self.config.max_attempts => {
                Some(now_ms() + self.backoff(delivery.attempts).as_millis() as i64)
            }
            _ => None,
        };
        match retry_at {
            Some(at) => {
                tracing::warn!(error = %e, retry_in_ms = at - now_ms(), "delivery failed; will retry")
            }
            None => tracing::error!(error = %e, "delivery failed for good; marked dead"),
        }
        let written = self
            .store
            .fail_delivery(delivery.id, &e.to_string(), retry_at)
            .await;
        self.recorded.send_modify(|n| *n += 1);
        match (written, retry_at) {
            (Ok(()), Some(_)) => Outcome::Retry,
            (Ok(()), None) => Outcome::Settled,
            (Err(e), _) => {
                // The lease expires and another attempt follows: the handler must be
                // idempotent. What is behind it is handed back to wait for it, as for
                // a retry: the row is still open below them.
                tracing::error!(error = %e, "could not record the delivery's outcome");
                Outcome::Retry
            }
        }
    }

    /// base · 2^(attempt-1), capped, with ±25% jitter so retries of a burst spread out.
    fn backoff(&self, attempt: i64) -> Duration {
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1u32 << (attempt.clamp(1, 20) - 1) as u32);
        let capped = exp.min(self.config.backoff_max);
        capped.mul_f64(0.75 + fastrand::f64() * 0.5)
    }
}

/// Splits a claim into one batch per repository, each in arrival order (the claim is
/// sorted by id); deliveries without a repository are batches of one. A delivery the
/// claim found spent (its process died at every attempt) is logged and left out.
fn into_batches(claimed: Vec<Delivery>) -> Vec<Vec<Delivery>> {
    let mut batches: Vec<Vec<Delivery>> = Vec::new();
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    for delivery in claimed {
        if delivery.status == DeliveryStatus::Dead {
            tracing::error!(
                delivery = %delivery.delivery_id,
                attempts = delivery.attempts,
                "a delivery's handler stopped its process at every attempt; marked dead"
            );
            continue;
        }
        match delivery.repo.clone() {
            Some(repo) => match lane_of.get(&repo) {
                Some(&i) => batches[i].push(delivery),
                None => {
                    lane_of.insert(repo, batches.len());
                    batches.push(vec![delivery]);
                }
            },
            None => batches.push(vec![delivery]),
        }
    }
    batches
}

/// `HOST/PID/UUID`: unique per process, and a later process with the same host and
/// pid (a restarted container's pid 1) knows the claims before its own were a dead
/// process's. Host names never contain `/`.
pub fn worker_id(host: &str) -> String {
    format!("{host}/{}/{}", std::process::id(), uuid::Uuid::new_v4())
}

/// What a handler's panic said, as the delivery's last error.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-text panic payload");
    format!("the handler panicked: {text}")
}
