//! The few fields of any delivery the inbox needs, read while proving the body is JSON.

use serde::Deserialize;

use crate::store::NewDelivery;
use crate::types::RepoName;

#[derive(Debug, Deserialize)]
struct Envelope {
    action: Option<String>,
    repository: Option<RepositoryRef>,
    installation: Option<InstallationRef>,
}

#[derive(Debug, Deserialize)]
struct RepositoryRef {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct InstallationRef {
    id: i64,
}

/// Why a body was refused; the message names where the JSON broke.
#[derive(Debug, thiserror::Error)]
#[error("the payload is not valid JSON for a GitHub webhook at `{path}`: {message}")]
pub struct EnvelopeError {
    pub path: String,
    pub message: String,
}

/// Parses the whole body (so malformed JSON anywhere is caught) into a `NewDelivery`.
pub fn parse(delivery_id: &str, event: &str, body: &[u8]) -> Result<NewDelivery, EnvelopeError> {
    // serde_json checks UTF-8 only in the strings it decodes, not in those it skips.
    let text = std::str::from_utf8(body).map_err(|e| EnvelopeError {
        path: ".".into(),
        message: format!(
            "the body is not UTF-8 (invalid bytes at offset {}); JSON must be",
            e.valid_up_to()
        ),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let env: Envelope = serde_path_to_error::deserialize(&mut de).map_err(|e| EnvelopeError {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    de.end().map_err(|e| EnvelopeError {
        path: ".".into(),
        message: e.to_string(),
    })?;
    let repo = env
        .repository
        .and_then(|r| r.full_name.parse::<RepoName>().ok())
        .map(|r| r.full());
    Ok(NewDelivery {
        delivery_id: delivery_id.to_string(),
        event: event.to_string(),
        action: env.action,
        repo,
        installation_id: env.installation.map(|i| i.id),
        payload: text.to_string(),
    })
}
