//! Signs webhook bodies the way GitHub does and loads real webhook payloads.
//!
//! It must never relax the format: the signature is exactly `sha256=` + lowercase
//! hex of HMAC-SHA256(secret, raw body), as `X-Hub-Signature-256` carries it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `sha256=<hex>` of HMAC-SHA256 over `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The payload `tests/fixtures/github/webhooks/NAME.json` (e.g. `issues.opened`).
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/github/webhooks/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The example REST answer `tests/fixtures/github/rest/NAME.json`.
pub fn rest_fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/github/rest/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
