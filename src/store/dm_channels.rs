//! The DM channel Discord opened for each user. Opening one is a request of its own, so remembering it makes a
//! returning invitee cost one request (the message) instead of two, across restarts and processes. A DM channel
//! between the bot and a user never changes, so a remembered id stays right; should Discord ever refuse it, the
//! caller forgets it and opens a new one.

use super::{from_secs, id_from_db, id_to_db, to_secs, with_pool, Store, StoreError};
use chrono::{DateTime, Duration, Utc};

/// A remembered channel's `last_used_at` is rewritten at most this often, so that sending a DM does not cost a
/// write every time; pruning by "not used for N days" needs no finer grain.
const TOUCH_EVERY: Duration = Duration::hours(24);

impl Store {
    /// The DM channel remembered for `user`, if any; marks it used at `now` (at most once a day).
    pub async fn dm_channel(
        &self,
        user: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64, i64)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT channel_id, last_used_at FROM dm_channels WHERE user_id = $1"
        )
        .bind(id_to_db(user))
        .fetch_optional(pool)
        .await?);
        let Some((channel, last_used)) = row else {
            return Ok(None);
        };
        if from_secs(last_used)? + TOUCH_EVERY <= now {
            with_pool!(self, |pool| sqlx::query(
                "UPDATE dm_channels SET last_used_at = $3 \
                 WHERE user_id = $1 AND channel_id = $2 AND last_used_at < $3"
            )
            .bind(id_to_db(user))
            .bind(channel)
            .bind(to_secs(now))
            .execute(pool)
            .await?
            .rows_affected());
        }
        Ok(Some(id_from_db(channel)))
    }

    /// Remembers `channel` as `user`'s DM channel, used at `now` (replacing any other).
    pub async fn remember_dm_channel(
        &self,
        user: u64,
        channel: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query(
            "INSERT INTO dm_channels (user_id, channel_id, last_used_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET channel_id = excluded.channel_id, \
             last_used_at = excluded.last_used_at"
        )
        .bind(id_to_db(user))
        .bind(id_to_db(channel))
        .bind(to_secs(now))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Forgets `channel` as `user`'s DM channel (Discord refused it); a different one remembered since is kept.
    pub async fn forget_dm_channel(&self, user: u64, channel: u64) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query(
            "DELETE FROM dm_channels WHERE user_id = $1 AND channel_id = $2"
        )
        .bind(id_to_db(user))
        .bind(id_to_db(channel))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Forgets DM channels not used since `before`; returns how many. Keeps the table to the people the bot
    /// actually writes to.
    pub async fn prune_dm_channels(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let n = with_pool!(self, |pool| sqlx::query(
            "DELETE FROM dm_channels WHERE last_used_at < $1"
        )
        .bind(to_secs(before))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n)
    }
}
