//! Milestone metrics: time from declaration to acknowledge (first commander or
//! status update), mitigate and resolve, as `/metrics` histograms by severity.
//!
//! Recorded once, when the store says the milestone's entry was new; the
//! incident's own columns (`acknowledged_at`, `mitigated_at`, `resolved_at`) are
//! what the list answer's timings read.

use crate::store::IncidentRecord;

/// `responder_incident_time_to_<what>_seconds{severity}` for a milestone reached at
/// `at` (ms); `what` is `acknowledge`, `mitigate` or `resolve`.
pub(super) fn record_metric(what: &'static str, inc: &IncidentRecord, at: i64) {
    let secs = (at - inc.created_at).max(0) as f64 / 1000.0;
    let severity = inc.severity.as_str();
    match what {
        "acknowledge" => metrics::histogram!("responder_incident_time_to_acknowledge_seconds", "severity" => severity).record(secs),
        "mitigate" => metrics::histogram!("responder_incident_time_to_mitigate_seconds", "severity" => severity).record(secs),
        _ => metrics::histogram!("responder_incident_time_to_resolve_seconds", "severity" => severity).record(secs),
    }
}

/// The first commander or update acknowledges the incident (`inc` as it was
/// before the entry).
pub(super) fn record_first_ack(inc: &IncidentRecord, at: i64) {
    if inc.acknowledged_at.is_none() {
        record_metric("acknowledge", inc, at);
    }
}
