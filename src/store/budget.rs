//! One REST budget per bot token, shared by every process: Discord limits a bot token to 50 requests/s however
//! many processes send them, and answers more with 429s that count towards a Cloudflare ban.
//!
//! The budget is a schedule rather than a counter. One row per token holds the next free slot on the database's
//! clock; each request books the slot after the last one booked (`next = max(next, now, paused_until) + 1/pace`)
//! in one atomic upsert, and its process sends when that slot comes. So:
//! - all processes together never get more than `pace` slots in any one-second window (not merely in windows
//!   aligned to whole seconds, as a per-second counter would allow: 2 × pace around a window's edge);
//! - a process that stops holds nothing: its share is simply booked by the others from the next request on;
//! - a global 429 writes `paused_until`, and every booking after it lands after the pause, in every process;
//! - a request waits only for its own slot; the booking's round trip (one upsert on an unlogged table: ≈0.1 ms on
//!   a local PostgreSQL, a LAN's round trip elsewhere) is hidden inside that wait whenever requests queue, and is
//!   the whole added latency when they do not. At the default 40/s that is 40 small updates a second for the bot.
//!
//! While the database cannot be reached a process falls back to a pace of its own (`fallback_per_second`, meant to
//! be the pace divided by the number of processes), so an outage slows the bot down instead of stopping it or
//! letting every process send at the full pace.
//!
//! On SQLite there is one process, and [`LocalBudget`] is the whole budget.

use super::clock::from_micros;
use super::{Backend, Store};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Permission to send one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// When the slot starts on this process's monotonic clock; [`GlobalBudget::acquire`] returns no earlier.
    pub at: Instant,
    /// The slot in the shared schedule, on the database's clock; `None` when the process's own pace granted it
    /// (SQLite, or the database unreachable).
    pub shared_slot: Option<DateTime<Utc>>,
}

/// The pace every REST request waits for; the pacer calls it before each request.
#[async_trait]
pub trait GlobalBudget: Send + Sync + fmt::Debug {
    /// Waits until this process may send one request. Dropping the wait wastes at most the one slot it booked.
    async fn acquire(&self) -> Grant;

    /// Discord answered a global 429: nobody, in any process, sends before `retry_after` has passed.
    async fn report_global_429(&self, retry_after: Duration);
}

/// Tuning for a budget; [`BudgetOptions::new`] suits the bot.
#[derive(Debug, Clone)]
pub struct BudgetOptions {
    /// Requests per second for all processes together.
    pub per_second: u32,
    /// This process's own pace while the database cannot be reached.
    pub fallback_per_second: u32,
    /// Longest wait for the database before a request falls back to the process's own pace.
    pub db_timeout: Duration,
    /// After the database failed, how long requests use the fallback before it is asked again.
    pub outage_retry: Duration,
}

impl BudgetOptions {
    /// A budget of `per_second` requests/s, falling back to a quarter of it per process during an outage.
    pub fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        Self {
            per_second,
            fallback_per_second: (per_second / 4).max(1),
            db_timeout: Duration::from_millis(500),
            outage_retry: Duration::from_secs(5),
        }
    }
}

/// The budget's key for a bot token: a hash, so the database never holds the token.
pub fn bucket_for_token(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"meetbot rest budget\0");
    h.update(token.as_bytes());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// The REST budget named `bucket` (see [`bucket_for_token`]): shared through the database on PostgreSQL, this
    /// process's own on SQLite.
    pub fn global_budget(&self, bucket: &str, options: BudgetOptions) -> Arc<dyn GlobalBudget> {
        match &self.backend {
            Backend::Sqlite(_) => Arc::new(LocalBudget::new(options.per_second)),
            Backend::Postgres(pool) => Arc::new(PgBudget::new(pool.clone(), bucket, options)),
        }
    }
}

fn interval_of(per_second: u32) -> Duration {
    Duration::from_secs(1) / per_second.max(1)
}

/// A budget for one process: slots spaced `1/pace` apart on its monotonic clock.
#[derive(Debug)]
pub struct LocalBudget {
    interval: Duration,
    state: Mutex<LocalState>,
}

#[derive(Debug, Default)]
struct LocalState {
    next_slot: Option<Instant>,
    paused_until: Option<Instant>,
}

impl LocalBudget {
    /// At most `per_second` requests a second (0 counts as 1).
    pub fn new(per_second: u32) -> Self {
        Self {
            interval: interval_of(per_second),
            state: Mutex::new(LocalState::default()),
        }
    }

    /// Books the next slot without waiting for it.
    fn book(&self) -> Instant {
        let mut s = self.state.lock().expect("budget lock");
        let now = Instant::now();
        let slot = [s.next_slot, s.paused_until]
            .into_iter()
            .flatten()
            .fold(now, Instant::max);
        s.next_slot = Some(slot + self.interval);
        slot
    }

    fn pause(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut s = self.state.lock().expect("budget lock");
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
    }
}

#[async_trait]
impl GlobalBudget for LocalBudget {
    async fn acquire(&self) -> Grant {
        let at = self.book();
        tokio::time::sleep_until(at).await;
        Grant {
            at,
            shared_slot: None,
        }
    }

    async fn report_global_429(&self, retry_after: Duration) {
        self.pause(retry_after);
    }
}

// The database's time in microseconds, read when the statement runs.
const NOW_US: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT";

/// The shared budget on PostgreSQL.
#[derive(Debug)]
pub struct PgBudget {
    pool: PgPool,
    bucket: String,
    interval_us: i64,
    options: BudgetOptions,
    fallback: LocalBudget,
    /// One booking in flight per process: bookings queue here rather than on the row's lock, holding one
    /// connection instead of the pool.
    booking: tokio::sync::Mutex<()>,
    /// While set and in the future, requests use the fallback without asking the database.
    db_down_until: Mutex<Option<Instant>>,
    degraded: AtomicBool,
}

impl PgBudget {
    fn new(pool: PgPool, bucket: &str, options: BudgetOptions) -> Self {
        let interval_us =
            i64::try_from(interval_of(options.per_second).as_micros()).unwrap_or(i64::MAX);
        Self {
            pool,
            bucket: bucket.to_owned(),
            interval_us,
            fallback: LocalBudget::new(options.fallback_per_second),
            options,
            booking: tokio::sync::Mutex::new(()),
            db_down_until: Mutex::new(None),
            degraded: AtomicBool::new(false),
        }
    }

    fn db_down(&self) -> bool {
        self.db_down_until
            .lock()
            .expect("budget lock")
            .is_some_and(|u| u > Instant::now())
    }

    fn mark_down(&self, why: &str) {
        *self.db_down_until.lock().expect("budget lock") =
            Some(Instant::now() + self.options.outage_retry);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason = why,
                fallback_per_second = self.options.fallback_per_second,
                "cannot reach the shared REST budget; pacing this process on its own"
            );
        }
    }

    fn mark_up(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("the shared REST budget is reachable again");
        }
    }

    /// Books the next shared slot: its start on this process's clock and on the database's.
    async fn book_shared(&self) -> Option<Grant> {
        if self.db_down() {
            return None;
        }
        let _turn = self.booking.lock().await;
        if self.db_down() {
            return None;
        }
        // The first booking creates the row; every later one moves `next_slot_us` on by one interval from
        // wherever the schedule, the clock and any pause put it. `booked_at_us` carries the statement's reading of
        // the clock out to RETURNING.
        let sql = format!(
            "INSERT INTO rest_budget AS b (bucket, next_slot_us, paused_until_us, booked_at_us) \
             SELECT $1, c.now_us + $2, 0, c.now_us FROM (SELECT {NOW_US} AS now_us) c \
             ON CONFLICT (bucket) DO UPDATE SET \
               next_slot_us = GREATEST(b.next_slot_us, excluded.booked_at_us, b.paused_until_us) + $2, \
               booked_at_us = excluded.booked_at_us \
             RETURNING next_slot_us - $2, booked_at_us"
        );
        let query = sqlx::query_as::<_, (i64, i64)>(&sql)
            .bind(&self.bucket)
            .bind(self.interval_us)
            .fetch_one(&self.pool);
        match tokio::time::timeout(self.options.db_timeout, query).await {
            Ok(Ok((slot_us, booked_us))) => {
                self.mark_up();
                // Measured from the answer's arrival, the wait ends a little after the slot (by up to half the
                // round trip), never before it.
                let wait = Duration::from_micros(u64::try_from(slot_us - booked_us).unwrap_or(0));
                Some(Grant {
                    at: Instant::now() + wait,
                    shared_slot: from_micros(slot_us).ok(),
                })
            }
            Ok(Err(e)) => {
                self.mark_down(&e.to_string());
                None
            }
            Err(_) => {
                self.mark_down("the database did not answer in time");
                None
            }
        }
    }
}

#[async_trait]
impl GlobalBudget for PgBudget {
    async fn acquire(&self) -> Grant {
        let grant = match self.book_shared().await {
            Some(g) => g,
            None => Grant {
                at: self.fallback.book(),
                shared_slot: None,
            },
        };
        tokio::time::sleep_until(grant.at).await;
        grant
    }

    async fn report_global_429(&self, retry_after: Duration) {
        // This process stops at once whatever the database says; the others learn it at their next booking.
        self.fallback.pause(retry_after);
        let pause_us = i64::try_from(retry_after.as_micros()).unwrap_or(i64::MAX);
        let sql = format!(
            "INSERT INTO rest_budget AS b (bucket, next_slot_us, paused_until_us, booked_at_us) \
             SELECT $1, c.now_us + $2, c.now_us + $2, c.now_us FROM (SELECT {NOW_US} AS now_us) c \
             ON CONFLICT (bucket) DO UPDATE SET \
               paused_until_us = GREATEST(b.paused_until_us, excluded.paused_until_us)"
        );
        let query = sqlx::query(&sql)
            .bind(&self.bucket)
            .bind(pause_us)
            .execute(&self.pool);
        match tokio::time::timeout(self.options.db_timeout, query).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.mark_down(&e.to_string()),
            Err(_) => self.mark_down("the database did not answer in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn local_budget_spaces_requests_at_the_pace() {
        let b = LocalBudget::new(40);
        let start = Instant::now();
        let mut last = None;
        for _ in 0..81 {
            let g = b.acquire().await;
            if let Some(prev) = last {
                assert_eq!(g.at - prev, Duration::from_millis(25));
            }
            last = Some(g.at);
        }
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn local_budget_holds_every_request_during_a_global_pause() {
        let b = LocalBudget::new(40);
        b.acquire().await;
        let reported = Instant::now();
        b.report_global_429(Duration::from_secs(2)).await;
        let g = b.acquire().await;
        assert!(
            g.at >= reported + Duration::from_secs(2),
            "{:?}",
            g.at - reported
        );
        // A shorter pause reported later does not cut the longer one short.
        b.report_global_429(Duration::from_millis(1)).await;
        b.report_global_429(Duration::from_secs(1)).await;
        let after = Instant::now();
        assert!(b.acquire().await.at >= after + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_local_budget_grants_at_once() {
        let b = LocalBudget::new(40);
        b.acquire().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = Instant::now();
        assert_eq!(
            b.acquire().await.at,
            now,
            "no slots hoarded while idle, none owed either"
        );
    }

    #[test]
    fn the_bucket_is_a_hash_that_never_contains_the_token() {
        let token = "MTA1.secret-token-value";
        let bucket = bucket_for_token(token);
        assert_eq!(bucket.len(), 32);
        assert!(!bucket.contains("secret"));
        assert_eq!(bucket, bucket_for_token(token));
        assert_ne!(bucket, bucket_for_token("another token"));
    }
}
