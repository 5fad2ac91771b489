//! Posting a run to `POST /v1/agent-runs`. A failure is returned as one sentence for
//! stderr; it never changes the wrapper's exit code.

use std::time::Duration;

use http_body_util::BodyExt;
use octocrab::{OctoBody, Octocrab};
use serde::{Deserialize, Serialize};

use responder::runs::Verdict;
use responder::runs::classify::MAX_OUTPUT;

/// The request body (CONTRACT.md, Agent runs).
#[derive(Debug, Serialize)]
pub struct Body {
    pub run_id: String,
    pub repo: Option<String>,
    pub agent: String,
    pub exit_code: i32,
    pub output: String,
    pub duration_ms: u64,
}

/// The part of the answer the wrapper checks: proof the service classified the run.
#[derive(Debug, Deserialize)]
struct Answer {
    #[allow(dead_code)] // decoded to validate the answer's shape
    verdict: Verdict,
}

/// stdout then stderr, as text, at most [`MAX_OUTPUT`] bytes.
pub fn output(stdout: &[u8], stderr: &[u8]) -> String {
    let mut all = Vec::with_capacity(stdout.len() + stderr.len() + 1);
    all.extend_from_slice(stdout);
    if !stdout.is_empty() && !stdout.ends_with(b"\n") {
        all.push(b'\n');
    }
    all.extend_from_slice(stderr);
    let mut text = String::from_utf8_lossy(&all[..all.len().min(MAX_OUTPUT)]).into_owned();
    while text.len() > MAX_OUTPUT {
        text.pop();
    }
    text
}

/// The route under `url`: a base URL gets `/v1/agent-runs` appended.
fn endpoint(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/v1/agent-runs") {
        url.to_string()
    } else {
        format!("{url}/v1/agent-runs")
    }
}

pub async fn post(url: &str, body: &Body) -> Result<(), String> {
    let token = std::env::var("RESPONDER_TOKEN")
        .map_err(|_| "RESPONDER_TOKEN is not set (an agent token with runs:write)".to_string())?;
    if body.repo.is_none() {
        return Err("no repository: pass --repo OWNER/REPO or set RESPONDER_REPO".into());
    }
    let url = endpoint(url);
    let octo = Octocrab::builder()
        .base_uri(url.as_str())
        .and_then(|b| {
            b.set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(30)))
                .build()
        })
        .map_err(|e| format!("{url} is not a usable URL: {e}"))?;
    let json = serde_json::to_string(body).map_err(|e| e.to_string())?;
    let mut auth = http::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .map_err(|_| "RESPONDER_TOKEN is not a valid header value".to_string())?;
    auth.set_sensitive(true);
    let request = http::Request::post(url.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, auth)
        .header(
            http::header::USER_AGENT,
            concat!("responder-run/", env!("CARGO_PKG_VERSION")),
        )
        .body(OctoBody::from(json))
        .map_err(|e| e.to_string())?;
    let response = octo.execute(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    if !status.is_success() {
        return Err(format!("answered {status}: {shown}"));
    }
    serde_json::from_slice::<Answer>(&bytes)
        .map(|_| ())
        .map_err(|e| format!("answered {status} but not with a verdict ({e}): {shown}"))
}
