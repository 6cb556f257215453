//! A stateful fake Discord on 127.0.0.1 that the real serenity/poise client talks to end to end.
//!
//! It serves Discord's REST API under `/api/v10` and a gateway WebSocket on one loopback port,
//! records every request, and lets a test play the users: invoke slash commands, click
//! buttons, ask for autocompletion, mark interest in scheduled events. Faults (5xx, 429), a
//! global rate window and latency can be switched on at any time.
//!
//! # A scenario test
//!
//! ```no_run
//! # async fn scenario() -> Result<(), discord_sim::SimError> {
//! use std::time::Duration;
//! use discord_sim::{RoleSpec, SimOptions, Simulator, UserSpec, ADMINISTRATOR};
//! use serde_json::json;
//!
//! let sim = Simulator::start(SimOptions::default()).await;
//! let (guild, channel) = (1_000, 1_001);
//! sim.add_guild(guild, "Test guild", 10); // owner 10; adds @everyone and the bot as a member
//! sim.add_role(guild, RoleSpec::new(20, "Moderator", ADMINISTRATOR, 1));
//! sim.add_text_channel(guild, channel, "general");
//! sim.add_member(guild, UserSpec::new(10, "owner"), &[]);
//! sim.add_member(guild, UserSpec::new(11, "alice").global_name("Alice"), &[20]);
//! sim.add_member(guild, UserSpec::new(12, "bob"), &[]);
//! sim.close_dms(12); // DMs to bob answer 403 / 50007
//!
//! // Start the bot (see tests/e2e.rs for a complete poise bot):
//! //   let http = serenity::HttpBuilder::new(sim.bot_token())
//! //       .proxy(sim.base_url())
//! //       .ratelimiter_disabled(true)
//! //       .build();
//! //   let mut client = serenity::ClientBuilder::new_with_http(http, intents)
//! //       .framework(framework) // FrameworkOptions { initialize_owners: false, .. }
//! //       .await?;
//! //   tokio::spawn(async move { client.start().await });
//! // Commands exist once the bot has registered them:
//! sim.wait_for_requests("PUT", "/applications/*/guilds/*/commands", 1, Duration::from_secs(5))
//!     .await?;
//!
//! let opts = json!([{"name": "who", "type": 6, "value": "12"}]);
//! let i = sim.invoke_command(guild, channel, 11, "invite", opts).await?;
//! sim.wait_for_request(
//!     |r| r.method == "PATCH" && r.path.contains(&i.token),
//!     Duration::from_secs(5),
//! )
//! .await?;
//! let answers = sim.interaction_responses(&i.token); // callback, edits, follow-ups in order
//! assert_eq!(answers[0].body["type"], 5); // deferred
//! assert!(sim.dms_to(12).is_empty());
//! assert!(sim.unhandled_routes().is_empty());
//! assert!(sim.violations().is_empty());
//! # Ok(()) }
//! ```
//!
//! # Good to know
//!
//! - Paths given to [`Simulator::fail_next`], [`Simulator::rate_limit_next`] and
//!   [`Simulator::requests_matching`] are globs over the path after `/api/v10`
//!   (`*` inside one segment, `**` across segments), e.g. `/channels/*/messages`.
//! - [`Simulator::enforce_global_rate`] counts every request except interaction callbacks
//!   and `/webhooks/...`, as Discord does; [`Simulator::count_429`] counts all 429s given.
//! - Every REST call except interaction callbacks, webhooks and `GET /gateway` must carry
//!   `Authorization: Bot <token>`, else 401.
//! - serenity answers a failed `GET /gateway` by connecting to the real
//!   `wss://gateway.discord.gg`. So that a test never leaves loopback, that lookup is exempt
//!   from auth and the global window, and only a fault glob of exactly `/gateway` hits it:
//!   don't write one while a serenity client is starting. For the same reason, stop the
//!   client (`shard_manager.shutdown_all()`) before dropping the simulator.
//! - Interaction responses, follow-ups and channel posts are all stored as messages in their
//!   channel; ephemeral ones carry `flags & 64`. A deferral's placeholder carries flag 128
//!   (loading) until the original is edited.
//! - GUILD_CREATE lists only the bot and members in voice unless
//!   [`SimOptions::guild_create_all_members`] is set; op 8 and `GET /guilds/{g}/members`
//!   list everyone. `GUILD_SCHEDULED_EVENT_*` go only to clients with that intent.
//! - Set `DISCORD_OPENAPI_SPEC` (or [`SimOptions::openapi_spec`]) to Discord's
//!   `openapi.json` to validate every JSON body against the spec as well as against the
//!   built-in limits; violations answer 400 / 50035 and show in [`Simulator::violations`].
//! - Multipart bodies (file uploads) are recorded without a body and not validated.

mod actions;
mod gateway;
mod limits;
mod records;
mod rest;
mod state;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::Notify;

pub use limits::glob_match;
pub use records::{Interaction, InteractionResponse, RecordedRequest, ResponseKind};
pub use state::{
    Identify, Overwrite, RoleSpec, UserSpec, ADMINISTRATOR, ALL_PERMISSIONS, CREATE_EVENTS,
    DEFAULT_EVERYONE, INTENT_GUILDS, INTENT_GUILD_MEMBERS, INTENT_GUILD_SCHEDULED_EVENTS,
    MANAGE_EVENTS,
};
pub use validate::SPEC_ENV;

use limits::{FaultKind, Faults, GlobalWindow};
use state::{ChannelRec, GuildRec, MemberRec, World};

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
    /// The shard count `GET /gateway/bot` recommends.
    pub recommended_shards: u32,
    /// `GET /gateway/bot`'s `session_start_limit.max_concurrency`: shards whose `id % max_concurrency` differ
    /// may identify together.
    pub max_concurrency: u32,
    /// Two IDENTIFYs of one bucket less than five seconds apart (among connected sessions) are a violation.
    /// Off by default: scenario tests start several bots of one shard within seconds.
    pub enforce_identify_spacing: bool,
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
            recommended_shards: 1,
            max_concurrency: 1,
            enforce_identify_spacing: false,
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

/// A running fake Discord; dropping it stops accepting connections (shut the client down
/// first: see the crate docs).
pub struct Simulator {
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Only the listener stops: open gateway sessions are left alone, because a client
        // that loses its session reconnects, and when `GET /gateway` then fails serenity
        // falls back to the real Discord gateway.
        self.server.abort();
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
        inner.world.lock().base_url = format!("http://{addr}");
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

    /// Adds or replaces a role (use the guild id to change `@everyone`); dispatches
    /// GUILD_ROLE_CREATE or GUILD_ROLE_UPDATE to connected clients.
    ///
    /// # Panics
    /// If the guild was never added (a fixture mistake).
    pub fn add_role(&self, guild: u64, role: RoleSpec) {
        let mut w = self.inner.world.lock();
        let g = guild_mut(&mut w, guild);
        let event = if g.roles.contains_key(&role.id) {
            "GUILD_ROLE_UPDATE"
        } else {
            "GUILD_ROLE_CREATE"
        };
        let payload = json!({"guild_id": guild.to_string(), "role": role.to_json()});
        g.roles.insert(role.id, role);
        w.dispatch(Some(guild), event, payload);
    }

    /// Adds a text channel to a guild.
    ///
    /// # Panics
    /// If the guild was never added.
    pub fn add_text_channel(&self, guild: u64, id: u64, name: &str) {
        let mut w = self.inner.world.lock();
        guild_mut(&mut w, guild).channels.push(id);
        w.channels.insert(
            id,
            ChannelRec {
                id,
                name: name.into(),
                guild_id: Some(guild),
                recipient: None,
                overwrites: Vec::new(),
            },
        );
    }

    /// Sets (or replaces) a channel's permission overwrite for a role or member; dispatches CHANNEL_UPDATE.
    ///
    /// # Panics
    /// If the channel was never added.
    pub fn set_overwrite(&self, channel: u64, overwrite: Overwrite) {
        let mut w = self.inner.world.lock();
        let c = w.channels.get_mut(&channel).expect("a known channel");
        c.overwrites
            .retain(|o| !(o.id == overwrite.id && o.member == overwrite.member));
        c.overwrites.push(overwrite);
        let c = w.channels[&channel].clone();
        let payload = w.channel_json(&c);
        w.dispatch(c.guild_id, "CHANNEL_UPDATE", payload);
    }

    /// Adds a user (who may DM and be DMed) without guild membership.
    pub fn add_user(&self, user: UserSpec) {
        self.inner.world.lock().users.insert(user.id, user);
    }

    /// Adds (or replaces) a guild member with the given role ids; dispatches
    /// GUILD_MEMBER_ADD or GUILD_MEMBER_UPDATE to clients with the GUILD_MEMBERS intent.
    ///
    /// # Panics
    /// If the guild was never added.
    pub fn add_member(&self, guild: u64, user: UserSpec, roles: &[u64]) {
        let mut w = self.inner.world.lock();
        w.users.insert(user.id, user.clone());
        let g = guild_mut(&mut w, guild);
        let existed = g.members.contains_key(&user.id);
        let joined_at = g
            .members
            .get(&user.id)
            .map_or_else(state::timestamp, |m| m.joined_at.clone());
        let in_voice = g.members.get(&user.id).is_some_and(|m| m.in_voice);
        let id = user.id;
        g.members.insert(
            id,
            MemberRec {
                user,
                roles: roles.to_vec(),
                joined_at,
                in_voice,
            },
        );
        let event = if existed {
            "GUILD_MEMBER_UPDATE"
        } else {
            "GUILD_MEMBER_ADD"
        };
        dispatch_member(&mut w, guild, id, event);
    }

    /// Replaces a member's roles; dispatches GUILD_MEMBER_UPDATE.
    pub fn set_member_roles(&self, guild: u64, user: u64, roles: &[u64]) -> Result<(), SimError> {
        let mut w = self.inner.world.lock();
        let g = w
            .guilds
            .get_mut(&guild)
            .ok_or(SimError::UnknownGuild(guild))?;
        let m = g
            .members
            .get_mut(&user)
            .ok_or(SimError::UnknownUser(user))?;
        m.roles = roles.to_vec();
        dispatch_member(&mut w, guild, user, "GUILD_MEMBER_UPDATE");
        Ok(())
    }

    /// Removes a member from a guild; dispatches GUILD_MEMBER_REMOVE.
    pub fn remove_member(&self, guild: u64, user: u64) -> Result<(), SimError> {
        let mut w = self.inner.world.lock();
        let g = w
            .guilds
            .get_mut(&guild)
            .ok_or(SimError::UnknownGuild(guild))?;
        let m = g.members.remove(&user).ok_or(SimError::UnknownUser(user))?;
        let payload = json!({"guild_id": guild.to_string(), "user": m.user.to_json()});
        w.dispatch(Some(guild), "GUILD_MEMBER_REMOVE", payload);
        Ok(())
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
    ///
    /// # Panics
    /// If the guild was never added.
    pub fn set_bot_permissions(&self, guild: u64, bits: u64) {
        guild_mut(&mut self.inner.world.lock(), guild).bot_permissions = bits;
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

    // ---- faults and limits -----------------------------------------------------------------

    /// Answers the next `count` requests matching `method` (or `*`) and `path_glob` with `status`.
    pub fn fail_next(&self, method: &str, path_glob: &str, status: u16, count: u32) {
        self.inner
            .net
            .lock()
            .faults
            .push(method, path_glob, FaultKind::Status(status), count);
    }

    /// Carries out the next `count` requests matching `method` and `path_glob` (a message or event is created), then
    /// answers them with `status` anyway, as a gateway timing out in front of Discord does.
    pub fn fail_after_next(&self, method: &str, path_glob: &str, status: u16, count: u32) {
        self.inner
            .net
            .lock()
            .faults
            .push(method, path_glob, FaultKind::StatusAfter(status), count);
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

    /// Forgets the recorded requests (counters, violations and unhandled routes stay), so a
    /// benchmark's iterations do not pile up memory.
    pub fn clear_requests(&self) {
        self.inner.net.lock().requests.clear();
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

    /// Every scheduled event of a guild as stored, by id.
    pub fn scheduled_events(&self, guild: u64) -> Vec<Value> {
        let w = self.inner.world.lock();
        w.guilds
            .get(&guild)
            .map(|g| g.events.values().map(|e| e.json.clone()).collect())
            .unwrap_or_default()
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

/// A guild for a fixture call; an unknown id is a mistake in the test.
fn guild_mut(w: &mut World, guild: u64) -> &mut GuildRec {
    w.guilds.get_mut(&guild).unwrap_or_else(|| {
        panic!("discord-sim: guild {guild} was never added (call add_guild first)")
    })
}

/// Sends a member add/update event with the member's current state.
fn dispatch_member(w: &mut World, guild: u64, user: u64, event: &str) {
    let Some(g) = w.guilds.get(&guild) else {
        return;
    };
    let Some(m) = g.members.get(&user) else {
        return;
    };
    let mut payload = w.member_json(g, m, false);
    payload["guild_id"] = json!(guild.to_string());
    w.dispatch(Some(guild), event, payload);
}
