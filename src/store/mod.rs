//! Persistence behind one interface: meetings, occurrences, due jobs, deliveries, per-server
//! settings, the audit trail and the live state Jitsi reports, on SQLite (default) or PostgreSQL; and what
//! several processes on one PostgreSQL share: one clock, one REST budget, cooldowns, DM channels, and turns that
//! one process holds at a time. Knows nothing of Discord.
//!
//! Why one native pool per backend with unix seconds rather than sqlx's `Any` driver: `Any` has no
//! chrono types, and sqlx's chrono feature is not enabled here. Storing instants as unix seconds
//! (BIGINT/INTEGER) lets one SQL text (`$N` placeholders work on both) serve both backends, and
//! the few statements that must differ (claiming due jobs) are written per backend.

mod audit;
pub mod budget;
pub mod clock;
mod cooldowns;
mod deliveries;
mod dm_channels;
mod guests;
pub mod housekeeping;
mod jobs;
mod live;
mod meetings;
mod model;
mod settings;
mod tenants;
pub mod turns;

pub use budget::{bucket_for_token, BudgetOptions, GlobalBudget, Grant, LocalBudget};
pub use clock::DbClock;
pub use deliveries::Attempt;
pub use guests::GuestSlots;
pub use housekeeping::{run_housekeeping, Housekeeping, Pruned};
pub use model::*;
pub use tenants::{
    KeyInstall, ServedPublicKey, SigningKeyRecord, TenantJitsi, TenantJitsiSummary, TenantKind,
};
pub use turns::Turn;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached (refused, pool timed out, busy); worth trying again.
    #[error("the database is unavailable, try again")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("applying database migrations failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The SQLite file's directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database URL is not one this store understands.
    #[error("unsupported database URL (expected sqlite:PATH, a file path or postgres://…): {0}")]
    BadUrl(String),
    /// A stored value could not be read back (hand-edited or corrupted row).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The meeting, occurrence or job named does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

impl StoreError {
    /// True when the caller should tell the user to try again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) if is_unavailable(&inner) => {
                StoreError::Unavailable(inner)
            }
            other => StoreError::Migrate(other),
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // PostgreSQL: connection exceptions, too many connections, shutting down or starting up.
            Some("08000" | "08001" | "08003" | "08004" | "08006" | "53300" | "57P01" | "57P02" | "57P03")
            // SQLite: SQLITE_BUSY / SQLITE_LOCKED after the busy timeout ran out.
            | Some("5" | "6" | "517" | "261")
        ),
        _ => false,
    }
}

/// Pool settings; `StoreOptions::default()` suits the bot.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections the pool opens (forced to 1 for in-memory SQLite).
    pub max_connections: u32,
    /// How long to wait for a connection before reporting the database unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before giving up.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database: one pool of the backend chosen by the URL. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// Queues this process's live-state writes on SQLite, where concurrent writers otherwise
    /// meet in SQLite's busy handler, which sleeps in steps of up to 100 ms: a burst of Jitsi
    /// events would wait far longer than the writes take.
    pub(crate) sqlite_writes: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Live-state events waiting for the next SQLite write turn (written together, see
    /// [`Store::apply_live`]).
    pub(crate) live_queue: std::sync::Arc<std::sync::Mutex<Vec<PendingLive>>>,
    /// The settings each server had when last read, for when the database cannot be read (fail closed: the file's
    /// defaults may be far more generous than the server's own settings).
    pub(crate) settings_seen:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, Vec<Setting>>>>,
}

/// A live-state event waiting for the next SQLite write turn (see `Store::apply_live`), and
/// where its outcome goes.
#[derive(Debug)]
pub(crate) struct PendingLive {
    pub(crate) update: LiveUpdate,
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) done: tokio::sync::oneshot::Sender<Result<LiveApplied, StoreError>>,
}

/// Runs the same body against whichever pool the store holds; the body is compiled once per
/// backend, so the SQL in it must be valid on both.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Opens a transaction that is going to write.
///
/// SQLite's default `BEGIN` (DEFERRED) takes the write lock only at the first write. When another connection has
/// committed since this transaction's first read, that upgrade fails at once with SQLITE_BUSY_SNAPSHOT, without
/// waiting out the busy timeout — under load a read-then-write (a setting's old value, a cap counted before the
/// insert) then reported "database unavailable" for no outage at all. `BEGIN IMMEDIATE` takes the write lock up
/// front, so the transaction waits its turn like any single write. PostgreSQL needs nothing of the kind.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send {
        self.begin()
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    /// `postgres://…` selects PostgreSQL; `sqlite:PATH`, `sqlite::memory:` or a bare path SQLite.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    /// Like [`Store::open`] with explicit pool settings.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url).map_err(|_| bad_url(url))?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                // The pool stays full: a connection opened in the middle of a burst (a meeting's
                // first joins after a quiet hour, when sqlx would otherwise have closed the idle
                // ones) costs a TCP and authentication handshake and a backend start, tens of
                // milliseconds, in the path of whichever answer asked for it.
                .min_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Backend::Postgres(pool)
        } else {
            let (connect, in_memory) = sqlite_options(url)?;
            let connect = connect
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(options.busy_timeout);
            // WAL cannot apply to a memory database, and each pooled in-memory connection would
            // be its own empty database.
            let (connect, max) = if in_memory {
                (connect, 1)
            } else {
                (
                    connect.journal_mode(SqliteJournalMode::Wal),
                    options.max_connections,
                )
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Backend::Sqlite(pool)
        };
        Ok(Store {
            backend,
            sqlite_writes: Default::default(),
            live_queue: Default::default(),
            settings_seen: Default::default(),
        })
    }

    /// The default SQLite URL for a data directory.
    pub fn sqlite_url_in(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("meetbot.db").display())
    }

    /// Which backend this store uses: "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}

fn bad_url(url: &str) -> StoreError {
    // Only the scheme: a URL may carry a password.
    let scheme = url.split(':').next().unwrap_or_default();
    StoreError::BadUrl(format!("{scheme}:…"))
}

/// Parses a SQLite URL or bare path, creating the file's directory.
fn sqlite_options(url: &str) -> Result<(SqliteConnectOptions, bool), StoreError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        let opts = SqliteConnectOptions::from_str(url).map_err(|_| bad_url(url))?;
        return Ok((opts, true));
    }
    let (path, opts) = if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        (
            PathBuf::from(path),
            SqliteConnectOptions::from_str(url).map_err(|_| bad_url(url))?,
        )
    } else if url.contains("://") {
        return Err(bad_url(url));
    } else {
        (
            PathBuf::from(url),
            SqliteConnectOptions::new().filename(url),
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok((opts, false))
}

pub(crate) fn to_secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub(crate) fn from_secs(s: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(s, 0)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {s} out of range")))
}

pub(crate) fn opt_from_secs(s: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(from_secs).transpose()
}

/// Discord snowflakes fit in i64 (they are 63-bit), so the cast round-trips.
pub(crate) fn id_to_db(id: u64) -> i64 {
    id as i64
}

pub(crate) fn id_from_db(id: i64) -> u64 {
    id as u64
}
