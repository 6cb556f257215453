//! The simulator's world: guilds, users, messages, commands, interactions, and their JSON shapes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Discord's ADMINISTRATOR permission bit.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// Every permission bit Discord currently defines; what an administrator or owner holds.
pub const ALL_PERMISSIONS: u64 = (1 << 51) - 1;
/// The permissions `@everyone` gets unless a test says otherwise: view, send, read history, use commands.
pub const DEFAULT_EVERYONE: u64 = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31);
/// CREATE_EVENTS, which creating a scheduled event needs (MANAGE_EVENTS also suffices).
pub const CREATE_EVENTS: u64 = 1 << 44;
/// MANAGE_EVENTS.
pub const MANAGE_EVENTS: u64 = 1 << 33;

/// A Discord user known to the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    /// Snowflake id.
    pub id: u64,
    /// Unique username.
    pub username: String,
    /// Display name, if set.
    pub global_name: Option<String>,
    /// Avatar hash, if set.
    pub avatar: Option<String>,
    /// Whether the account is a bot.
    pub bot: bool,
}

impl UserSpec {
    /// A human user with just an id and a username.
    pub fn new(id: u64, username: &str) -> Self {
        Self {
            id,
            username: username.to_string(),
            global_name: None,
            avatar: None,
            bot: false,
        }
    }

    /// Sets the display name.
    pub fn global_name(mut self, name: &str) -> Self {
        self.global_name = Some(name.to_string());
        self
    }

    /// Sets the avatar hash: 32 hex digits, `a_`-prefixed when animated (serenity refuses
    /// anything else, so a bad fixture fails here rather than deep inside the client).
    pub fn avatar(mut self, hash: &str) -> Self {
        let hex = hash.strip_prefix("a_").unwrap_or(hash);
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "avatar hash must be 32 hex digits (optionally a_-prefixed), got {hash:?}"
        );
        self.avatar = Some(hash.to_string());
        self
    }

    /// Marks the user as a bot account.
    pub fn bot(mut self) -> Self {
        self.bot = true;
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "bot": self.bot,
            "public_flags": 0,
        })
    }
}

/// A guild role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    /// Snowflake id (the guild id for `@everyone`).
    pub id: u64,
    /// Role name.
    pub name: String,
    /// Permission bits.
    pub permissions: u64,
    /// Position in the role list.
    pub position: u16,
    /// Whether anyone may ping it (otherwise only members with Mention Everyone can).
    pub mentionable: bool,
}

impl RoleSpec {
    /// A role with the given permission bits.
    pub fn new(id: u64, name: &str, permissions: u64, position: u16) -> Self {
        Self {
            id,
            name: name.to_string(),
            permissions,
            position,
            mentionable: false,
        }
    }

    /// Lets anyone ping the role.
    pub fn mentionable(mut self) -> Self {
        self.mentionable = true;
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "managed": false,
            "mentionable": self.mentionable,
            "permissions": self.permissions.to_string(),
            "position": self.position,
            "icon": null,
            "unicode_emoji": null,
            "flags": 0,
        })
    }
}

/// A guild's member: a user plus their roles.
#[derive(Debug, Clone)]
pub struct MemberRec {
    pub(crate) user: UserSpec,
    pub(crate) roles: Vec<u64>,
    pub(crate) joined_at: String,
    pub(crate) in_voice: bool,
}

/// A text channel in a guild.
#[derive(Debug, Clone)]
pub struct ChannelRec {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) guild_id: Option<u64>,
    /// For DM channels, the other party.
    pub(crate) recipient: Option<u64>,
    /// Permission overwrites, in Discord's order of application.
    pub(crate) overwrites: Vec<Overwrite>,
}

/// A channel's permission overwrite for a role (the guild id for `@everyone`) or a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overwrite {
    /// The role or user id.
    pub id: u64,
    /// Whether `id` is a member (type 1) rather than a role (type 0).
    pub member: bool,
    /// Bits granted.
    pub allow: u64,
    /// Bits taken away.
    pub deny: u64,
}

impl Overwrite {
    /// An overwrite for a role (`@everyone`: the guild id).
    pub fn role(id: u64, allow: u64, deny: u64) -> Self {
        Self {
            id,
            member: false,
            allow,
            deny,
        }
    }

    /// An overwrite for one member.
    pub fn member(id: u64, allow: u64, deny: u64) -> Self {
        Self {
            id,
            member: true,
            allow,
            deny,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "type": u8::from(self.member),
            "allow": self.allow.to_string(),
            "deny": self.deny.to_string(),
        })
    }
}

/// A scheduled event as stored.
#[derive(Debug, Clone)]
pub struct EventRec {
    pub(crate) json: Value,
    pub(crate) interested: BTreeMap<u64, ()>,
}

/// A guild as stored.
#[derive(Debug, Clone)]
pub struct GuildRec {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) owner_id: u64,
    pub(crate) roles: BTreeMap<u64, RoleSpec>,
    pub(crate) channels: Vec<u64>,
    pub(crate) members: BTreeMap<u64, MemberRec>,
    pub(crate) bot_permissions: u64,
    pub(crate) events: BTreeMap<u64, EventRec>,
    pub(crate) commands: Vec<Value>,
}

/// One record of an interaction the simulator dispatched.
#[derive(Debug, Clone)]
pub struct InteractionRec {
    pub(crate) id: u64,
    /// Interaction type: 2 command, 3 component, 4 autocomplete.
    pub(crate) kind: u8,
    pub(crate) created: Instant,
    pub(crate) responded: bool,
    pub(crate) channel_id: u64,
    pub(crate) guild_id: Option<u64>,
    /// The message the interaction's `@original` refers to, once there is one.
    pub(crate) original: Option<u64>,
    /// For component interactions, the message holding the component.
    pub(crate) source_message: Option<u64>,
    pub(crate) followups: HashSet<u64>,
    pub(crate) responses: Vec<crate::InteractionResponse>,
}

/// What the gateway task is told to send.
#[derive(Debug)]
pub enum Outgoing {
    /// A JSON payload as a text frame.
    Json(Value),
    /// A close frame with a code and reason, after which the connection ends.
    Close(u16, String),
}

/// A connected gateway client.
#[derive(Debug)]
pub struct Session {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::UnboundedSender<Outgoing>,
    pub(crate) seq: u64,
    pub(crate) identified: bool,
    pub(crate) identified_at: Option<std::time::Instant>,
    pub(crate) shard: Option<(u64, u64)>,
    pub(crate) intents: u64,
}

/// GUILD_SCHEDULED_EVENTS, the intent behind every `GUILD_SCHEDULED_EVENT_*` dispatch.
pub const INTENT_GUILD_SCHEDULED_EVENTS: u64 = 1 << 16;

/// GUILD_MEMBERS (privileged), the intent behind member add/update/remove dispatches.
pub const INTENT_GUILD_MEMBERS: u64 = 1 << 1;
/// GUILDS, the intent behind role dispatches.
pub const INTENT_GUILDS: u64 = 1;

/// The intent a dispatch needs, for the events whose intent the simulator enforces.
fn required_intent(name: &str) -> Option<u64> {
    if name.starts_with("GUILD_SCHEDULED_EVENT_") {
        Some(INTENT_GUILD_SCHEDULED_EVENTS)
    } else if name.starts_with("GUILD_MEMBER_") {
        Some(INTENT_GUILD_MEMBERS)
    } else if name.starts_with("GUILD_ROLE_") {
        Some(INTENT_GUILDS)
    } else {
        None
    }
}

impl Session {
    /// Whether this session asked for the intent that `name` needs.
    pub(crate) fn wants(&self, name: &str) -> bool {
        required_intent(name).is_none_or(|bit| self.intents & bit != 0)
    }

    /// Whether this session's shard receives events of `guild_id`.
    pub(crate) fn serves(&self, guild_id: Option<u64>) -> bool {
        match (self.shard, guild_id) {
            (Some((i, n)), Some(g)) if n > 0 => (g >> 22) % n == i,
            _ => true,
        }
    }

    /// Sends a dispatch with the next sequence number.
    pub(crate) fn dispatch(&mut self, name: &str, d: Value) {
        self.seq += 1;
        let _ = self.tx.send(Outgoing::Json(
            json!({"op": 0, "t": name, "s": self.seq, "d": d}),
        ));
    }
}

/// What the bot sent in IDENTIFY.
#[derive(Clone, PartialEq)]
pub struct Identify {
    /// The intents bit set.
    pub intents: u64,
    /// The token as sent (never shown by `Debug`).
    pub token: String,
    /// Whether the token matched the simulator's bot token.
    pub token_accepted: bool,
    /// `[shard_id, shard_count]`, if sent.
    pub shard: Option<(u64, u64)>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl std::fmt::Debug for Identify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identify")
            .field("intents", &self.intents)
            .field("token", &"<redacted>")
            .field("token_accepted", &self.token_accepted)
            .field("shard", &self.shard)
            .finish()
    }
}

/// Everything mutable, behind one lock.
// No Debug: interaction tokens are its keys.
#[derive(Default)]
pub struct World {
    pub(crate) last_id: u64,
    pub(crate) users: HashMap<u64, UserSpec>,
    pub(crate) closed_dms: HashSet<u64>,
    pub(crate) guilds: BTreeMap<u64, GuildRec>,
    pub(crate) channels: HashMap<u64, ChannelRec>,
    pub(crate) dm_channels: HashMap<u64, u64>,
    pub(crate) messages: HashMap<u64, Vec<Value>>,
    pub(crate) message_channel: HashMap<u64, u64>,
    pub(crate) global_commands: Vec<Value>,
    pub(crate) interactions: HashMap<String, InteractionRec>,
    pub(crate) sessions: Vec<Session>,
    pub(crate) next_session: u64,
    pub(crate) identifies: Vec<Identify>,
    pub(crate) ready_sent: u64,
    pub(crate) disconnects: u64,
    pub(crate) close_frames_received: u64,
    /// Nonces of messages created with `enforce_nonce`, per (channel, author): the message and when it was made.
    pub(crate) nonces: HashMap<(u64, u64, String), (u64, std::time::Instant)>,
    /// Uploaded files served from the simulated CDN: id → (file name, content type, bytes).
    pub(crate) attachments: HashMap<u64, (String, String, Vec<u8>)>,
    /// `http://127.0.0.1:PORT`: where the CDN URLs point.
    pub(crate) base_url: String,
}

/// How long Discord remembers an enforced nonce ("the past few minutes").
pub const NONCE_WINDOW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Discord's epoch (2015-01-01) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The current time as Discord writes it (RFC 3339, milliseconds, UTC).
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl World {
    /// A fresh snowflake, strictly greater than every earlier one.
    pub fn next_id(&mut self) -> u64 {
        let ms = chrono::Utc::now().timestamp_millis() as u64;
        let candidate = ms.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_id = candidate.max(self.last_id + 1);
        self.last_id
    }

    /// Sends a dispatch to every identified session that serves `guild_id` and asked for
    /// the event's intent.
    pub fn dispatch(&mut self, guild_id: Option<u64>, name: &str, d: Value) {
        for s in self
            .sessions
            .iter_mut()
            .filter(|s| s.identified && s.serves(guild_id) && s.wants(name))
        {
            s.dispatch(name, d.clone());
        }
    }

    /// A user by id, from the user table or any guild's members.
    pub fn user(&self, id: u64) -> Option<&UserSpec> {
        self.users.get(&id)
    }

    /// The permissions a member holds in the guild, computed the way Discord does.
    pub fn member_permissions(&self, guild: &GuildRec, user_id: u64) -> u64 {
        if guild.owner_id == user_id {
            return ALL_PERMISSIONS;
        }
        let everyone = guild.roles.get(&guild.id).map_or(0, |r| r.permissions);
        let bits = guild.members.get(&user_id).map_or(everyone, |m| {
            m.roles
                .iter()
                .filter_map(|r| guild.roles.get(r))
                .fold(everyone, |acc, r| acc | r.permissions)
        });
        if bits & ADMINISTRATOR != 0 {
            ALL_PERMISSIONS
        } else {
            bits
        }
    }

    /// The permissions a member holds in a channel: the guild's, then the channel's overwrites for `@everyone`, for
    /// the member's roles (denials first, then grants) and for the member, as Discord computes them.
    pub fn channel_permissions(&self, guild: &GuildRec, channel: u64, user_id: u64) -> u64 {
        self.with_overwrites(
            guild,
            channel,
            user_id,
            self.member_permissions(guild, user_id),
        )
    }

    /// The bot's own permissions in a channel (`app_permissions`).
    pub fn bot_channel_permissions(&self, guild: &GuildRec, channel: u64, bot_id: u64) -> u64 {
        let base = if guild.bot_permissions & ADMINISTRATOR != 0 {
            ALL_PERMISSIONS
        } else {
            guild.bot_permissions
        };
        self.with_overwrites(guild, channel, bot_id, base)
    }

    fn with_overwrites(&self, guild: &GuildRec, channel: u64, user_id: u64, base: u64) -> u64 {
        if base & ADMINISTRATOR != 0 {
            return ALL_PERMISSIONS;
        }
        let Some(c) = self.channels.get(&channel) else {
            return base;
        };
        let roles: &[u64] = guild
            .members
            .get(&user_id)
            .map_or(&[], |m| m.roles.as_slice());
        let mut bits = base;
        if let Some(o) = c.overwrites.iter().find(|o| !o.member && o.id == guild.id) {
            bits = (bits & !o.deny) | o.allow;
        }
        let (mut allow, mut deny) = (0, 0);
        for o in c
            .overwrites
            .iter()
            .filter(|o| !o.member && roles.contains(&o.id))
        {
            allow |= o.allow;
            deny |= o.deny;
        }
        bits = (bits & !deny) | allow;
        if let Some(o) = c.overwrites.iter().find(|o| o.member && o.id == user_id) {
            bits = (bits & !o.deny) | o.allow;
        }
        bits
    }

    /// A member object; with `permissions` when it describes an interaction's invoker.
    pub fn member_json(&self, guild: &GuildRec, m: &MemberRec, with_permissions: bool) -> Value {
        let mut v = json!({
            "user": m.user.to_json(),
            "nick": null,
            "avatar": null,
            "banner": null,
            "roles": m.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "joined_at": m.joined_at,
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": null,
        });
        if with_permissions {
            v["permissions"] = json!(self.member_permissions(guild, m.user.id).to_string());
        }
        v
    }

    /// A guild text channel or DM channel object.
    pub fn channel_json(&self, c: &ChannelRec) -> Value {
        match c.guild_id {
            Some(g) => json!({
                "id": c.id.to_string(),
                "type": 0,
                "guild_id": g.to_string(),
                "name": c.name,
                "position": 0,
                "permission_overwrites": c.overwrites.iter().map(Overwrite::to_json).collect::<Vec<_>>(),
                "topic": null,
                "nsfw": false,
                "last_message_id": null,
                "rate_limit_per_user": 0,
                "parent_id": null,
                "flags": 0,
            }),
            None => {
                let recipient = c
                    .recipient
                    .and_then(|u| self.user(u))
                    .map(UserSpec::to_json);
                json!({
                    "id": c.id.to_string(),
                    "type": 1,
                    "last_message_id": null,
                    "recipients": recipient.into_iter().collect::<Vec<_>>(),
                    "flags": 0,
                })
            }
        }
    }

    /// The guild object as REST's `GET /guilds/{id}` returns it.
    pub fn guild_json(&self, g: &GuildRec) -> Value {
        json!({
            "id": g.id.to_string(),
            "name": g.name,
            "icon": null, "icon_hash": null, "splash": null, "discovery_splash": null,
            "owner_id": g.owner_id.to_string(),
            "afk_channel_id": null, "afk_timeout": 300,
            "widget_enabled": false, "widget_channel_id": null,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": g.roles.values().map(RoleSpec::to_json).collect::<Vec<_>>(),
            "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
            "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
            "max_presences": null, "max_members": 500000, "vanity_url_code": null,
            "description": null, "banner": null, "premium_tier": 0, "premium_subscription_count": 0,
            "preferred_locale": "en-US", "public_updates_channel_id": null,
            "max_video_channel_users": 25, "max_stage_video_channel_users": 50,
            "nsfw_level": 0, "stickers": [], "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null,
        })
    }

    /// The GUILD_CREATE payload; `all_members` lists every member, otherwise only the bot
    /// and members in voice, as Discord does without the presences intent.
    pub fn guild_create_json(&self, g: &GuildRec, bot_id: u64, all_members: bool) -> Value {
        let mut v = self.guild_json(g);
        let members: Vec<Value> = g
            .members
            .values()
            .filter(|m| all_members || m.user.id == bot_id || m.in_voice)
            .map(|m| self.member_json(g, m, false))
            .collect();
        let channels: Vec<Value> = g
            .channels
            .iter()
            .filter_map(|c| self.channels.get(c))
            .map(|c| self.channel_json(c))
            .collect();
        let bot_joined = g
            .members
            .get(&bot_id)
            .map(|m| m.joined_at.clone())
            .unwrap_or_else(timestamp);
        let extra = json!({
            "joined_at": bot_joined,
            "large": g.members.len() > 250,
            "unavailable": false,
            "member_count": g.members.len(),
            "voice_states": [],
            "members": members,
            "channels": channels,
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": g.events.values().map(|e| e.json.clone()).collect::<Vec<_>>(),
            "incidents_data": null,
        });
        if let (Value::Object(dst), Value::Object(src)) = (&mut v, extra) {
            dst.extend(src);
        }
        v
    }

    /// Stores a message in its channel and indexes it by id.
    pub fn store_message(&mut self, channel_id: u64, msg: Value) {
        let id = msg["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        self.message_channel.insert(id, channel_id);
        self.messages.entry(channel_id).or_default().push(msg);
    }

    /// A stored message by id.
    pub fn message(&self, id: u64) -> Option<&Value> {
        let ch = self.message_channel.get(&id)?;
        self.messages
            .get(ch)?
            .iter()
            .find(|m| m["id"] == json!(id.to_string()))
    }

    /// A stored message by id, mutably.
    pub fn message_mut(&mut self, id: u64) -> Option<&mut Value> {
        let ch = self.message_channel.get(&id)?;
        self.messages
            .get_mut(ch)?
            .iter_mut()
            .find(|m| m["id"] == json!(id.to_string()))
    }

    /// Removes a stored message.
    pub fn delete_message(&mut self, id: u64) -> bool {
        let Some(ch) = self.message_channel.remove(&id) else {
            return false;
        };
        if let Some(list) = self.messages.get_mut(&ch) {
            list.retain(|m| m["id"] != json!(id.to_string()));
        }
        true
    }
}

/// Builds a Discord-shaped Message from a create body.
pub fn new_message(
    id: u64,
    channel_id: u64,
    guild_id: Option<u64>,
    author: Value,
    body: &Value,
    webhook_app: Option<u64>,
) -> Value {
    let mut m = json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "content": "",
        "timestamp": timestamp(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0,
        "flags": 0,
        "components": [],
    });
    if let Some(g) = guild_id {
        m["guild_id"] = json!(g.to_string());
    }
    if let Some(app) = webhook_app {
        m["webhook_id"] = json!(app.to_string());
        m["application_id"] = json!(app.to_string());
        m["type"] = json!(20);
    }
    apply_edit(&mut m, body);
    m["edited_timestamp"] = Value::Null;
    m
}

/// Applies the editable fields of a message body (content, embeds, components, flags).
pub fn apply_edit(m: &mut Value, body: &Value) {
    for key in ["content", "embeds", "components", "tts"] {
        if let Some(v) = body.get(key) {
            m[key] = if v.is_null() {
                match key {
                    "content" => json!(""),
                    "tts" => json!(false),
                    _ => json!([]),
                }
            } else {
                v.clone()
            };
        }
    }
    if let Some(f) = body.get("flags").and_then(Value::as_u64) {
        m["flags"] = json!(f);
    }
    m["edited_timestamp"] = json!(timestamp());
}
