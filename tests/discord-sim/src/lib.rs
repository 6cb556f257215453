//! A stateful fake Discord on 127.0.0.1 that the real serenity/poise client talks to end to end.
//!
//! It serves Discord's REST API under `/api/v10` and a gateway WebSocket, records every request,
//! and lets a test play the users: invoke slash commands, click buttons, mark event interest.
//! Faults (5xx, 429), a global rate window and latency can be switched on at any time.
//!
//! A scenario test looks like this (the bot side is whatever poise framework the test builds):
//!
//! ```no_run
//! # async fn scenario() -> Result<(), discord_sim::SimError> {
//! use std::time::Duration;
//! use discord_sim::{RoleSpec, SimOptions, Simulator, UserSpec};
//!
//! let sim = Simulator::start(SimOptions::default()).await;
//! let guild = 1_000;
//! sim.add_guild(guild, "Test guild", 10);
//! sim.add_role(guild, RoleSpec::new(20, "Moderator", 1 << 3, 1));
//! sim.add_text_channel(guild, 30, "general");
//! sim.add_member(guild, UserSpec::new(10, "owner"), &[]);
//! sim.add_member(guild, UserSpec::new(11, "alice").global_name("Alice"), &[20]);
//! sim.add_user(UserSpec::new(12, "bob"));
//! sim.close_dms(12);
//!
//! // Start the bot with the recipe from docs/discord-notes.md:
//! //   let http = HttpBuilder::new(sim.bot_token()).proxy(sim.base_url()).ratelimiter_disabled(true).build();
//! //   ClientBuilder::new_with_http(http, intents).framework(framework).await
//! // then wait until it registered its commands:
//! sim.wait_for_request(|r| r.method == "PUT" && r.path.ends_with("/commands"), Duration::from_secs(5)).await?;
//!
//! let i = sim.invoke_command(guild, 30, 11, "ping", serde_json::json!([])).await?;
//! sim.wait_for_request(|r| r.path.contains("/callback"), Duration::from_secs(5)).await?;
//! let responses = sim.interaction_responses(&i.token);
//! assert_eq!(responses[0].body["type"], 5);
//! assert!(sim.unhandled_routes().is_empty());
//! assert!(sim.violations().is_empty());
//! # Ok(()) }
//! ```
//!
//! Paths given to [`Simulator::fail_next`], [`Simulator::rate_limit_next`] and
//! [`Simulator::requests_matching`] are globs over the path after `/api/v10`
//! (`*` inside one segment, `**` across segments), e.g. `/channels/*/messages`.
//! Set `DISCORD_OPENAPI_SPEC` to Discord's `openapi.json` to also validate every JSON body
//! against the spec.

mod gateway;
mod limits;
mod rest;
mod state;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::Notify;

pub use limits::glob_match;
pub use state::{
    Identify, RoleSpec, UserSpec, ADMINISTRATOR, ALL_PERMISSIONS, CREATE_EVENTS, DEFAULT_EVERYONE,
    INTENT_GUILD_SCHEDULED_EVENTS, MANAGE_EVENTS,
};
pub use validate::SPEC_ENV;

use limits::{FaultKind, Faults, GlobalWindow};
use state::{ChannelRec, GuildRec, InteractionRec, MemberRec, World};

/// Errors a test-side action can hit.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The guild was never added.
    #[error("unknown guild {0}")]
    UnknownGuild(u64),
    /// The channel was never added.
    #[error("unknown channel {0}")]
    UnknownChannel(u64),
    /// The user was never added.
    #[error("unknown user {0}")]
    UnknownUser(u64),
    /// The message does not exist.
    #[error("unknown message {0}")]
    UnknownMessage(u64),
    /// The scheduled event does not exist.
    #[error("unknown scheduled event {0}")]
    UnknownEvent(u64),
    /// The bot has not registered a command with that name (globally or in the guild).
    #[error("no registered command named {0:?}")]
    UnknownCommand(String),
    /// No identified gateway session would receive the dispatch.
    #[error("no gateway session is connected and identified")]
    NotConnected,
    /// A wait ran out of time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// How the simulator is set up; every field has a sensible default.
#[derive(Clone)]
pub struct SimOptions {
    /// The token the bot must present (with or without the `Bot ` prefix).
    pub bot_token: String,
    /// The bot's user id.
    pub bot_user_id: u64,
    /// The bot's username.
    pub bot_username: String,
    /// The application id (commands and webhooks live under it).
    pub application_id: u64,
    /// HELLO's heartbeat interval.
    pub heartbeat_interval: Duration,
    /// When false (Discord without GUILD_PRESENCES), GUILD_CREATE lists only the bot and
    /// members in voice; when true, every member.
    pub guild_create_all_members: bool,
    /// How long an interaction accepts its first response (Discord: 3 s).
    pub interaction_deadline: Duration,
    /// How long an interaction token serves follow-ups and edits (Discord: 15 min).
    pub token_lifetime: Duration,
    /// Discord's OpenAPI description to validate bodies against; defaults to the file named
    /// by `DISCORD_OPENAPI_SPEC`.
    pub openapi_spec: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            bot_token: "sim-bot-token".into(),
            bot_user_id: 900_000_000_000_000_001,
            bot_username: "meetbot".into(),
            application_id: 900_000_000_000_000_001,
            heartbeat_interval: Duration::from_millis(41_250),
            guild_create_all_members: false,
            interaction_deadline: Duration::from_secs(3),
            token_lifetime: Duration::from_secs(15 * 60),
            openapi_spec: std::env::var_os(SPEC_ENV).map(PathBuf::from),
        }
    }
}

impl fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimOptions")
            .field("bot_token", &"<redacted>")
            .field("bot_user_id", &self.bot_user_id)
            .field("application_id", &self.application_id)
            .field("guild_create_all_members", &self.guild_create_all_members)
            .finish_non_exhaustive()
    }
}

/// One REST request as the simulator received and answered it.
#[derive(Clone)]
pub struct RecordedRequest {
    /// Order of arrival, from 0.
    pub seq: u64,
    /// HTTP method, upper case.
    pub method: String,
    /// Path after `/api/v10` (the full path for requests outside the API).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The JSON body, if there was one.
    pub body: Option<Value>,
    /// Request headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// When the request arrived.
    pub received_at: Instant,
    /// The status the simulator answered.
    pub status: u16,
}

impl RecordedRequest {
    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Replaces the interaction/webhook token segment of a path so it can be shown.
fn redact_path(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    let token_at = match segs.get(1) {
        Some(&"interactions") | Some(&"webhooks") => Some(3),
        _ => None,
    };
    segs.iter()
        .enumerate()
        .map(|(i, s)| if Some(i) == token_at { "<token>" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("seq", &self.seq)
            .field("method", &self.method)
            .field("path", &redact_path(&self.path))
            .field("query", &self.query)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What kind of answer the bot gave to an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `POST /interactions/{id}/{token}/callback`.
    Callback,
    /// `PATCH /webhooks/{app}/{token}/messages/@original`.
    EditOriginal,
    /// `DELETE /webhooks/{app}/{token}/messages/@original`.
    DeleteOriginal,
    /// `POST /webhooks/{app}/{token}`.
    FollowUp,
    /// `PATCH /webhooks/{app}/{token}/messages/{id}`.
    EditFollowUp,
    /// `DELETE /webhooks/{app}/{token}/messages/{id}`.
    DeleteFollowUp,
}

/// One accepted answer to an interaction, with the body the bot sent.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionResponse {
    /// Which endpoint it went to.
    pub kind: ResponseKind,
    /// The JSON body (`null` for deletions).
    pub body: Value,
}

/// A dispatched interaction, as a test refers to it afterwards.
#[derive(Clone, PartialEq, Eq)]
pub struct Interaction {
    /// The interaction id.
    pub id: u64,
    /// The interaction token (also the webhook token for follow-ups).
    pub token: String,
    /// Interaction type: 2 command, 3 component, 4 autocomplete.
    pub kind: u8,
}

impl fmt::Debug for Interaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interaction")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("kind", &self.kind)
            .finish()
    }
}

/// Where an interaction comes from.
struct Origin {
    guild: Option<u64>,
    channel: u64,
    user: u64,
}

/// Network-side state: recording, faults and limits.
#[derive(Default)]
struct Net {
    next_seq: u64,
    requests: Vec<RecordedRequest>,
    faults: Faults,
    window: Option<GlobalWindow>,
    latency: Duration,
    count_429: u64,
    violations: Vec<String>,
    unhandled: Vec<String>,
}

/// Shared between the simulator handle and its server tasks.
pub(crate) struct Inner {
    opts: SimOptions,
    addr: SocketAddr,
    world: Mutex<World>,
    net: Mutex<Net>,
    changed: Notify,
    spec: Option<Arc<validate::Spec>>,
}

impl Inner {
    fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    fn bot_user(&self) -> UserSpec {
        UserSpec::new(self.opts.bot_user_id, &self.opts.bot_username).bot()
    }

    fn bot_user_json(&self) -> Value {
        self.bot_user().to_json()
    }
}

/// A running fake Discord; dropping it stops the server.
pub struct Simulator {
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
        let mut w = self.inner.world.lock();
        for s in &w.sessions {
            let _ =
                s.tx.send(state::Outgoing::Close(1001, "simulator stopped".into()));
        }
        w.sessions.clear();
    }
}

impl Simulator {
    /// Binds 127.0.0.1 on a free port and starts serving REST and the gateway.
    pub async fn start(opts: SimOptions) -> Simulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let spec = opts.openapi_spec.as_deref().map(validate::load);
        if spec.is_none() {
            validate::notice_no_spec();
        }
        let inner = Arc::new(Inner {
            opts,
            addr,
            world: Mutex::new(World::default()),
            net: Mutex::new(Net::default()),
            changed: Notify::new(),
            spec,
        });
        let bot = inner.bot_user();
        inner.world.lock().users.insert(bot.id, bot);
        let app = rest::router(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Simulator { inner, server }
    }

    /// `http://127.0.0.1:PORT`, for `HttpBuilder::proxy`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The gateway URL that `GET /gateway` hands out.
    pub fn gateway_url(&self) -> String {
        self.inner.gateway_url()
    }

    /// The token the bot must use.
    pub fn bot_token(&self) -> &str {
        &self.inner.opts.bot_token
    }

    /// The bot's user id.
    pub fn bot_user_id(&self) -> u64 {
        self.inner.opts.bot_user_id
    }

    /// The application id.
    pub fn application_id(&self) -> u64 {
        self.inner.opts.application_id
    }

    // ---- world building -------------------------------------------------------------------

    /// Adds a guild with an `@everyone` role (id = guild id, [`DEFAULT_EVERYONE`]) and the bot
    /// as a member; sends GUILD_CREATE if a client is already connected.
    pub fn add_guild(&self, id: u64, name: &str, owner_id: u64) {
        let bot = self.inner.bot_user();
        let mut w = self.inner.world.lock();
        let mut g = GuildRec {
            id,
            name: name.into(),
            owner_id,
            roles: Default::default(),
            channels: Vec::new(),
            members: Default::default(),
            bot_permissions: DEFAULT_EVERYONE | CREATE_EVENTS,
            events: Default::default(),
            commands: Vec::new(),
        };
        g.roles
            .insert(id, RoleSpec::new(id, "@everyone", DEFAULT_EVERYONE, 0));
        g.members.insert(
            bot.id,
            MemberRec {
                user: bot,
                roles: Vec::new(),
                joined_at: state::timestamp(),
                in_voice: false,
            },
        );
        w.guilds.insert(id, g);
        let create = w.guild_create_json(
            &w.guilds[&id],
            self.inner.opts.bot_user_id,
            self.inner.opts.guild_create_all_members,
        );
        w.dispatch(Some(id), "GUILD_CREATE", create);
    }

    /// Adds or replaces a role (use the guild id to change `@everyone`).
    pub fn add_role(&self, guild: u64, role: RoleSpec) {
        let mut w = self.inner.world.lock();
        if let Some(g) = w.guilds.get_mut(&guild) {
            g.roles.insert(role.id, role);
        }
    }

    /// Adds a text channel to a guild.
    pub fn add_text_channel(&self, guild: u64, id: u64, name: &str) {
        let mut w = self.inner.world.lock();
        if let Some(g) = w.guilds.get_mut(&guild) {
            g.channels.push(id);
            w.channels.insert(
                id,
                ChannelRec {
                    id,
                    name: name.into(),
                    guild_id: Some(guild),
                    recipient: None,
                },
            );
        }
    }

    /// Adds a user (who may DM and be DMed) without guild membership.
    pub fn add_user(&self, user: UserSpec) {
        self.inner.world.lock().users.insert(user.id, user);
    }

    /// Adds a user as a member of a guild with the given role ids.
    pub fn add_member(&self, guild: u64, user: UserSpec, roles: &[u64]) {
        let mut w = self.inner.world.lock();
        w.users.insert(user.id, user.clone());
        if let Some(g) = w.guilds.get_mut(&guild) {
            g.members.insert(
                user.id,
                MemberRec {
                    user,
                    roles: roles.to_vec(),
                    joined_at: state::timestamp(),
                    in_voice: false,
                },
            );
        }
    }

    /// Marks a member as sitting in a voice channel (so GUILD_CREATE lists them).
    pub fn set_in_voice(&self, guild: u64, user: u64, in_voice: bool) {
        let mut w = self.inner.world.lock();
        if let Some(m) = w
            .guilds
            .get_mut(&guild)
            .and_then(|g| g.members.get_mut(&user))
        {
            m.in_voice = in_voice;
        }
    }

    /// Makes the user refuse DMs: sending to their DM channel answers 403 code 50007.
    pub fn close_dms(&self, user: u64) {
        self.inner.world.lock().closed_dms.insert(user);
    }

    /// Sets the bot's own permissions in a guild (sent as `app_permissions`).
    pub fn set_bot_permissions(&self, guild: u64, bits: u64) {
        if let Some(g) = self.inner.world.lock().guilds.get_mut(&guild) {
            g.bot_permissions = bits;
        }
    }

    // ---- gateway-side ----------------------------------------------------------------------

    /// Every IDENTIFY received, in order.
    pub fn identifies(&self) -> Vec<Identify> {
        self.inner.world.lock().identifies.clone()
    }

    /// Waits until a client identified and got READY and its GUILD_CREATEs.
    pub async fn wait_until_ready(&self, timeout: Duration) -> Result<(), SimError> {
        self.wait_until("READY", timeout, |i| {
            (i.world.lock().ready_sent > 0).then_some(())
        })
        .await
    }

    /// Waits until no gateway session is left and at least one has ended.
    pub async fn wait_for_disconnect(&self, timeout: Duration) -> Result<(), SimError> {
        self.wait_until("gateway disconnect", timeout, |i| {
            let w = i.world.lock();
            (w.sessions.is_empty() && w.disconnects > 0).then_some(())
        })
        .await
    }

    /// How many gateway sessions ended with the client sending a close frame.
    pub fn gateway_close_frames(&self) -> u64 {
        self.inner.world.lock().close_frames_received
    }

    /// How many gateway sessions are open now.
    pub fn gateway_sessions(&self) -> usize {
        self.inner.world.lock().sessions.len()
    }

    fn new_interaction(
        &self,
        w: &mut World,
        kind: u8,
        origin: Origin,
        data: Value,
        source_message: Option<u64>,
    ) -> Result<(Interaction, Value), SimError> {
        let Origin {
            guild,
            channel,
            user,
        } = origin;
        let ch = w
            .channels
            .get(&channel)
            .cloned()
            .ok_or(SimError::UnknownChannel(channel))?;
        let u = w.user(user).cloned().ok_or(SimError::UnknownUser(user))?;
        let id = w.next_id();
        let token = format!("sim-itoken-{id}-{}", w.next_id() % 1_000_003);
        let app = self.inner.opts.application_id;
        let mut v = json!({
            "id": id.to_string(),
            "application_id": app.to_string(),
            "type": kind,
            "data": data,
            "channel_id": channel.to_string(),
            "token": token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 26_214_400,
        });
        match guild {
            Some(gid) => {
                let g = w.guilds.get(&gid).ok_or(SimError::UnknownGuild(gid))?;
                let m = g.members.get(&user).ok_or(SimError::UnknownUser(user))?;
                let member = w.member_json(g, m, true);
                let perms = w.member_permissions(g, user);
                v["guild_id"] = json!(gid.to_string());
                v["member"] = member;
                v["app_permissions"] = json!(if g.bot_permissions & ADMINISTRATOR != 0 {
                    ALL_PERMISSIONS
                } else {
                    g.bot_permissions
                }
                .to_string());
                v["guild_locale"] = json!("en-US");
                v["authorizing_integration_owners"] = json!({"0": gid.to_string()});
                v["context"] = json!(0);
                v["channel"] = json!({"id": channel.to_string(), "name": ch.name, "type": 0, "permissions": perms.to_string(), "guild_id": gid.to_string()});
            }
            None => {
                v["user"] = u.to_json();
                v["app_permissions"] = json!(DEFAULT_EVERYONE.to_string());
                v["authorizing_integration_owners"] = json!({"1": user.to_string()});
                v["context"] = json!(1);
                v["channel"] = json!({"id": channel.to_string(), "type": 1});
            }
        }
        w.interactions.insert(
            token.clone(),
            InteractionRec {
                id,
                kind,
                created: Instant::now(),
                responded: false,
                channel_id: channel,
                guild_id: guild,
                original: None,
                source_message,
                followups: Default::default(),
                responses: Vec::new(),
            },
        );
        Ok((Interaction { id, token, kind }, v))
    }

    fn send_interaction(
        &self,
        w: &mut World,
        guild: Option<u64>,
        payload: Value,
    ) -> Result<(), SimError> {
        if !w.sessions.iter().any(|s| s.identified && s.serves(guild)) {
            return Err(SimError::NotConnected);
        }
        w.dispatch(guild, "INTERACTION_CREATE", payload);
        Ok(())
    }

    fn command_data(
        &self,
        w: &World,
        guild: u64,
        name: &str,
        options: Value,
    ) -> Result<Value, SimError> {
        let g = w.guilds.get(&guild).ok_or(SimError::UnknownGuild(guild))?;
        let cmd = g
            .commands
            .iter()
            .chain(w.global_commands.iter())
            .find(|c| c["name"] == name)
            .ok_or_else(|| SimError::UnknownCommand(name.into()))?;
        let mut resolved = json!({});
        resolve_options(w, g, &options, &cmd["options"], &mut resolved);
        let mut data = json!({
            "id": cmd["id"],
            "name": name,
            "type": cmd["type"].as_u64().unwrap_or(1),
            "options": options,
            "guild_id": guild.to_string(),
        });
        if resolved.as_object().is_some_and(|o| !o.is_empty()) {
            data["resolved"] = resolved;
        }
        Ok(data)
    }

    /// Dispatches a slash command (type 2) from `user` in a guild channel; `options` is the
    /// interaction's `data.options` array (nest subcommands as Discord does).
    pub async fn invoke_command(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Interaction, SimError> {
        let mut w = self.inner.world.lock();
        let data = self.command_data(&w, guild, name, options)?;
        let (handle, payload) = self.new_interaction(
            &mut w,
            2,
            Origin {
                guild: Some(guild),
                channel,
                user,
            },
            data,
            None,
        )?;
        self.send_interaction(&mut w, Some(guild), payload)?;
        Ok(handle)
    }

    /// Dispatches an autocomplete request (type 4); mark the typed option `"focused": true`.
    pub async fn autocomplete(
        &self,
        guild: u64,
        channel: u64,
        user: u64,
        name: &str,
        options: Value,
    ) -> Result<Interaction, SimError> {
        let mut w = self.inner.world.lock();
        let data = self.command_data(&w, guild, name, options)?;
        let (handle, payload) = self.new_interaction(
            &mut w,
            4,
            Origin {
                guild: Some(guild),
                channel,
                user,
            },
            data,
            None,
        )?;
        self.send_interaction(&mut w, Some(guild), payload)?;
        Ok(handle)
    }

    /// Dispatches a button click (type 3) on a message the bot created.
    pub async fn click_button(
        &self,
        message_id: u64,
        channel: u64,
        user: u64,
        custom_id: &str,
    ) -> Result<Interaction, SimError> {
        let mut w = self.inner.world.lock();
        let message = w
            .message(message_id)
            .cloned()
            .ok_or(SimError::UnknownMessage(message_id))?;
        let guild = w
            .channels
            .get(&channel)
            .ok_or(SimError::UnknownChannel(channel))?
            .guild_id;
        let data = json!({"custom_id": custom_id, "component_type": 2});
        let (handle, mut payload) = self.new_interaction(
            &mut w,
            3,
            Origin {
                guild,
                channel,
                user,
            },
            data,
            Some(message_id),
        )?;
        payload["message"] = message;
        self.send_interaction(&mut w, guild, payload)?;
        Ok(handle)
    }

    /// Registers `user` as interested in a scheduled event and dispatches
    /// GUILD_SCHEDULED_EVENT_USER_ADD.
    pub async fn mark_interested(&self, guild: u64, event: u64, user: u64) -> Result<(), SimError> {
        let mut w = self.inner.world.lock();
        if w.user(user).is_none() {
            return Err(SimError::UnknownUser(user));
        }
        let g = w
            .guilds
            .get_mut(&guild)
            .ok_or(SimError::UnknownGuild(guild))?;
        let e = g
            .events
            .get_mut(&event)
            .ok_or(SimError::UnknownEvent(event))?;
        e.interested.insert(user, ());
        e.json["user_count"] = json!(e.interested.len());
        w.dispatch(
            Some(guild),
            "GUILD_SCHEDULED_EVENT_USER_ADD",
            json!({"guild_scheduled_event_id": event.to_string(), "user_id": user.to_string(), "guild_id": guild.to_string()}),
        );
        Ok(())
    }

    /// Removes `user`'s interest in a scheduled event and dispatches
    /// GUILD_SCHEDULED_EVENT_USER_REMOVE.
    pub async fn unmark_interested(
        &self,
        guild: u64,
        event: u64,
        user: u64,
    ) -> Result<(), SimError> {
        let mut w = self.inner.world.lock();
        let g = w
            .guilds
            .get_mut(&guild)
            .ok_or(SimError::UnknownGuild(guild))?;
        let e = g
            .events
            .get_mut(&event)
            .ok_or(SimError::UnknownEvent(event))?;
        e.interested.remove(&user);
        e.json["user_count"] = json!(e.interested.len());
        w.dispatch(
            Some(guild),
            "GUILD_SCHEDULED_EVENT_USER_REMOVE",
            json!({"guild_scheduled_event_id": event.to_string(), "user_id": user.to_string(), "guild_id": guild.to_string()}),
        );
        Ok(())
    }

    // ---- faults and limits -----------------------------------------------------------------

    /// Answers the next `count` requests matching `method` (or `*`) and `path_glob` with `status`.
    pub fn fail_next(&self, method: &str, path_glob: &str, status: u16, count: u32) {
        self.inner
            .net
            .lock()
            .faults
            .push(method, path_glob, FaultKind::Status(status), count);
    }

    /// Answers the next matching request with 429 and the given `retry_after`.
    pub fn rate_limit_next(
        &self,
        method: &str,
        path_glob: &str,
        retry_after_secs: f64,
        global: bool,
    ) {
        let kind = FaultKind::RateLimited {
            retry_after: retry_after_secs,
            global,
        };
        self.inner
            .net
            .lock()
            .faults
            .push(method, path_glob, kind, 1);
    }

    /// Enforces a global limit of `per_second` requests in any sliding second over all
    /// requests except interaction callbacks and webhooks; `0` turns it off.
    pub fn enforce_global_rate(&self, per_second: u32) {
        self.inner.net.lock().window = (per_second > 0).then(|| GlobalWindow::new(per_second));
    }

    /// Delays every REST answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.net.lock().latency = latency;
    }

    // ---- observations ----------------------------------------------------------------------

    /// How many 429 answers were given (forced and from the global window).
    pub fn count_429(&self) -> u64 {
        self.inner.net.lock().count_429
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let mut r = self.inner.net.lock().requests.clone();
        r.sort_by_key(|r| r.seq);
        r
    }

    /// Requests whose method (or `*`) and path match.
    pub fn requests_matching(&self, method: &str, path_glob: &str) -> Vec<RecordedRequest> {
        let mut found: Vec<RecordedRequest> = self
            .inner
            .net
            .lock()
            .requests
            .iter()
            .filter(|r| {
                (method == "*" || r.method.eq_ignore_ascii_case(method))
                    && glob_match(path_glob, &r.path)
            })
            .cloned()
            .collect();
        found.sort_by_key(|r| r.seq);
        found
    }

    /// Messages the bot sent to `user`'s DM channel.
    pub fn dms_to(&self, user: u64) -> Vec<Value> {
        let w = self.inner.world.lock();
        w.dm_channels
            .get(&user)
            .and_then(|c| w.messages.get(c))
            .cloned()
            .unwrap_or_default()
    }

    /// Messages stored in a channel, oldest first.
    pub fn channel_messages(&self, channel: u64) -> Vec<Value> {
        self.inner
            .world
            .lock()
            .messages
            .get(&channel)
            .cloned()
            .unwrap_or_default()
    }

    /// A stored message by id.
    pub fn message(&self, id: u64) -> Option<Value> {
        self.inner.world.lock().message(id).cloned()
    }

    /// The accepted answers to an interaction: callback, edits, follow-ups, in order.
    pub fn interaction_responses(&self, token: &str) -> Vec<InteractionResponse> {
        self.inner
            .world
            .lock()
            .interactions
            .get(token)
            .map(|i| i.responses.clone())
            .unwrap_or_default()
    }

    /// The id of the message an interaction's `@original` refers to, once it exists.
    pub fn original_message_id(&self, token: &str) -> Option<u64> {
        self.inner
            .world
            .lock()
            .interactions
            .get(token)
            .and_then(|i| i.original)
    }

    /// The commands the bot registered, globally (`guild = None`) or in a guild.
    pub fn registered_commands(&self, guild: Option<u64>) -> Vec<Value> {
        let w = self.inner.world.lock();
        match guild {
            None => w.global_commands.clone(),
            Some(g) => w
                .guilds
                .get(&g)
                .map(|g| g.commands.clone())
                .unwrap_or_default(),
        }
    }

    /// A scheduled event as stored.
    pub fn scheduled_event(&self, guild: u64, event: u64) -> Option<Value> {
        let w = self.inner.world.lock();
        w.guilds
            .get(&guild)?
            .events
            .get(&event)
            .map(|e| e.json.clone())
    }

    /// Requests that matched no route ("METHOD /path"); a test should expect none.
    pub fn unhandled_routes(&self) -> Vec<String> {
        self.inner.net.lock().unhandled.clone()
    }

    /// Request bodies that broke Discord's limits or the OpenAPI schema.
    pub fn violations(&self) -> Vec<String> {
        self.inner.net.lock().violations.clone()
    }

    /// Whether bodies are validated against the OpenAPI spec.
    pub fn spec_validation_enabled(&self) -> bool {
        self.inner.spec.is_some()
    }

    /// Waits for a recorded request (already recorded or future) matching `predicate`.
    pub async fn wait_for_request(
        &self,
        predicate: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Result<RecordedRequest, SimError> {
        self.wait_until("a matching request", timeout, |i| {
            let net = i.net.lock();
            net.requests
                .iter()
                .filter(|r| predicate(r))
                .min_by_key(|r| r.seq)
                .cloned()
        })
        .await
    }

    /// Waits until `count` requests match `method` and `path_glob`.
    pub async fn wait_for_requests(
        &self,
        method: &str,
        path_glob: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>, SimError> {
        self.wait_until("matching requests", timeout, |_| {
            let found = self.requests_matching(method, path_glob);
            (found.len() >= count).then_some(found)
        })
        .await
    }

    async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Inner) -> Option<T>,
    ) -> Result<T, SimError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(t) = check(&self.inner) {
                return Ok(t);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return check(&self.inner).ok_or_else(|| SimError::Timeout(what.into()));
            }
        }
    }
}

/// Fills `data.resolved` for user, role, channel and mentionable option values, walking
/// subcommand groups and subcommands.
fn resolve_options(w: &World, g: &GuildRec, options: &Value, schema: &Value, resolved: &mut Value) {
    let Some(opts) = options.as_array() else {
        return;
    };
    for o in opts {
        let name = &o["name"];
        let declared = schema
            .as_array()
            .and_then(|s| s.iter().find(|d| &d["name"] == name));
        let kind = o["type"]
            .as_u64()
            .or_else(|| declared.and_then(|d| d["type"].as_u64()));
        if matches!(kind, Some(1) | Some(2)) || o.get("options").is_some() {
            let sub = declared
                .map(|d| d["options"].clone())
                .unwrap_or(Value::Null);
            resolve_options(w, g, &o["options"], &sub, resolved);
            continue;
        }
        let Some(id) = o["value"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        let user = matches!(kind, Some(6) | Some(9))
            .then(|| w.user(id))
            .flatten();
        if let Some(u) = user {
            resolved["users"][id.to_string()] = u.to_json();
            if let Some(m) = g.members.get(&id) {
                let mut pm = w.member_json(g, m, true);
                if let Some(obj) = pm.as_object_mut() {
                    obj.remove("user");
                }
                resolved["members"][id.to_string()] = pm;
            }
        } else if matches!(kind, Some(8) | Some(9)) {
            if let Some(r) = g.roles.get(&id) {
                resolved["roles"][id.to_string()] = r.to_json();
            }
        } else if kind == Some(7) {
            if let Some(c) = w.channels.get(&id) {
                resolved["channels"][id.to_string()] = json!({"id": id.to_string(), "name": c.name, "type": 0, "permissions": ALL_PERMISSIONS.to_string()});
            }
        }
    }
}
