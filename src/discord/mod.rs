//! The Discord adapter: what every command and handler shares ([`Data`], [`Context`], [`Error`]), and its rooms —
//! the slash commands (`commands/`), the Join buttons, the scheduler's Discord side (`executor`), the shared pieces
//! they are built from (guild facts, audit, links, replies, rendering, the DM fan-out, the announcement), our own
//! paced REST client (`http/`), and the bot's lifecycle (`bot`). Commands, buttons and the executor use the shared
//! rooms; the shared rooms never use them.

pub mod announcement;
pub mod audit;
pub mod bot;
pub mod buttons;
pub mod cache;
pub mod commands;
pub mod custom_ids;
pub mod delivery;
pub mod executor;
pub mod guild;
pub mod http;
pub mod identify;
pub mod inflight;
pub mod limits;
pub mod links;
pub mod listener;
pub mod live;
pub mod minters;
pub mod policy;
pub mod registration;
pub mod render;
pub mod reply;
pub mod stored;
pub mod visibility;

pub use bot::{register, run, start, start_with, BotError, BotHandle, StartOptions};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::jitsi::Minter;
use std::sync::Arc;

/// What every command and event handler gets: configuration, the token minter, the REST client, the clock.
pub struct Data {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Mints personal tokens with the operator's Jitsi. Minting for a server goes through [`Data::minters`],
    /// which picks the server's own Jitsi when it has one.
    pub minter: Arc<Minter>,
    /// The minter of each server: its own Jitsi, else the operator's.
    pub minters: Arc<minters::ServerMinters>,
    /// Fetches admin-typed URLs (a site's config.js, key checks, uploads) under the operator's `[fetch]` policy.
    pub fetcher: crate::fetch::SafeFetcher,
    /// Our paced Discord REST client.
    pub rest: Arc<http::RestClient>,
    /// The time, passed in.
    pub clock: SharedClock,
    /// Turns true when the bot is shutting down: deliveries stop starting new DMs.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Signs Join button ids.
    pub join_signer: custom_ids::JoinSigner,
    /// Handlers in progress, for graceful shutdown.
    pub inflight: Arc<inflight::InFlight>,
    /// The database.
    pub store: crate::store::Store,
    /// Wakes the scheduler when a command created due work.
    pub scheduler_wake: Arc<tokio::sync::Notify>,
    /// What `/readyz` reports: set as the gateway connects and disconnects.
    pub readiness: crate::web::Readiness,
    /// Per-user cooldowns of `/meet` and `/invite`, kept in the store: shared by every process, kept across restarts.
    pub cooldowns: Arc<dyn crate::meeting::cooldown::CooldownBook>,
}

/// The error type of commands.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// The poise context of commands.
pub type Context<'a> = poise::Context<'a, Data, Error>;

impl Data {
    /// Marks a command as in flight (shutdown waits for it).
    pub fn enter(&self) -> inflight::InFlightGuard {
        self.inflight.enter()
    }

    /// Takes a use of `action` (see [`CooldownBook::try_take`](crate::meeting::cooldown::CooldownBook::try_take));
    /// `Err` is the instant it frees up. Should the store not answer, the command goes ahead (logged): the
    /// bot's REST pace still bounds what it sends, and a database outage must not stop `/meet`.
    pub async fn take_cooldown(
        &self,
        guild_id: u64,
        user_id: u64,
        action: crate::meeting::cooldown::Action,
        now: chrono::DateTime<chrono::Utc>,
        length: chrono::Duration,
    ) -> Result<(), chrono::DateTime<chrono::Utc>> {
        match self
            .cooldowns
            .try_take(guild_id, user_id, action, now, length)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, action = action.as_str(), "cooldowns unavailable; letting the command through");
                Ok(())
            }
        }
    }

    /// Gives back the use taken at `taken_at` (the command was refused and sent nothing).
    pub async fn give_back_cooldown(
        &self,
        guild_id: u64,
        user_id: u64,
        action: crate::meeting::cooldown::Action,
        taken_at: chrono::DateTime<chrono::Utc>,
    ) {
        if let Err(e) = self
            .cooldowns
            .give_back(guild_id, user_id, action, taken_at)
            .await
        {
            tracing::warn!(error = %e, action = action.as_str(), "could not give a cooldown back");
        }
    }
}
