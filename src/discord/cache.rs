//! What serenity's gateway cache keeps: only what meetbot reads from it — each server's name, owner, roles and
//! channels (with their permission overwrites), for the policy and the visibility rule. One process may hold a
//! whole shard of 2,500 servers, so the rest of what the gateway brings is dropped rather than held for days.
//!
//! serenity's [`Settings`](serenity::cache::Settings) switch whole maps off (users, the channel index, messages).
//! The parts of a cached guild that no setting reaches (its members, emojis, stickers and threads) are removed in
//! place, right after serenity stored the guild, through serenity's own cache updates: each takes the guild's
//! entry for the moment of the change, so a channel or role update arriving meanwhile is never overwritten by an
//! older copy of the guild, as putting back a trimmed clone could.
//!
//! Left as serenity stores them: a guild's scheduled events and stage instances (a few per server; no update can
//! remove them in place), and presences and voice states (Discord sends none without their intents).

use poise::serenity_prelude as serenity;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use serenity::CacheUpdate;

/// serenity's cache settings for meetbot.
pub fn settings() -> serenity::cache::Settings {
    let mut s = serenity::cache::Settings::default();
    // No message is ever read back (with the Guilds intent alone none arrive; this keeps it so).
    s.max_messages = 0;
    // Users come with the interaction that names them; the cache's copy is never read.
    s.cache_users = false;
    // The channel → guild index serves `Cache::channel`; meetbot looks channels up inside their guild.
    s.cache_channels = false;
    // Guilds stay: their roles and channels answer the policy and the visibility rule without a request.
    s.cache_guilds = true;
    s
}

/// Keeps the cached guild to what meetbot reads after an event that filled it; called from the event handler,
/// which serenity runs once the event is in its cache.
pub(crate) fn trim(cache: &serenity::Cache, event: &serenity::FullEvent) {
    match event {
        serenity::FullEvent::GuildCreate { guild, .. } => trim_guild(cache, guild),
        // GUILD_UPDATE brings the emojis and stickers back.
        serenity::FullEvent::GuildUpdate { new_data, .. } => {
            drop_emojis_and_stickers(cache, new_data.id)
        }
        serenity::FullEvent::ThreadCreate { thread } => forget_thread(cache, thread),
        _ => {}
    }
}

/// Drops a freshly cached guild's members, emojis, stickers and threads.
pub(crate) fn trim_guild(cache: &serenity::Cache, guild: &serenity::Guild) {
    for member in guild.members.values() {
        // serenity counts the removal off `member_count` (never read here); at 0 it would underflow.
        if cache.guild(guild.id).is_none_or(|g| g.member_count == 0) {
            break;
        }
        apply::<serenity::GuildMemberRemoveEvent>(
            cache,
            json!({ "guild_id": guild.id, "user": member.user }),
        );
    }
    drop_emojis_and_stickers(cache, guild.id);
    for thread in &guild.threads {
        forget_thread(cache, thread);
    }
}

fn drop_emojis_and_stickers(cache: &serenity::Cache, guild_id: serenity::GuildId) {
    apply::<serenity::GuildEmojisUpdateEvent>(cache, json!({ "guild_id": guild_id, "emojis": [] }));
    apply::<serenity::GuildStickersUpdateEvent>(
        cache,
        json!({ "guild_id": guild_id, "stickers": [] }),
    );
}

fn forget_thread(cache: &serenity::Cache, thread: &serenity::GuildChannel) {
    let Some(parent) = thread.parent_id else {
        return;
    };
    apply::<serenity::ThreadDeleteEvent>(
        cache,
        json!({ "id": thread.id, "guild_id": thread.guild_id, "parent_id": parent, "type": thread.kind }),
    );
}

/// Runs one of serenity's cache updates. Its event types cannot be built outside serenity, only read from JSON as
/// the gateway's would be; one that does not read is skipped (the cache then keeps a little more, nothing else).
fn apply<E>(cache: &serenity::Cache, payload: Value)
where
    E: CacheUpdate + DeserializeOwned,
{
    match serde_json::from_value::<E>(payload) {
        Ok(mut event) => {
            cache.update(&mut event);
        }
        Err(e) => tracing::debug!(error = %e, "cannot build a cache update to trim the cache"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUILD: u64 = 100_000_000_000_000_001;
    const CHANNEL: u64 = 100_000_000_000_000_002;
    const THREAD: u64 = 100_000_000_000_000_003;
    const ROLE: u64 = 200_000_000_000_000_001;
    const BOT: u64 = 900_000_000_000_000_001;
    const ALICE: u64 = 300_000_000_000_000_002;

    fn user(id: u64, name: &str) -> Value {
        json!({ "id": id.to_string(), "username": name, "discriminator": "0", "global_name": null, "avatar": null })
    }

    fn member(id: u64, name: &str) -> Value {
        json!({
            "user": user(id, name), "nick": null, "avatar": null, "roles": [], "joined_at": "2026-12-01T10:00:00+00:00",
            "deaf": false, "mute": false, "flags": 0, "pending": false,
        })
    }

    fn channel(id: u64, overwrites: Value) -> Value {
        json!({
            "id": id.to_string(), "type": 0, "guild_id": GUILD.to_string(), "name": "general", "position": 0,
            "permission_overwrites": overwrites, "nsfw": false, "parent_id": null,
        })
    }

    fn role(id: u64, name: &str) -> Value {
        json!({
            "id": id.to_string(), "name": name, "color": 0,
            "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null }, "hoist": false, "position": 1, "permissions": "8",
            "managed": false, "mentionable": true, "flags": 0,
        })
    }

    /// A GUILD_CREATE with what Discord may send beside the roles and channels.
    fn guild_create() -> Value {
        json!({
            "id": GUILD.to_string(), "name": "Rustaceans", "owner_id": ALICE.to_string(), "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "features": [], "mfa_level": 0, "system_channel_flags": 0, "premium_tier": 0, "nsfw_level": 0,
            "preferred_locale": "en-US", "premium_progress_bar_enabled": false,
            "joined_at": "2026-12-01T10:00:00+00:00", "large": false, "unavailable": false, "member_count": 2,
            "roles": [role(GUILD, "@everyone"), role(ROLE, "Moderators")],
            "channels": [channel(CHANNEL, json!([]))],
            "members": [member(BOT, "meetbot"), member(ALICE, "alice")],
            "emojis": [{ "id": "400000000000000001", "name": "party", "roles": [], "require_colons": true,
                         "managed": false, "animated": false, "available": true }],
            "stickers": [{ "id": "400000000000000002", "name": "wave", "tags": "wave", "type": 2, "format_type": 1,
                           "available": true, "guild_id": GUILD.to_string(), "description": null }],
            "threads": [{ "id": THREAD.to_string(), "type": 11, "guild_id": GUILD.to_string(), "name": "a thread",
                          "parent_id": CHANNEL.to_string(), "owner_id": ALICE.to_string(),
                          "thread_metadata": { "archived": false, "auto_archive_duration": 60, "locked": false,
                                               "archive_timestamp": "2026-12-01T10:00:00+00:00" } }],
            "voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
        })
    }

    /// What serenity's shard runner does with a gateway event before any handler sees it.
    fn store<E: CacheUpdate + DeserializeOwned>(cache: &serenity::Cache, payload: Value) -> E {
        let mut event: E = serde_json::from_value(payload).expect("a gateway event serenity reads");
        cache.update(&mut event);
        event
    }

    #[test]
    fn a_guild_create_leaves_its_roles_and_channels_and_no_members_users_emojis_threads_or_messages(
    ) {
        let cache = serenity::Cache::new_with_settings(settings());
        let created: serenity::GuildCreateEvent = store(&cache, guild_create());
        trim(
            &cache,
            &serenity::FullEvent::GuildCreate {
                guild: created.guild,
                is_new: Some(true),
            },
        );
        // A message in the server's channel, as the gateway would send one with the message intents.
        store::<serenity::MessageCreateEvent>(
            &cache,
            json!({
                "id": "500000000000000001", "channel_id": CHANNEL.to_string(), "guild_id": GUILD.to_string(),
                "author": user(ALICE, "alice"), "content": "hello", "timestamp": "2026-12-01T10:00:00+00:00",
                "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
                "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
            }),
        );

        let g = cache.guild(GUILD).expect("the guild stays cached");
        assert_eq!(g.name, "Rustaceans");
        assert_eq!(g.owner_id.get(), ALICE);
        assert_eq!(g.roles.len(), 2, "roles are what the policy reads");
        assert!(g.channels.contains_key(&serenity::ChannelId::new(CHANNEL)));
        assert!(g.members.is_empty(), "{:?}", g.members.keys());
        assert!(g.emojis.is_empty() && g.stickers.is_empty());
        assert!(g.threads.is_empty());
        drop(g);
        assert_eq!(cache.user_count(), 0, "no users");
        assert!(cache
            .channel_messages(serenity::ChannelId::new(CHANNEL))
            .is_none_or(|m| m.is_empty()));
    }

    #[test]
    fn a_channel_update_landing_before_the_trim_is_kept() {
        let cache = serenity::Cache::new_with_settings(settings());
        let created: serenity::GuildCreateEvent = store(&cache, guild_create());
        // The channel becomes private between serenity storing the guild and the handler trimming it.
        store::<serenity::ChannelUpdateEvent>(
            &cache,
            channel(
                CHANNEL,
                json!([{ "id": GUILD.to_string(), "type": 0, "allow": "0", "deny": "1024" }]),
            ),
        );
        trim_guild(&cache, &created.guild);
        let g = cache.guild(GUILD).expect("cached");
        let c = &g.channels[&serenity::ChannelId::new(CHANNEL)];
        assert_eq!(
            c.permission_overwrites.len(),
            1,
            "the newer overwrite stays"
        );
        assert!(g.members.is_empty());
    }

    #[test]
    fn threads_created_later_and_emojis_a_guild_update_brings_back_are_dropped_too() {
        let cache = serenity::Cache::new_with_settings(settings());
        let created: serenity::GuildCreateEvent = store(&cache, guild_create());
        trim_guild(&cache, &created.guild);
        let mut thread = created.guild.threads[0].clone();
        thread.id = serenity::ChannelId::new(THREAD + 1);
        store::<serenity::ThreadCreateEvent>(&cache, serde_json::to_value(&thread).unwrap());
        trim(&cache, &serenity::FullEvent::ThreadCreate { thread });
        let mut update = guild_create();
        update["name"] = json!("Rustaceans 2");
        let updated: serenity::GuildUpdateEvent = store(&cache, update);
        trim(
            &cache,
            &serenity::FullEvent::GuildUpdate {
                old_data_if_available: None,
                new_data: updated.guild,
            },
        );
        let g = cache.guild(GUILD).expect("cached");
        assert_eq!(g.name, "Rustaceans 2");
        assert!(g.threads.is_empty());
        assert!(g.emojis.is_empty() && g.stickers.is_empty());
        assert_eq!(g.channels.len(), 1);
    }
}
