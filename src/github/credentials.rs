//! The App credentials one-click setup stored: `$RESPONDER_DATA_DIR/app-credentials.json`.
//!
//! Purpose: write them so only the service's user can read them (mode 0600 from the
//! first byte, then an atomic rename: a crash never leaves a half-written or
//! world-readable file) and read them back at startup. It must never put a key or
//! secret into an error message, a log line or `Debug` output.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::Secret;

/// The file's name inside the data directory.
pub const FILE_NAME: &str = "app-credentials.json";

/// What the file holds. `Debug` shows the id only (`Secret` hides its value).
#[derive(Debug, Clone)]
pub struct StoredApp {
    pub app_id: String,
    /// PEM text as GitHub generated it.
    pub private_key: Secret,
    pub webhook_secret: Secret,
    pub slug: Option<String>,
    /// The App's page on GitHub (`https://github.com/apps/SLUG`).
    pub html_url: Option<String>,
}

/// The on-disk shape; kept private so secrets only leave as `Secret`.
#[derive(Serialize, Deserialize)]
struct FileV1 {
    app_id: String,
    private_key: String,
    webhook_secret: String,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "cannot read {path}: {reason}; fix its permissions or delete it to set the App up again"
    )]
    Read { path: PathBuf, reason: String },
    #[error(
        "{path} is not a credentials file Responder wrote ({reason}); delete it to set the App up again"
    )]
    Malformed { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}; RESPONDER_DATA_DIR must be writable")]
    Write { path: PathBuf, reason: String },
}

/// `$data_dir/app-credentials.json`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The stored credentials, or `None` when there is no file.
pub fn load(data_dir: &Path) -> Result<Option<StoredApp>, CredentialsError> {
    let path = path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CredentialsError::Read {
                path,
                reason: e.to_string(),
            });
        }
    };
    // serde_json's messages quote no input values for a type mismatch, but a syntax
    // error's position is all we report: nothing of the content.
    let file: FileV1 = serde_json::from_str(&text).map_err(|e| CredentialsError::Malformed {
        path: path.clone(),
        reason: format!("{:?} at line {}", e.classify(), e.line()),
    })?;
    if file.app_id.trim().is_empty() || !file.private_key.contains("-----BEGIN") {
        return Err(CredentialsError::Malformed {
            path,
            reason: "no app_id or no PEM private_key".into(),
        });
    }
    Ok(Some(StoredApp {
        app_id: file.app_id,
        private_key: Secret::new(file.private_key),
        webhook_secret: Secret::new(file.webhook_secret),
        slug: file.slug,
        html_url: file.html_url,
    }))
}

/// Writes `app` to a 0600 temporary file next to the target, syncs it, then renames
/// it over the target. Returns the file's path.
pub fn save(data_dir: &Path, app: &StoredApp) -> Result<PathBuf, CredentialsError> {
    let target = path(data_dir);
    let tmp = data_dir.join(format!(".{FILE_NAME}.{}.tmp", uuid::Uuid::new_v4()));
    let write_err = |reason: String| CredentialsError::Write {
        path: target.clone(),
        reason,
    };
    let body = serde_json::to_vec_pretty(&FileV1 {
        app_id: app.app_id.clone(),
        private_key: app.private_key.expose().to_string(),
        webhook_secret: app.webhook_secret.expose().to_string(),
        slug: app.slug.clone(),
        html_url: app.html_url.clone(),
    })
    .map_err(|e| write_err(e.to_string()))?;
    let result = (|| -> std::io::Result<()> {
        let mut file = private_file(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        // The rename is durable only once the directory is synced.
        if let Ok(dir) = std::fs::File::open(data_dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e.to_string()));
    }
    Ok(target)
}

/// A new file only its owner can read: the mode is set at creation, so the secret is
/// never readable by others, not even for a moment.
#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredApp {
        StoredApp {
            app_id: "42".into(),
            private_key: Secret::new(
                "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n",
            ),
            webhook_secret: Secret::new("whsec-value"),
            slug: Some("responder".into()),
            html_url: Some("https://github.com/apps/responder".into()),
        }
    }

    #[test]
    fn saved_credentials_load_back_and_only_the_owner_can_read_them() {
        let dir = tempfile::tempdir().unwrap();
        let written = save(dir.path(), &sample()).unwrap();
        let back = load(dir.path()).unwrap().expect("stored");
        assert_eq!(back.app_id, "42");
        assert_eq!(back.webhook_secret.expose(), "whsec-value");
        assert_eq!(back.slug.as_deref(), Some("responder"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&written).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn no_file_means_nothing_stored() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
    }

    #[test]
    fn a_damaged_file_is_refused_without_quoting_its_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            path(dir.path()),
            "{\"app_id\": \"1\", \"private_key\": \"sekrit-pem",
        )
        .unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(FILE_NAME) && !e.contains("sekrit"), "{e}");
        let debug = format!("{:?}", sample());
        assert!(
            !debug.contains("whsec-value") && !debug.contains("abc"),
            "{debug}"
        );
    }
}
