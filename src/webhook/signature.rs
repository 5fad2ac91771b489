//! `X-Hub-Signature-256` verification: HMAC-SHA256 over the raw body, constant time.
//!
//! Must never log or return the secret or the expected digest.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::types::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match any configured webhook secret")]
    Mismatch,
    #[error("no webhook secret is configured (GITHUB_WEBHOOK_SECRET)")]
    NoSecret,
}

/// Checks `header` (the value of `X-Hub-Signature-256`) against each secret.
pub fn verify(secrets: &[Secret], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    verify_digest(secrets, body, &parse_header(header)?)
}

/// The digest `header` carries, checked for form only: a request without one is
/// refused before its body is read.
pub fn parse_header(header: Option<&str>) -> Result<[u8; 32], SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut digest).map_err(|_| SignatureError::Malformed)?;
    Ok(digest)
}

/// Checks `digest` (from [`parse_header`]) against each secret.
pub fn verify_digest(
    secrets: &[Secret],
    body: &[u8],
    digest: &[u8; 32],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    // Every secret is tried (no early exit) so timing does not tell which one matched.
    let mut ok = false;
    for secret in secrets {
        let mut mac = mac_for(secret);
        mac.update(body);
        ok |= mac.verify_slice(digest).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `sha256=<hex>` for `body` under `secret` (used by tests and `replay` tooling).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = mac_for(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac_for(secret: &Secret) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC accepts any key length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secret() -> Vec<Secret> {
        vec![Secret::new("It's a Secret to Everybody")]
    }

    #[test]
    fn github_documented_vector_verifies() {
        assert_eq!(sign(&secret()[0], b"Hello, World!"), VECTOR);
        assert_eq!(verify(&secret(), b"Hello, World!", Some(VECTOR)), Ok(()));
    }

    #[test]
    fn one_changed_byte_is_rejected() {
        assert_eq!(
            verify(&secret(), b"Hello, World?", Some(VECTOR)),
            Err(SignatureError::Mismatch)
        );
        let mut sig = VECTOR.to_string();
        sig.replace_range(70..71, "0");
        assert_ne!(sig, VECTOR);
        assert_eq!(
            verify(&secret(), b"Hello, World!", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        let body = b"Hello, World!";
        assert_eq!(verify(&secret(), body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(&secret(), body, Some("sha1=0123")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secret(), body, Some(&VECTOR[..40])),
            Err(SignatureError::Malformed)
        );
        let non_hex = format!("sha256={}", "z".repeat(64));
        assert_eq!(
            verify(&secret(), body, Some(&non_hex)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn any_rotated_secret_is_accepted() {
        let secrets = vec![
            Secret::new("new-secret"),
            Secret::new("It's a Secret to Everybody"),
        ];
        assert_eq!(verify(&secrets, b"Hello, World!", Some(VECTOR)), Ok(()));
    }
}
