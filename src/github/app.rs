//! The App's identity: RS256 JWTs for `/app/...` calls.
//!
//! The key is parsed once at startup; a bad key stops startup with the variable's name.
//! Neither the key nor a JWT is ever printed.

use std::fmt;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::clock::Clock;
use crate::settings::AppCredentials;
use crate::types::Secret;

pub struct AppAuth {
    app_id: String,
    key: EncodingKey,
}

impl fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppAuth")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{variable}: the private key cannot be used ({reason}). Use the .pem file GitHub generated for the App (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 `BEGIN PRIVATE KEY`)"
)]
pub struct KeyError {
    pub variable: &'static str,
    pub reason: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

impl AppAuth {
    /// Parses the key (PKCS#1 or PKCS#8) and proves it can sign.
    pub fn new(creds: &AppCredentials, variable: &'static str) -> Result<Self, KeyError> {
        let pem = creds.private_key.expose().trim();
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| KeyError {
            variable,
            reason: e.to_string(),
        })?;
        let auth = Self {
            app_id: creds.app_id.clone(),
            key,
        };
        auth.jwt(&crate::clock::SystemClock)
            .map_err(|reason| KeyError { variable, reason })?;
        Ok(auth)
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// A JWT valid for nine minutes, issued 60 s in the past to absorb clock drift
    /// (GitHub's guidance; the maximum lifetime is ten minutes).
    pub fn jwt(&self, clock: &dyn Clock) -> Result<Secret, String> {
        let now = clock.now().timestamp();
        let claims = Claims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: &self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| format!("signing the App JWT failed: {e}"))
    }
}
