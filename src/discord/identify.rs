//! Identifying in turn across processes. Discord lets a bot identify one shard per five seconds in each rate-limit
//! bucket (`shard_id % max_concurrency`), counted over all its processes. serenity spaces the identifies of one
//! process five seconds apart but knows nothing of the others, so processes started together would identify at
//! once. Before its shards connect, a process therefore takes the turn for the buckets its shards fall in (see
//! [`Store::take_turn`]: one PostgreSQL advisory lock per bucket), lets serenity boot them, and gives the turn back
//! five seconds after the last of them is READY — or after a bound, should Discord never answer. Processes whose
//! shards share no bucket (`max_concurrency` above the shard count) identify side by side.

use crate::meeting::shards::identify_buckets;
use crate::store::{Store, Turn};
use poise::serenity_prelude as serenity;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Discord's window: one IDENTIFY per bucket in any five seconds.
pub(super) const IDENTIFY_SPACING: Duration = Duration::from_secs(5);
/// How often a waiting process asks for the turn again, and looks at its shards' stages while holding it.
const POLL: Duration = Duration::from_millis(250);
/// Beyond serenity's five seconds a shard, how long a turn is held at most while shards do not get READY
/// (Discord down, a refused token): then the others may try.
const SLACK: Duration = Duration::from_secs(30);

/// Waits for this process's turn to identify `shards`; `None` (and a warning) when the database cannot say, so
/// the bot still starts, as it would alone.
pub(super) async fn take(
    store: &Store,
    bot: &str,
    shards: &RangeInclusive<u32>,
    max_concurrency: u64,
) -> Option<Turn> {
    let mc = u32::try_from(max_concurrency).unwrap_or(u32::MAX);
    let buckets: Vec<i32> = identify_buckets(shards.clone(), mc)
        .into_iter()
        .map(|b| i32::try_from(b).unwrap_or(i32::MAX))
        .collect();
    let started = Instant::now();
    match store
        .take_turn(&format!("identify:{bot}"), &buckets, POLL)
        .await
    {
        Ok(turn) => {
            tracing::info!(waited = ?started.elapsed(), ?buckets, "this process's turn to identify its shards");
            Some(turn)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot take the turn to identify from the database; identifying without it");
            None
        }
    }
}

/// Holds `turn` until every one of the `shards` serenity runs is connected (READY), plus Discord's five seconds,
/// or at most the bound, or until the bot shuts down; then gives it back.
pub(super) async fn hold_until_identified(
    turn: Turn,
    manager: Arc<serenity::ShardManager>,
    shards: u32,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tokio::select! {
        _ = wait_until_identified(&manager, shards) => {}
        // Nothing more will identify: no reason to keep the others waiting.
        _ = shutdown.wait_for(|s| *s) => {}
    }
    turn.release().await;
}

async fn wait_until_identified(manager: &serenity::ShardManager, shards: u32) {
    let bound = IDENTIFY_SPACING * shards + SLACK;
    let deadline = Instant::now() + bound;
    loop {
        let connected = manager
            .runners
            .lock()
            .await
            .values()
            .filter(|r| r.stage == serenity::ConnectionStage::Connected)
            .count();
        if connected >= shards as usize {
            break;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                connected,
                shards,
                ?bound,
                "shards not all connected in time; giving the identify turn back"
            );
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    // The last IDENTIFY went out before its READY: five seconds from now the bucket is free again.
    tokio::time::sleep(IDENTIFY_SPACING).await;
}
