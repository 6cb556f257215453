//! One clock for every process: the database's.
//!
//! Leases and due times are compared across processes, so they must be read off one clock. Asking the database
//! for the time in every statement would tie every comparison to it, but it would also take the clock out of the
//! tests' hands and leave the rest of the scheduler (lateness, retries, what is stale) on the process's own time.
//! Instead [`DbClock`] is a [`Clock`]: the process's clock plus the offset to the database's, measured with a
//! round-trip correction and refreshed periodically. Everything that takes a `SharedClock` (the scheduler, every
//! lease it writes and compares, cooldowns) then runs on database time, and tests still pass in a manual clock.

use super::{with_pool, Backend, Store, StoreError};
use crate::clock::{Clock, SharedClock};
use chrono::{DateTime, TimeZone, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Round trips per measurement; the one with the shortest trip is kept, since its midpoint is the tightest bound
/// on when the database read its clock.
const SAMPLES: usize = 5;

/// Offsets beyond this are worth an operator's attention: the machine's clock is not synchronised.
const WARN_OFFSET: chrono::Duration = chrono::Duration::seconds(1);

/// How often [`DbClock::start`] re-measures by default: process clocks drift by parts per million, so a minute
/// keeps the error far below the store's one-second resolution, while an NTP step is corrected within a minute.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

impl Store {
    /// The database's current time. PostgreSQL's `clock_timestamp()` (the instant the statement reads it, not the
    /// transaction's start); on SQLite, which serves one process on one machine, that machine's clock.
    pub async fn db_now(&self) -> Result<DateTime<Utc>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Utc::now()),
            Backend::Postgres(_) => {
                let (us,): (i64,) = with_pool!(self, |pool| sqlx::query_as(
                    "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"
                )
                .fetch_one(pool)
                .await?);
                from_micros(us)
            }
        }
    }
}

pub(crate) fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_micros(us)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("database time {us} µs out of range")))
}

/// The database's clock, read through this process's: `process.now()` plus the last measured offset.
#[derive(Debug)]
pub struct DbClock {
    process: SharedClock,
    store: Store,
    /// Database time minus process time, in microseconds.
    offset_us: AtomicI64,
}

impl DbClock {
    /// Measures the offset between `process` and the database's clock once. On SQLite the offset stays zero:
    /// one process, so its own clock is the only one.
    pub async fn measure(store: Store, process: SharedClock) -> Result<Arc<DbClock>, StoreError> {
        let clock = Arc::new(DbClock {
            process,
            store,
            offset_us: AtomicI64::new(0),
        });
        clock.refresh().await?;
        Ok(clock)
    }

    /// Like [`DbClock::measure`], then re-measures every `every` in the background until the clock is dropped.
    /// A failed refresh keeps the last offset (and is logged): the offset changes slowly, the database may be back
    /// at the next one.
    pub async fn start(
        store: Store,
        process: SharedClock,
        every: Duration,
    ) -> Result<Arc<DbClock>, StoreError> {
        let clock = Self::measure(store, process).await?;
        if matches!(clock.store.backend, Backend::Postgres(_)) {
            let weak = Arc::downgrade(&clock);
            tokio::spawn(refresh_loop(weak, every));
        }
        Ok(clock)
    }

    /// Measures the offset again; returns the round trip of the sample used.
    pub async fn refresh(&self) -> Result<Duration, StoreError> {
        if matches!(self.store.backend, Backend::Sqlite(_)) {
            return Ok(Duration::ZERO);
        }
        let mut best: Option<(chrono::Duration, i64)> = None;
        for _ in 0..SAMPLES {
            let sent = self.process.now();
            let db = self.store.db_now().await?;
            let received = self.process.now();
            let rtt = (received - sent).max(chrono::Duration::zero());
            // The database read its clock somewhere in the round trip; its midpoint is the best guess.
            let midpoint = sent + rtt / 2;
            let offset = (db - midpoint).num_microseconds().unwrap_or(i64::MAX);
            if best.is_none_or(|(r, _)| rtt < r) {
                best = Some((rtt, offset));
            }
        }
        let (rtt, offset) = best.expect("at least one sample");
        let previous = self.offset_us.swap(offset, Ordering::Relaxed);
        let off = chrono::Duration::microseconds(offset);
        if off.abs() > WARN_OFFSET && chrono::Duration::microseconds(previous).abs() <= WARN_OFFSET
        {
            tracing::warn!(offset_ms = off.num_milliseconds(), "this machine's clock differs from the database's; leases and due times follow the database's");
        }
        tracing::debug!(
            offset_us = offset,
            rtt_us = rtt.num_microseconds(),
            "measured the database's clock"
        );
        Ok(rtt.to_std().unwrap_or_default())
    }

    /// Database time minus process time, as last measured.
    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::microseconds(self.offset_us.load(Ordering::Relaxed))
    }
}

impl Clock for DbClock {
    fn now(&self) -> DateTime<Utc> {
        let now = self.process.now();
        now.checked_add_signed(self.offset()).unwrap_or(now)
    }
}

async fn refresh_loop(clock: Weak<DbClock>, every: Duration) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate, and `measure` just ran
    loop {
        ticks.tick().await;
        let Some(clock) = clock.upgrade() else { return };
        if let Err(e) = clock.refresh().await {
            tracing::warn!(error = %e, "cannot read the database's clock; keeping the last offset");
        }
    }
}
