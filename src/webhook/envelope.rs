//! The few fields of any delivery the inbox needs, read while proving the body is JSON.

use serde::Deserialize;

use crate::store::{NewDelivery, StoredPayload};
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
    // The plain parser first: only a refused body needs the path, and tracking it
    // wraps every value of every accepted body too.
    let env = match serde_json::from_str::<Envelope>(text) {
        Ok(env) => env,
        Err(_) => return Err(locate_error(text)),
    };
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
        payload: StoredPayload::new(text),
    })
}

/// Parses `text` again, tracking the path, to say where it broke.
fn locate_error(text: &str) -> EnvelopeError {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Envelope>(&mut de) {
        Err(e) => EnvelopeError {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        },
        Ok(_) => EnvelopeError {
            path: ".".into(),
            message: de
                .end()
                .err()
                .map_or_else(|| "the body is not valid JSON".into(), |e| e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_and_the_rest_of_the_body_is_still_checked() {
        let body = br#"{"action":"opened","installation":{"id":7},"repository":{"full_name":"Octo/App"},"issue":{"n":[1,2]}}"#;
        let d = parse("g1", "issues", body).unwrap();
        assert_eq!(d.action.as_deref(), Some("opened"));
        assert_eq!(d.installation_id, Some(7));
        assert_eq!(d.repo.as_deref(), Some("octo/app"));

        let e = parse("g2", "issues", br#"{"action":"opened","issue":{"n":[1,}}"#).unwrap_err();
        assert_eq!(e.path, "issue");
        let e = parse("g3", "issues", br#"{"repository":{"full_name":7}}"#).unwrap_err();
        assert_eq!(e.path, "repository.full_name");
    }

    #[test]
    fn bytes_after_the_json_are_refused() {
        let e = parse("g4", "ping", br#"{"zen":"x"} {"#).unwrap_err();
        assert_eq!(e.path, ".");
        assert!(e.message.contains("trailing characters"), "{}", e.message);
    }
}
