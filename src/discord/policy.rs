//! The effective per-server policy, read: the configuration file's defaults with the server's own stored settings
//! ([`EffectivePolicy`], merged in the core) laid over them. Read from the database on every use, so a change takes
//! effect at once, on every instance, and survives restarts.

use crate::config::Config;
use crate::meeting::settings::{EffectivePolicy, Outage};
use crate::store::{Setting, Store};
use std::time::Duration;

/// How long reading a server's settings may take before the database counts as unavailable.
pub const SETTINGS_READ_BOUND: Duration = Duration::from_millis(1500);

/// What the configuration file says for `guild_id` (its `[discord.guilds.<id>]` table included).
pub fn from_config(config: &Config, guild_id: u64) -> EffectivePolicy {
    EffectivePolicy {
        guild: config.discord.policy.for_guild(guild_id).clone(),
        guest_inviter_roles: config.discord.guest_inviter_roles.clone(),
        default_duration: config.meetings.default_duration,
        default_timezone: config.meetings.default_timezone,
        announcement_channel: None,
        audit_channel: None,
        join_window: config.meetings.join_window,
        remind: config.meetings.remind,
        lobby_bypass_for_moderators: config.jitsi.lobby_bypass_for_moderators,
        cooldown: config.discord.cooldown,
        live_status: crate::meeting::live::LiveStatus::default(),
        ignored: Vec::new(),
        outage: None,
    }
}

/// The effective policy of `guild_id` now. When the database cannot be read it fails closed: the settings this
/// process last read for the server, else the file's values with nobody a moderator (member links only) — never the
/// file's defaults alone, which may grant what the server took away. `outage` says which, for the reply.
pub async fn effective(config: &Config, store: &Store, guild_id: u64) -> EffectivePolicy {
    let base = from_config(config, guild_id);
    // Bounded: a Join click must be answered within Discord's 3 seconds, and a pool waiting for a connection to a
    // database that is down would take 5.
    let read = match tokio::time::timeout(SETTINGS_READ_BOUND, store.settings(guild_id)).await {
        Ok(r) => r,
        Err(_) => Err(crate::store::StoreError::Unavailable(
            sqlx::Error::PoolTimedOut,
        )),
    };
    match read {
        Ok(stored) => merge_settings(base, &stored, config.meetings.max_duration),
        Err(e) => match store.last_settings(guild_id) {
            Some(last) => {
                tracing::warn!(error = %e, guild = guild_id, "cannot read the server's settings; using the last ones read");
                let mut policy = merge_settings(base, &last, config.meetings.max_duration);
                policy.outage = Some(Outage::LastRead);
                policy
            }
            None => {
                tracing::warn!(error = %e, guild = guild_id, "cannot read the server's settings and never read them; member links only");
                base.member_links_only()
            }
        },
    }
}

/// [`EffectivePolicy::merge`] over rows of the settings table, logging the ones that do not read.
pub fn merge_settings(
    base: EffectivePolicy,
    stored: &[Setting],
    max_duration: Duration,
) -> EffectivePolicy {
    let merged = base.merge(
        stored.iter().map(|s| (s.key.as_str(), &s.value)),
        max_duration,
    );
    for key in &merged.ignored {
        tracing::warn!(key = %key, "a stored server setting does not read; the file's default applies");
    }
    merged
}
