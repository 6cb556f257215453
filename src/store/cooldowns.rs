//! Cooldowns kept in the database: shared by every process and kept across restarts, with the semantics of the
//! in-memory [`Cooldowns`](crate::meeting::cooldown::Cooldowns) (see [`CooldownBook`]).
//!
//! Instants are milliseconds here rather than the schema's usual seconds: a use is given back by the instant it
//! was taken, and two commands a fraction of a second apart must not be mistaken for one.

use super::{id_to_db, with_pool, Store, StoreError};
use crate::meeting::cooldown::{Action, CooldownBook, CooldownUnavailable};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};

// One statement decides: a free key (no row, or its cooldown over) takes this use, a cooling key keeps its row.
// Either way the row comes back, and the use id says whose it now is; SET expressions read the row as it was, so
// the three columns switch together or not at all. Racing takers queue on the key's row (or the primary key's index
// entry) and each judges the row the previous one left.
const TAKE_SQL: &str =
    "INSERT INTO cooldowns (guild_id, user_id, action, taken_at_ms, until_ms, use_id) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (guild_id, user_id, action) DO UPDATE SET \
       taken_at_ms = CASE WHEN cooldowns.until_ms <= excluded.taken_at_ms \
         THEN excluded.taken_at_ms ELSE cooldowns.taken_at_ms END, \
       until_ms = CASE WHEN cooldowns.until_ms <= excluded.taken_at_ms \
         THEN excluded.until_ms ELSE cooldowns.until_ms END, \
       use_id = CASE WHEN cooldowns.until_ms <= excluded.taken_at_ms \
         THEN excluded.use_id ELSE cooldowns.use_id END \
     RETURNING until_ms, use_id";

fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("cooldown instant {ms} ms out of range")))
}

impl Store {
    /// Deletes cooldowns over by `now`; returns how many. They decide nothing any more: a missing row is free.
    pub async fn prune_cooldowns(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let n = with_pool!(self, |pool| sqlx::query(
            "DELETE FROM cooldowns WHERE until_ms <= $1"
        )
        .bind(to_ms(now))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n)
    }

    /// How many cooldown rows are kept, expired ones included until pruned.
    pub async fn cooldown_count(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = with_pool!(self, |pool| sqlx::query_as(
            "SELECT COUNT(*) FROM cooldowns"
        )
        .fetch_one(pool)
        .await?);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn unavailable(e: StoreError) -> CooldownUnavailable {
    CooldownUnavailable(e.to_string())
}

#[async_trait]
impl CooldownBook for Store {
    async fn try_take(
        &self,
        guild: u64,
        user: u64,
        action: Action,
        now: DateTime<Utc>,
        length: Duration,
    ) -> Result<Result<(), DateTime<Utc>>, CooldownUnavailable> {
        if length <= Duration::zero() {
            return Ok(Ok(()));
        }
        let until = now
            .checked_add_signed(length)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let use_id = rand::random::<i64>();
        let taken: Result<(i64, i64), StoreError> = async {
            Ok(with_pool!(self, |pool| sqlx::query_as(TAKE_SQL)
                .bind(id_to_db(guild))
                .bind(id_to_db(user))
                .bind(action.as_str())
                .bind(to_ms(now))
                .bind(to_ms(until))
                .bind(use_id)
                .fetch_one(pool)
                .await?))
        }
        .await;
        let (row_until, row_use) = taken.map_err(unavailable)?;
        if row_use == use_id {
            Ok(Ok(()))
        } else {
            Ok(Err(from_ms(row_until).map_err(unavailable)?))
        }
    }

    async fn give_back(
        &self,
        guild: u64,
        user: u64,
        action: Action,
        taken_at: DateTime<Utc>,
    ) -> Result<(), CooldownUnavailable> {
        let deleted: Result<u64, StoreError> = async {
            Ok(with_pool!(self, |pool| sqlx::query(
                "DELETE FROM cooldowns WHERE guild_id = $1 AND user_id = $2 AND action = $3 \
                 AND taken_at_ms = $4"
            )
            .bind(id_to_db(guild))
            .bind(id_to_db(user))
            .bind(action.as_str())
            .bind(to_ms(taken_at))
            .execute(pool)
            .await?
            .rows_affected()))
        }
        .await;
        deleted.map(|_| ()).map_err(unavailable)
    }
}
