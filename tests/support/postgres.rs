//! PostgreSQL for tests: `RESPONDER_TEST_POSTGRES_URL` names a server (`.ci/run`
//! starts a throwaway cluster and sets it); each test gets a database of its own.

/// The server's admin URL, if configured. With `RESPONDER_REQUIRE_POSTGRES=1` (CI) a
/// missing URL is a failure, not a skip.
pub fn admin_url() -> Option<String> {
    match std::env::var("RESPONDER_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("RESPONDER_REQUIRE_POSTGRES").is_err(),
                "RESPONDER_REQUIRE_POSTGRES is set but RESPONDER_TEST_POSTGRES_URL is not: start PostgreSQL (bash .ci/run does)"
            );
            eprintln!(
                "SKIPPED: PostgreSQL tests need RESPONDER_TEST_POSTGRES_URL (bash .ci/run starts PostgreSQL and sets it)"
            );
            None
        }
    }
}

/// Creates an empty database and returns its URL.
pub fn fresh_database() -> String {
    database_named(&format!("t_{}", uuid::Uuid::new_v4().simple()))
}

/// The database of a data directory: the same directory (a restarted service) gets
/// the same database, a new one gets a new database.
pub fn database_for(data_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.display().to_string().as_bytes());
    database_named(&format!("d_{}", &hex::encode(digest)[..24]))
}

fn database_named(name: &str) -> String {
    let admin =
        admin_url().expect("RESPONDER_TEST_DATABASE=postgres needs RESPONDER_TEST_POSTGRES_URL");
    let out = std::process::Command::new("psql")
        .args([
            admin.as_str(),
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("already exists"),
        "CREATE DATABASE failed: {err}"
    );
    let (base, _) = admin
        .rsplit_once('/')
        .expect("the admin URL names a database");
    format!("{base}/{name}")
}
