//! Stores as an earlier release left them, for the migration tests of both databases.

/// Creates the store at `url` (SQLite or PostgreSQL) with only the migrations before
/// 0035, and one delivery, `old`, whose payload is `text` as 0034 stored it.
pub async fn before_0035(url: &str, text: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut migrator = if url.starts_with("postgres") {
        sqlx::migrate!("./migrations/postgres")
    } else {
        sqlx::migrate!("./migrations/sqlite")
    };
    let upto = migrator
        .migrations
        .iter()
        .position(|m| m.version == 35)
        .expect("migration 0035");
    migrator.migrations = std::borrow::Cow::Owned(migrator.migrations[..upto].to_vec());
    migrator.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, event, next_attempt_at, received_at) \
         VALUES ('old', 'ping', 0, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO delivery_payloads (delivery_id, payload) VALUES ('old', $1)")
        .bind(text)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}
