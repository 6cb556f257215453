//! Turns across processes: numbered slots under a name that one process at a time may hold, kept in PostgreSQL's
//! session advisory locks. The bot's gateway shards take one to identify in turn (see `discord/identify.rs`).
//!
//! Why advisory locks rather than a lease row: the lock lives on one connection, so a process that dies (or loses
//! its database connection) gives its turn back the moment PostgreSQL notices, with no expiry to wait for and no
//! clock to compare; and nothing is written. The connection is taken out of the pool for the turn's whole length:
//! a pooled connection would carry its locks on to whoever borrows it next.
//!
//! The lock keys are scoped to the database schema (two deployments in two schemas of one database do not wait
//! for each other) and to the name, which the caller makes per bot token.
//!
//! On SQLite there is one process: every turn is granted at once.

use super::{Backend, Store, StoreError};
use sqlx::{Connection, PgConnection};
use std::time::Duration;

/// A turn being held; dropping it gives it back (PostgreSQL releases the locks when the connection closes).
#[derive(Debug)]
pub struct Turn {
    conn: Option<PgConnection>,
}

// Both keys of the two-int advisory lock: the name (scoped to the schema) and the slot.
const TRY_ALL: &str =
    "SELECT bool_and(pg_try_advisory_lock(hashtext(current_schema() || ':' || $1), s)) \
     FROM unnest($2::int4[]) AS s";

impl Store {
    /// Waits until this process holds every slot in `slots` under `name` at once, looking again every `poll`.
    /// All or nothing: a process that got some slots but not all lets them go before it waits, so two processes
    /// wanting overlapping slots cannot hold each other up.
    pub async fn take_turn(
        &self,
        name: &str,
        slots: &[i32],
        poll: Duration,
    ) -> Result<Turn, StoreError> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(Turn { conn: None });
        };
        let mut conn = pool.acquire().await?.detach();
        loop {
            let (all,): (Option<bool>,) = sqlx::query_as(TRY_ALL)
                .bind(name)
                .bind(slots)
                .fetch_one(&mut conn)
                .await?;
            if all.unwrap_or(true) {
                return Ok(Turn { conn: Some(conn) });
            }
            sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut conn)
                .await?;
            tokio::time::sleep(poll).await;
        }
    }
}

impl Turn {
    /// Gives the turn back now.
    pub async fn release(mut self) {
        if let Some(c) = self.conn.take() {
            // Closing ends the session, which drops every lock it held.
            let _ = c.close().await;
        }
    }
}
