// `sqlx::migrate!` embeds the migration files at compile time, but cargo does not
// know to rebuild when one is added: without this, a new migration stays out of an
// incremental build until some other source file changes (sqlx's documented fix).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
