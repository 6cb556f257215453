//! Keeps the shared tables bounded: expired cooldowns and DM channels nobody was written to for a while go.
//! Any number of processes may run it; deleting what is already gone is harmless.

use super::{Store, StoreError};
use crate::clock::SharedClock;
use std::time::Duration;
use tokio::sync::watch;

/// How often and how much [`run_housekeeping`] prunes.
#[derive(Debug, Clone)]
pub struct Housekeeping {
    /// Time between two passes.
    pub every: Duration,
    /// A DM channel not used for this long is forgotten (the next DM to that user opens it again).
    pub dm_channel_ttl: Duration,
}

impl Default for Housekeeping {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(60 * 60),
            dm_channel_ttl: Duration::from_secs(30 * 24 * 60 * 60),
        }
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Expired cooldowns.
    pub cooldowns: u64,
    /// DM channels unused for longer than the TTL.
    pub dm_channels: u64,
}

impl Store {
    /// One housekeeping pass at `clock`'s time.
    pub async fn prune_expired(
        &self,
        clock: &SharedClock,
        settings: &Housekeeping,
    ) -> Result<Pruned, StoreError> {
        let now = clock.now();
        let ttl =
            chrono::Duration::from_std(settings.dm_channel_ttl).unwrap_or(chrono::Duration::MAX);
        let before = now
            .checked_sub_signed(ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        Ok(Pruned {
            cooldowns: self.prune_cooldowns(now).await?,
            dm_channels: self.prune_dm_channels(before).await?,
        })
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
