//! Test databases shared by the storage, scheduler and scenario suites: a SQLite file in a temp dir, or a fresh
//! schema on the test PostgreSQL (dropped afterwards, even on panic), and a macro that runs a behaviour on both.
#![allow(dead_code)] // each test binary uses a different part

use meetbot::store::{Store, StoreOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// One test's database.
pub struct TestDb {
    /// The open store.
    pub store: Store,
    /// Its URL, to open more pools on the same database.
    pub url: String,
    pg_schema: Option<PgSchema>,
    _dir: Option<tempfile::TempDir>,
}

/// Drops its schema when the test ends, even on panic.
pub struct PgSchema {
    base: String,
    schema: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, schema) = (self.base.clone(), self.schema.clone());
        // Drop cannot await: use a runtime of its own on another thread.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&mut c)
                            .await;
                    }
                })
        })
        .join();
    }
}

/// A SQLite database in a fresh temp dir (in a subfolder, so opening also creates the directory).
pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("data/meetbot.db").display());
    TestDb {
        store: Store::open(&url).await.expect("open sqlite"),
        url,
        pg_schema: None,
        _dir: Some(dir),
    }
}

/// The test PostgreSQL: MEETBOT_TEST_POSTGRES_URL, else the local one CI runs.
pub fn postgres_base_url() -> String {
    std::env::var("MEETBOT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

static NOTICE: AtomicBool = AtomicBool::new(false);
static SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh schema on the test PostgreSQL and the URL that selects it (reached through `via` when given, e.g. a
/// relay a test can cut); `None`, with a notice on the real stderr (cargo does not capture it), when PostgreSQL
/// cannot be reached — never a silent skip.
pub async fn postgres_schema_via(via: Option<SocketAddr>) -> Option<(String, PgSchema)> {
    use sqlx::Connection;
    let base = postgres_base_url();
    let connect = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&base));
    let mut conn = match connect.await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return absent(&e.to_string()),
        Err(_) => return absent("connection timed out"),
    };
    let schema = format!(
        "meetbot_test_{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_subsec_nanos()
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    conn.close().await.ok();
    let mut url = url::Url::parse(&base).expect("postgres URL");
    if let Some(addr) = via {
        url.set_host(Some(&addr.ip().to_string())).expect("host");
        url.set_port(Some(addr.port())).expect("port");
    }
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    Some((url.to_string(), PgSchema { base, schema }))
}

/// A fresh schema on the test PostgreSQL, opened with `options` (through `via` when given).
pub async fn postgres_db_via(via: Option<SocketAddr>, options: StoreOptions) -> Option<TestDb> {
    let (url, schema) = postgres_schema_via(via).await?;
    let store = Store::open_with(&url, &options)
        .await
        .expect("open postgres");
    Some(TestDb {
        store,
        url,
        pg_schema: Some(schema),
        _dir: None,
    })
}

/// A fresh schema on the test PostgreSQL.
pub async fn postgres_db() -> Option<TestDb> {
    postgres_db_via(None, StoreOptions::default()).await
}

fn absent<T>(why: &str) -> Option<T> {
    if !NOTICE.swap(true, Ordering::Relaxed) {
        let _ = writeln!(
            std::io::stderr(),
            "skipping PostgreSQL tests: cannot reach {} ({why}); set MEETBOT_TEST_POSTGRES_URL",
            without_password(&postgres_base_url())
        );
    }
    None
}

/// The URL as printable text: a password in it is masked.
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".to_string(),
    }
}

/// Runs each listed behaviour (an `async fn(&TestDb)` in the including file) once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::db::sqlite_db().await;
                    super::$name(&db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::db::postgres_db().await else { return };
                    super::$name(&db).await;
                }
            )+
        }
    };
}
