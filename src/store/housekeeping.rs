//! Keeps the tables bounded: expired cooldowns and DM channels nobody was written to for a while go, and so do
//! audit entries, delivery records and finished jobs older than their retention. Any number of processes may run
//! it; deleting what is already gone is harmless.

use super::{with_pool, Store, StoreError};
use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::watch;

/// How often and how much [`run_housekeeping`] prunes.
#[derive(Debug, Clone)]
pub struct Housekeeping {
    /// Time between two passes.
    pub every: Duration,
    /// A DM channel not used for this long is forgotten (the next DM to that user opens it again).
    pub dm_channel_ttl: Duration,
    /// Audit entries older than this go; `None` keeps them.
    pub audit_retention: Option<Duration>,
    /// Delivery records last changed longer ago than this go; `None` keeps them.
    pub delivery_retention: Option<Duration>,
    /// Jobs finished longer ago than this go; `None` keeps them.
    pub job_retention: Option<Duration>,
}

const DAY: u64 = 24 * 60 * 60;

impl Default for Housekeeping {
    /// The shipped defaults (`config/meetbot.toml`, `[storage]`).
    fn default() -> Self {
        Self {
            every: Duration::from_secs(60 * 60),
            dm_channel_ttl: Duration::from_secs(30 * DAY),
            audit_retention: Some(Duration::from_secs(365 * DAY)),
            delivery_retention: Some(Duration::from_secs(30 * DAY)),
            job_retention: Some(Duration::from_secs(30 * DAY)),
        }
    }
}

/// The instant `age` before `now` (the beginning of time when that is out of range).
fn before(now: DateTime<Utc>, age: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Expired cooldowns.
    pub cooldowns: u64,
    /// DM channels unused for longer than the TTL.
    pub dm_channels: u64,
    /// Audit entries past their retention.
    pub audit: u64,
    /// Delivery records past their retention.
    pub deliveries: u64,
    /// Finished jobs past their retention.
    pub jobs: u64,
}

impl Store {
    /// One housekeeping pass at `clock`'s time.
    pub async fn prune_expired(
        &self,
        clock: &SharedClock,
        settings: &Housekeeping,
    ) -> Result<Pruned, StoreError> {
        let now = clock.now();
        let mut pruned = Pruned {
            cooldowns: self.prune_cooldowns(now).await?,
            dm_channels: self
                .prune_dm_channels(before(now, settings.dm_channel_ttl))
                .await?,
            ..Pruned::default()
        };
        if let Some(age) = settings.audit_retention {
            pruned.audit = self
                .prune_older("DELETE FROM audit_log WHERE at < $1", before(now, age))
                .await?;
        }
        if let Some(age) = settings.delivery_retention {
            pruned.deliveries = self
                .prune_older(
                    "DELETE FROM deliveries WHERE updated_at < $1",
                    before(now, age),
                )
                .await?;
        }
        if let Some(age) = settings.job_retention {
            pruned.jobs = self
                .prune_older(
                    "DELETE FROM jobs WHERE done_at IS NOT NULL AND done_at < $1",
                    before(now, age),
                )
                .await?;
        }
        Ok(pruned)
    }

    /// Runs one `DELETE … WHERE <time column> < $1` with `before`; returns how many rows went.
    async fn prune_older(&self, sql: &str, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| sqlx::query(sql)
            .bind(super::to_secs(before))
            .execute(pool)
            .await?
            .rows_affected()))
    }
}

/// Prunes every `settings.every` until `shutdown` turns true (or its sender goes away). Failures are logged and
/// tried again at the next pass.
pub async fn run_housekeeping(
    store: Store,
    clock: SharedClock,
    settings: Housekeeping,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(settings.every.max(Duration::from_secs(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = shutdown.changed() => if changed.is_err() { return } else { continue },
        }
        match store.prune_expired(&clock, &settings).await {
            Ok(p) if p != Pruned::default() => tracing::debug!(?p, "pruned expired shared state"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "housekeeping failed; trying again at the next pass")
            }
        }
    }
}
