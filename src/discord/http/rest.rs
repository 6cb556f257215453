//! The bot's own Discord REST client: every request is paced by one shared [`Pacer`], 429s are
//! honoured (`Retry-After`, global or per route) and Discord's JSON error codes are kept.
//!
//! serenity's `Http` is not used here because its errors drop `Retry-After` and its limiter neither
//! paces the global limit ahead of time nor exists when a proxy base URL is configured.

use super::pacer::{route_key, Lane, Pacer};
use crate::clock::SharedClock;
use crate::discord::limits::fit_message;
use crate::secret::Secret;
use crate::store::Store;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The User-Agent Discord requires of bots.
pub const USER_AGENT: &str = "DiscordBot (https://github.com/meetbot/meetbot, 0.1)";

/// Discord's JSON error code for "Cannot send messages to this user".
pub const CODE_DMS_CLOSED: u64 = 50007;
/// Discord's JSON error code for "Unknown Member".
pub const CODE_UNKNOWN_MEMBER: u64 = 10007;
/// Discord's JSON error code for "Unknown Channel".
pub const CODE_UNKNOWN_CHANNEL: u64 = 10003;

const MEMBERS_PAGE: usize = 1000;
/// Used when a 429 carries neither a body nor a `Retry-After` header.
const FALLBACK_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A failed Discord REST call. Messages name the cause, never a request body or the token.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The configured API base is not a usable URL.
    #[error("invalid Discord API base URL: {0}")]
    InvalidBase(String),
    /// The recipient does not accept DMs from the bot (403, code 50007); terminal for that user.
    #[error("the user does not accept direct messages from this bot (code 50007)")]
    DmsClosed,
    /// The user is not a member of the guild (404, code 10007).
    #[error("unknown guild member (code 10007)")]
    UnknownMember,
    /// 403: missing access or permission; never retried, 403s count towards Cloudflare bans.
    #[error("Discord refused the request (403, code {code}): {message}")]
    Forbidden {
        /// Discord's JSON error code (0 when absent).
        code: u64,
        /// Discord's error message.
        message: String,
    },
    /// 404 other than an unknown member.
    #[error("Discord found no such resource (404, code {code}): {message}")]
    NotFound {
        /// Discord's JSON error code (0 when absent).
        code: u64,
        /// Discord's error message.
        message: String,
    },
    /// Any other 4xx, e.g. 400 for an invalid body.
    #[error("Discord rejected the request ({status}, code {code}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Discord's JSON error code (0 when absent).
        code: u64,
        /// Discord's error message.
        message: String,
    },
    /// Still rate limited after the bounded number of retries, or told to wait too long.
    #[error("rate limited by Discord after {attempts} attempts (retry after {retry_after:?})")]
    RateLimited {
        /// The last wait Discord asked for.
        retry_after: Duration,
        /// Requests sent for this call.
        attempts: u32,
    },
    /// Discord kept answering 5xx.
    #[error("Discord server error {status}")]
    Server {
        /// HTTP status.
        status: u16,
    },
    /// The request never got an answer (connection, timeout, TLS).
    #[error("could not reach Discord: {0}")]
    Transport(String),
    /// 401: the bot token is invalid.
    #[error("Discord rejected the bot token (401)")]
    Unauthorized,
    /// A 2xx answer that is not the JSON we expect.
    #[error("unexpected response from Discord: {0}")]
    Decode(String),
}

impl RestError {
    /// The HTTP status Discord answered with, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::DmsClosed | Self::Forbidden { .. } => Some(403),
            Self::UnknownMember | Self::NotFound { .. } => Some(404),
            Self::Rejected { status, .. } | Self::Server { status } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::Unauthorized => Some(401),
            Self::InvalidBase(_) | Self::Transport(_) | Self::Decode(_) => None,
        }
    }

    /// Discord's JSON error code, when the answer carried one.
    pub fn code(&self) -> Option<u64> {
        match self {
            Self::DmsClosed => Some(CODE_DMS_CLOSED),
            Self::UnknownMember => Some(CODE_UNKNOWN_MEMBER),
            Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// How many times, and how patiently, a request is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after a 429 before giving up with [`RestError::RateLimited`].
    pub max_rate_limit_retries: u32,
    /// Retries after a 5xx or a transport error.
    pub max_server_retries: u32,
    /// First backoff after a 5xx; doubled each time, plus up to as much again of jitter.
    pub backoff_base: Duration,
    /// A 429 asking for a longer wait than this is given up at once rather than stalling delivery.
    pub max_retry_after: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_rate_limit_retries: 5,
            max_server_retries: 3,
            backoff_base: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// A guild member as the bot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user's id.
    pub user_id: u64,
    /// The unique username.
    pub username: String,
    /// The display name chosen for the whole of Discord.
    pub global_name: Option<String>,
    /// The nickname in this guild.
    pub nick: Option<String>,
    /// CDN URL of the avatar; the guild-specific one is preferred.
    pub avatar_url: Option<String>,
    /// Whether the user is a bot.
    pub bot: bool,
    /// The member's role ids.
    pub roles: Vec<u64>,
}

impl Member {
    /// The name Discord shows in this guild: nickname, else global name, else username.
    pub fn display_name(&self) -> &str {
        self.nick
            .as_deref()
            .or(self.global_name.as_deref())
            .unwrap_or(&self.username)
    }

    /// Builds a member from Discord's guild member object.
    pub fn from_json(guild_id: u64, value: &Value) -> Result<Self, RestError> {
        let raw: RawMember = serde_json::from_value(value.clone()).map_err(decode_error)?;
        Ok(raw.into_member(guild_id))
    }
}

/// The members holding some roles, as [`RestClient::members_with_roles`] found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMembers {
    /// The members found, in id order; when not `complete`, one more than the limit asked for.
    pub members: Vec<Member>,
    /// False when listing stopped early because more than the limit were found.
    pub complete: bool,
}

/// How long a role's members are remembered.
pub const ROLE_CACHE_TTL: Duration = Duration::from_secs(60);
/// How many (guild, roles) answers are remembered at most.
pub const ROLE_CACHE_ENTRIES: usize = 256;

type RoleKey = (u64, Vec<u64>, usize);

/// A small time-bounded, size-bounded cache of role listings; the oldest entry goes first when full.
#[derive(Default)]
struct RoleCache {
    entries: HashMap<RoleKey, (std::time::Instant, RoleMembers)>,
}

impl RoleCache {
    fn get(&mut self, key: &RoleKey) -> Option<RoleMembers> {
        match self.entries.get(key) {
            Some((at, v)) if at.elapsed() < ROLE_CACHE_TTL => Some(v.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: RoleKey, value: RoleMembers) {
        self.entries
            .retain(|_, (at, _)| at.elapsed() < ROLE_CACHE_TTL);
        while self.entries.len() >= ROLE_CACHE_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.entries.remove(&k),
                None => break,
            };
        }
        self.entries.insert(key, (std::time::Instant::now(), value));
    }
}

/// A guild role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role's id (the guild's id for @everyone).
    pub id: u64,
    /// The role's name.
    pub name: String,
    /// Position in the role list; higher is more senior.
    pub position: i64,
    /// The permission bit set.
    pub permissions: u64,
    /// Whether an integration manages the role.
    pub managed: bool,
    /// Whether anyone may ping it (else only members with Mention Everyone).
    pub mentionable: bool,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
    username: String,
    #[serde(default)]
    global_name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    bot: bool,
}

#[derive(Deserialize)]
struct RawMember {
    user: RawUser,
    #[serde(default)]
    nick: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    roles: Vec<Snowflake>,
}

impl RawMember {
    fn into_member(self, guild_id: u64) -> Member {
        let uid = self.user.id;
        let avatar_url = match (self.avatar, self.user.avatar) {
            (Some(hash), _) => Some(format!(
                "https://cdn.discordapp.com/guilds/{guild_id}/users/{uid}/avatars/{hash}.{}",
                image_ext(&hash)
            )),
            (None, Some(hash)) => Some(format!(
                "https://cdn.discordapp.com/avatars/{uid}/{hash}.{}",
                image_ext(&hash)
            )),
            (None, None) => None,
        };
        Member {
            user_id: uid,
            username: self.user.username,
            global_name: self.user.global_name,
            nick: self.nick,
            avatar_url,
            bot: self.user.bot,
            roles: self.roles.into_iter().map(|s| s.0).collect(),
        }
    }
}

/// Animated avatar hashes start with `a_` and are served as GIF.
fn image_ext(hash: &str) -> &'static str {
    if hash.starts_with("a_") {
        "gif"
    } else {
        "png"
    }
}

#[derive(Deserialize)]
struct RawRole {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
    name: String,
    #[serde(default)]
    position: i64,
    #[serde(default, deserialize_with = "snowflake")]
    permissions: u64,
    #[serde(default)]
    managed: bool,
    #[serde(default)]
    mentionable: bool,
}

/// Discord sends ids as strings; tolerate numbers too (some fakes and old payloads use them).
#[derive(Deserialize)]
#[serde(transparent)]
struct Snowflake(#[serde(deserialize_with = "snowflake")] u64);

fn snowflake<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    match Either::deserialize(d)? {
        Either::S(s) => s.parse().map_err(serde::de::Error::custom),
        Either::N(n) => Ok(n),
    }
}

/// serde_json's messages quote the offending value, and a response can echo a message that holds
/// a personal link: keep only the kind of error and where it was.
fn decode_error(e: serde_json::Error) -> RestError {
    RestError::Decode(format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    ))
}

fn id_field(value: &Value, field: &str) -> Result<u64, RestError> {
    match value.get(field) {
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(|| RestError::Decode(format!("missing or invalid `{field}`")))
}

/// What a 429 asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RateLimit {
    retry_after: Duration,
    global: bool,
}

/// Reads a 429: the body's `retry_after` (seconds, fractional) wins over the `Retry-After` header
/// (whole seconds); `global` comes from the body or `X-RateLimit-Global`/`X-RateLimit-Scope`.
fn parse_rate_limit(headers: &HeaderMap, body: &[u8]) -> RateLimit {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let body_after = json
        .as_ref()
        .and_then(|j| j.get("retry_after"))
        .and_then(Value::as_f64);
    let header_after = header_str(headers, "retry-after").and_then(|s| s.parse::<f64>().ok());
    let secs = body_after.or(header_after);
    let retry_after = secs
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(FALLBACK_RETRY_AFTER);
    let global = json
        .as_ref()
        .and_then(|j| j.get("global"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || header_str(headers, "x-ratelimit-global")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || header_str(headers, "x-ratelimit-scope")
            .is_some_and(|v| v.eq_ignore_ascii_case("global"));
    RateLimit {
        retry_after,
        global,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Discord's JSON error body: `{"code": 50007, "message": "..."}`.
fn error_fields(body: &[u8]) -> (u64, String) {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let code = json
        .as_ref()
        .and_then(|j| j.get("code"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let message = json
        .as_ref()
        .and_then(|j| j.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    (code, message)
}

/// Maps a non-success, non-retryable answer to its error.
fn classify(status: StatusCode, body: &[u8]) -> RestError {
    let (code, message) = error_fields(body);
    match status.as_u16() {
        401 => RestError::Unauthorized,
        403 if code == CODE_DMS_CLOSED => RestError::DmsClosed,
        403 => RestError::Forbidden { code, message },
        404 if code == CODE_UNKNOWN_MEMBER => RestError::UnknownMember,
        404 => RestError::NotFound { code, message },
        s => RestError::Rejected {
            status: s,
            code,
            message,
        },
    }
}

/// Gives a message body a nonce that Discord enforces (`enforce_nonce`: the same nonce from the same author in the
/// same channel within minutes returns the message already made instead of a second one). A nonce already in the
/// body is kept, so callers that derive one from what the message is for keep it across reruns and restarts.
pub fn with_nonce(mut body: Value) -> Value {
    if let Value::Object(map) = &mut body {
        if !map.contains_key("nonce") {
            let nonce = format!("mb{:016x}", rand::random::<u64>());
            map.insert("nonce".to_owned(), Value::String(nonce));
        }
        map.insert("enforce_nonce".to_owned(), Value::Bool(true));
    }
    body
}

/// How many DM channels a client remembers (about 40 bytes each): enough for the people one process writes to in a
/// while, bounded so a bot that has DMed a million members does not keep them all.
pub const DM_CACHE_CAPACITY: usize = 10_000;

/// User → DM channel, at most `capacity` entries; the oldest remembered goes first when full. (A DM channel never
/// changes, so an evicted one costs one request to open again, nothing more.)
#[derive(Debug)]
pub(crate) struct DmCache {
    capacity: usize,
    channels: HashMap<u64, u64>,
    order: std::collections::VecDeque<u64>,
}

impl DmCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            channels: HashMap::new(),
            order: std::collections::VecDeque::new(),
        }
    }

    pub(crate) fn get(&self, user: u64) -> Option<u64> {
        self.channels.get(&user).copied()
    }

    pub(crate) fn insert(&mut self, user: u64, channel: u64) {
        if self.channels.insert(user, channel).is_none() {
            self.order.push_back(user);
        }
        while self.channels.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.channels.remove(&old);
                }
                None => break,
            }
        }
    }

    pub(crate) fn remove(&mut self, user: u64) {
        if self.channels.remove(&user).is_some() {
            self.order.retain(|u| *u != user);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }
}

/// Discord REST client; cheap to clone, and clones share the pacer and the DM channel cache.
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    api: String,
    auth: HeaderValue,
    pacer: Arc<Pacer>,
    policy: RetryPolicy,
    dm_channels: Arc<Mutex<DmCache>>,
    role_cache: Arc<Mutex<RoleCache>>,
    background: Arc<Mutex<Option<LaneSender>>>,
    /// DM channels remembered beyond this process (shared by every process, kept across restarts).
    dm_store: Option<(Store, SharedClock)>,
    /// The pacer's queue this client's requests wait in.
    lane: Lane,
}

/// Where posts for the background lane go: (channel, body).
type LaneSender = tokio::sync::mpsc::Sender<(u64, Value)>;

/// How many posts may wait in the background lane; beyond it a post is dropped (and logged).
pub const LANE_CAPACITY: usize = 1024;

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("api", &self.api)
            .field("auth", &"Bot ***")
            .field("pace", &self.pacer.interval())
            .finish()
    }
}

impl RestClient {
    /// A client sending to `{api_base}/api/v10/...`, paced at `pace_per_second` requests per second.
    pub fn new(api_base: &str, token: Secret, pace_per_second: u32) -> Result<Self, RestError> {
        Self::with_pacer(api_base, token, Arc::new(Pacer::new(pace_per_second)))
    }

    /// A client that shares an existing pacer (e.g. with another client of the same bot).
    pub fn with_pacer(api_base: &str, token: Secret, pacer: Arc<Pacer>) -> Result<Self, RestError> {
        let base = api_base.trim_end_matches('/');
        let parsed = url::Url::parse(base).map_err(|e| RestError::InvalidBase(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RestError::InvalidBase(format!(
                "unsupported scheme `{}`",
                parsed.scheme()
            )));
        }
        let mut auth = HeaderValue::from_str(&format!("Bot {}", token.expose())).map_err(|_| {
            RestError::InvalidBase("the bot token is not a valid header value".into())
        })?;
        auth.set_sensitive(true);
        let policy = RetryPolicy::default();
        let http = Self::build_http(&policy)?;
        Ok(Self {
            http,
            api: format!("{base}/api/v10"),
            auth,
            pacer,
            policy,
            dm_channels: Arc::new(Mutex::new(DmCache::new(DM_CACHE_CAPACITY))),
            role_cache: Arc::new(Mutex::new(RoleCache::default())),
            background: Arc::new(Mutex::new(None)),
            dm_store: None,
            lane: Lane::Urgent,
        })
    }

    /// This client with its requests in `lane` (sharing the pacer, the DM channels and the connections). A new
    /// client's lane is [`Lane::Urgent`]: commands and audit; the DM fan-out and the scheduler use [`Lane::Bulk`].
    pub fn in_lane(&self, lane: Lane) -> RestClient {
        RestClient {
            lane,
            ..self.clone()
        }
    }

    /// The lane this client's requests wait in.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// Reads DM channels from `store` before opening one and remembers each one opened there, so a returning
    /// invitee costs one request (the message), across restarts and processes. `clock` marks them used.
    pub fn with_dm_store(mut self, store: Store, clock: SharedClock) -> Self {
        self.dm_store = Some((store, clock));
        self
    }

    fn build_http(policy: &RetryPolicy) -> Result<reqwest::Client, RestError> {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(policy.request_timeout)
            .build()
            .map_err(|e| RestError::Transport(e.without_url().to_string()))
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Result<Self, RestError> {
        self.http = Self::build_http(&policy)?;
        self.policy = policy;
        Ok(self)
    }

    /// How this client retries.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The pacer every request of this client waits on.
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    /// Opens (or finds) the DM channel with a user: the most recent [`DM_CACHE_CAPACITY`] are remembered here, and
    /// all are read from and written to the store when there is one. A store that does not answer costs the request,
    /// nothing more.
    pub async fn create_dm(&self, user_id: u64) -> Result<u64, RestError> {
        if let Some(id) = self.cached_dm(user_id) {
            return Ok(id);
        }
        if let Some((store, clock)) = &self.dm_store {
            match store.dm_channel(user_id, clock.now()).await {
                Ok(Some(id)) => {
                    self.cache_dm(user_id, id);
                    return Ok(id);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, user_id, "cannot read the remembered DM channel; opening one")
                }
            }
        }
        let body = serde_json::json!({ "recipient_id": user_id.to_string() });
        let channel = self
            .request(Method::POST, "/users/@me/channels", Some(&body))
            .await?;
        let channel_id = id_field(&channel, "id")?;
        self.cache_dm(user_id, channel_id);
        if let Some((store, clock)) = &self.dm_store {
            if let Err(e) = store
                .remember_dm_channel(user_id, channel_id, clock.now())
                .await
            {
                tracing::debug!(error = %e, user_id, "cannot remember the DM channel");
            }
        }
        Ok(channel_id)
    }

    /// Forgets `channel_id` as `user_id`'s DM channel (Discord refused it), here and in the store; the next
    /// [`create_dm`](Self::create_dm) opens a fresh one.
    pub async fn forget_dm(&self, user_id: u64, channel_id: u64) {
        {
            let mut cache = self.dm_channels.lock().expect("dm cache lock");
            if cache.get(user_id) == Some(channel_id) {
                cache.remove(user_id);
            }
        }
        if let Some((store, _)) = &self.dm_store {
            if let Err(e) = store.forget_dm_channel(user_id, channel_id).await {
                tracing::debug!(error = %e, user_id, "cannot forget the DM channel");
            }
        }
    }

    fn cache_dm(&self, user_id: u64, channel_id: u64) {
        self.dm_channels
            .lock()
            .expect("dm cache lock")
            .insert(user_id, channel_id);
    }

    fn cached_dm(&self, user_id: u64) -> Option<u64> {
        self.dm_channels.lock().expect("dm cache lock").get(user_id)
    }

    /// Posts a message; returns the new message's id. The message carries a nonce Discord enforces (a random one
    /// unless `body` names its own, see [`with_nonce`]), so the retries after a 5xx or a timeout never post twice.
    pub async fn send_message(&self, channel_id: u64, body: &Value) -> Result<u64, RestError> {
        let path = format!("/channels/{channel_id}/messages");
        let mut body = with_nonce(body.clone());
        // Over Discord's limits the whole message would be refused: it is cut to fit instead.
        fit_message(&mut body);
        let msg = self.request(Method::POST, &path, Some(&body)).await?;
        id_field(&msg, "id")
    }

    /// Posts a message nobody waits for (an audit line) through a lane of its own: one worker sends them in order,
    /// paced like everything else, so the caller — a Join click, a command — answers at once whatever the DM fan-out
    /// or a 429 pause is doing. At most [`LANE_CAPACITY`] wait; a post beyond that is dropped and logged.
    pub fn post_in_background(&self, channel_id: u64, body: Value) {
        let mut lane = self.background.lock().expect("lane lock");
        let tx = lane.get_or_insert_with(|| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Value)>(LANE_CAPACITY);
            // The worker's client has no lane of its own, so it does not keep the channel open: the lane ends when
            // the last client that can post to it is gone.
            let mut worker = self.in_lane(Lane::Urgent);
            worker.background = Arc::new(Mutex::new(None));
            tokio::spawn(async move {
                while let Some((channel, body)) = rx.recv().await {
                    if let Err(e) = worker.send_message(channel, &body).await {
                        tracing::warn!(error = %e, channel, "could not post in the background");
                    }
                }
            });
            tx
        });
        // A nonce now, so the post keeps it through the worker's retries.
        if let Err(e) = tx.try_send((channel_id, with_nonce(body))) {
            tracing::warn!(channel = channel_id, error = %e, "background post lane full or closed; post dropped");
        }
    }

    /// Edits a message the bot sent (cut to fit Discord's limits, like a new one).
    pub async fn edit_message(
        &self,
        channel_id: u64,
        message_id: u64,
        body: &Value,
    ) -> Result<(), RestError> {
        let path = format!("/channels/{channel_id}/messages/{message_id}");
        let mut body = body.clone();
        fit_message(&mut body);
        self.request(Method::PATCH, &path, Some(&body)).await?;
        Ok(())
    }

    /// One guild member, or `None` when the user is not in the guild.
    pub async fn get_member(
        &self,
        guild_id: u64,
        user_id: u64,
    ) -> Result<Option<Member>, RestError> {
        let path = format!("/guilds/{guild_id}/members/{user_id}");
        match self.request(Method::GET, &path, None).await {
            Ok(v) => Member::from_json(guild_id, &v).map(Some),
            Err(RestError::UnknownMember) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every member of a guild, paged 1000 at a time (needs the GUILD_MEMBERS intent).
    pub async fn list_members(&self, guild_id: u64) -> Result<Vec<Member>, RestError> {
        let mut members = Vec::new();
        let mut after = 0u64;
        loop {
            let path = format!("/guilds/{guild_id}/members?limit={MEMBERS_PAGE}&after={after}");
            let page = self.request(Method::GET, &path, None).await?;
            let items = page
                .as_array()
                .ok_or_else(|| RestError::Decode("member list is not an array".into()))?;
            let count = items.len();
            for item in items {
                members.push(Member::from_json(guild_id, item)?);
            }
            // Discord pages by user id; a short page is the last one.
            let next = members.iter().map(|m| m.user_id).max().unwrap_or(after);
            if count < MEMBERS_PAGE || next <= after {
                break;
            }
            after = next;
        }
        Ok(members)
    }

    /// The members (bots left out) holding any of `roles`, listed page by page and **stopping as soon as more than
    /// `limit` were found**, so a role invite in a huge server reads only as much as the cap needs. Answers are kept
    /// for [`ROLE_CACHE_TTL`] per guild and role set (at most [`ROLE_CACHE_ENTRIES`] entries), so repeating the invite
    /// costs Discord nothing meanwhile.
    pub async fn members_with_roles(
        &self,
        guild_id: u64,
        roles: &[u64],
        limit: usize,
    ) -> Result<RoleMembers, RestError> {
        let mut key_roles = roles.to_vec();
        key_roles.sort_unstable();
        key_roles.dedup();
        let key = (guild_id, key_roles, limit);
        if let Some(hit) = self.role_cache.lock().expect("role cache lock").get(&key) {
            return Ok(hit);
        }
        let mut found = Vec::new();
        let mut after = 0u64;
        let complete = loop {
            let path = format!("/guilds/{guild_id}/members?limit={MEMBERS_PAGE}&after={after}");
            let page = self.request(Method::GET, &path, None).await?;
            let items = page
                .as_array()
                .ok_or_else(|| RestError::Decode("member list is not an array".into()))?;
            let mut next = after;
            for item in items {
                let m = Member::from_json(guild_id, item)?;
                next = next.max(m.user_id);
                if !m.bot && m.roles.iter().any(|r| key.1.contains(r)) {
                    found.push(m);
                }
            }
            if found.len() > limit {
                break false;
            }
            if items.len() < MEMBERS_PAGE || next <= after {
                break true;
            }
            after = next;
        };
        let result = RoleMembers {
            members: found,
            complete,
        };
        self.role_cache
            .lock()
            .expect("role cache lock")
            .put(key, result.clone());
        Ok(result)
    }

    /// The guild's roles.
    pub async fn get_roles(&self, guild_id: u64) -> Result<Vec<Role>, RestError> {
        let path = format!("/guilds/{guild_id}/roles");
        let v = self.request(Method::GET, &path, None).await?;
        let raw: Vec<RawRole> = serde_json::from_value(v).map_err(decode_error)?;
        Ok(raw
            .into_iter()
            .map(|r| Role {
                id: r.id,
                name: r.name,
                position: r.position,
                permissions: r.permissions,
                managed: r.managed,
                mentionable: r.mentionable,
            })
            .collect())
    }

    /// Any other call, e.g. scheduled events. `path` starts after `/api/v10`. An empty answer
    /// (204) is `Value::Null`. A 5xx or no answer is retried with backoff: use [`RestClient::request_once`] for a
    /// POST that Discord may have carried out although it answered 5xx, and that has no nonce.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        self.send(method, path, body, true).await
    }

    /// As [`RestClient::request`], but a 5xx or a missing answer is returned at once rather than retried: Discord
    /// may have done it, and only the caller can look. A 429 is still retried (Discord did nothing).
    pub async fn request_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        self.send(method, path, body, false).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry_unanswered: bool,
    ) -> Result<Value, RestError> {
        let max_server_retries = if retry_unanswered {
            self.policy.max_server_retries
        } else {
            0
        };
        let route = route_key(method.as_str(), path);
        // The metrics' template: ids and anything else not Discord's own word become placeholders.
        let template = crate::metrics::Route::of(method.as_str(), path);
        let url = format!("{}{}", self.api, path);
        let mut sent = 0u32;
        let mut rate_limited = 0u32;
        let mut failed = 0u32;
        loop {
            let waited = tokio::time::Instant::now();
            self.pacer.acquire_in(&route, self.lane).await;
            crate::metrics::pacer_wait(waited.elapsed());
            sent += 1;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header(AUTHORIZATION, self.auth.clone());
            if let Some(body) = body {
                req = req.json(body);
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    resp.bytes().await.map(|b| (status, headers, b))
                }
                Err(e) => Err(e),
            };
            let (status, headers, bytes) = match outcome {
                Ok(r) => r,
                Err(e) => {
                    crate::metrics::discord_request(
                        &template,
                        crate::metrics::RestStatus::Transport,
                    );
                    let cause = e.without_url().to_string();
                    if failed < max_server_retries {
                        failed += 1;
                        tracing::warn!(method = %method, route = %route, attempt = sent, error = %cause, "Discord request failed; retrying");
                        tokio::time::sleep(self.backoff(failed)).await;
                        continue;
                    }
                    tracing::warn!(method = %method, route = %route, attempt = sent, error = %cause, "Discord request failed; giving up");
                    return Err(RestError::Transport(cause));
                }
            };
            crate::metrics::discord_request(
                &template,
                crate::metrics::RestStatus::from_code(status.as_u16()),
            );
            self.pacer.observe(
                &route,
                header_str(&headers, "x-ratelimit-remaining").and_then(|v| v.parse().ok()),
                header_str(&headers, "x-ratelimit-reset-after")
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64),
            );
            if status.is_success() {
                tracing::debug!(method = %method, route = %route, status = status.as_u16(), "Discord request done");
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes).map_err(decode_error);
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let limit = parse_rate_limit(&headers, &bytes);
                tracing::warn!(
                    method = %method,
                    route = %route,
                    status = 429,
                    retry_after_ms = limit.retry_after.as_millis() as u64,
                    global = limit.global,
                    "Discord rate limit hit"
                );
                let scope = if limit.global {
                    crate::metrics::RateLimitScope::Global
                } else if header_str(&headers, "x-ratelimit-scope")
                    .is_some_and(|v| v.eq_ignore_ascii_case("shared"))
                {
                    crate::metrics::RateLimitScope::Shared
                } else {
                    crate::metrics::RateLimitScope::Route
                };
                crate::metrics::discord_rate_limited(&template, scope);
                if limit.global {
                    self.pacer.report_global_429(limit.retry_after).await;
                } else {
                    self.pacer.pause_route(&route, limit.retry_after);
                }
                if rate_limited >= self.policy.max_rate_limit_retries
                    || limit.retry_after > self.policy.max_retry_after
                {
                    return Err(RestError::RateLimited {
                        retry_after: limit.retry_after,
                        attempts: sent,
                    });
                }
                rate_limited += 1;
                continue;
            }
            if status.is_server_error() {
                if failed < max_server_retries {
                    failed += 1;
                    tracing::warn!(method = %method, route = %route, status = status.as_u16(), attempt = sent, "Discord server error; retrying");
                    tokio::time::sleep(self.backoff(failed)).await;
                    continue;
                }
                tracing::warn!(method = %method, route = %route, status = status.as_u16(), attempt = sent, "Discord server error; giving up");
                return Err(RestError::Server {
                    status: status.as_u16(),
                });
            }
            let err = classify(status, &bytes);
            tracing::info!(method = %method, route = %route, status = status.as_u16(), code = err.code().unwrap_or(0), "Discord refused the request");
            return Err(err);
        }
    }

    /// Exponential backoff with jitter, so clients that failed together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.policy.backoff_base;
        let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let jitter_ms = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=base.as_millis() as u64);
        exp + Duration::from_millis(jitter_ms)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dm_cache_keeps_at_most_its_capacity_dropping_the_oldest() {
        let mut c = super::DmCache::new(3);
        for u in 1..=5u64 {
            c.insert(u, u * 10);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(2), None);
        assert_eq!(c.get(5), Some(50));
        c.insert(5, 51);
        assert_eq!((c.len(), c.get(5), c.get(3)), (3, Some(51), Some(30)));
    }

    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limit_body_retry_after_wins_over_header_and_keeps_fractions() {
        let h = headers(&[("retry-after", "3")]);
        let rl = parse_rate_limit(
            &h,
            br#"{"message":"slow","retry_after":0.25,"global":false}"#,
        );
        assert_eq!(rl.retry_after, Duration::from_millis(250));
        assert!(!rl.global);
    }

    #[test]
    fn rate_limit_falls_back_to_header_and_reads_global_scope() {
        let h = headers(&[("retry-after", "2"), ("x-ratelimit-scope", "global")]);
        let rl = parse_rate_limit(&h, b"");
        assert_eq!(rl.retry_after, Duration::from_secs(2));
        assert!(rl.global);
        let rl = parse_rate_limit(&HeaderMap::new(), br#"{"retry_after":1.5,"global":true}"#);
        assert!(rl.global);
        assert_eq!(rl.retry_after, Duration::from_millis(1500));
    }

    #[test]
    fn closed_dms_and_unknown_member_are_recognised_by_code() {
        let b = br#"{"message":"Cannot send messages to this user","code":50007}"#;
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, b),
            RestError::DmsClosed
        ));
        let b = br#"{"message":"Missing Access","code":50001}"#;
        match classify(StatusCode::FORBIDDEN, b) {
            RestError::Forbidden { code, message } => {
                assert_eq!(code, 50001);
                assert_eq!(message, "Missing Access");
            }
            other => panic!("unexpected {other:?}"),
        }
        let b = br#"{"message":"Unknown Member","code":10007}"#;
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, b),
            RestError::UnknownMember
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, b""),
            RestError::Unauthorized
        ));
        let e = classify(
            StatusCode::BAD_REQUEST,
            br#"{"message":"Invalid Form Body","code":50035}"#,
        );
        assert_eq!((e.status(), e.code()), (Some(400), Some(50035)));
    }

    #[test]
    fn member_prefers_guild_avatar_and_nick_for_display() {
        let v = json!({
            "user": {"id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
                     "avatar": "8342729096ea3675442027381ff50dfe", "bot": false},
            "nick": "NL", "avatar": "a_1269e74af4df7417b13759eae50c83dc",
            "roles": ["41771983423143936", "41771983423143937"]
        });
        let m = Member::from_json(7, &v).unwrap();
        assert_eq!(m.user_id, 80351110224678912);
        assert_eq!(m.display_name(), "NL");
        assert_eq!(
            m.avatar_url.as_deref(),
            Some("https://cdn.discordapp.com/guilds/7/users/80351110224678912/avatars/a_1269e74af4df7417b13759eae50c83dc.gif")
        );
        assert_eq!(m.roles, vec![41771983423143936, 41771983423143937]);
    }

    #[test]
    fn member_without_nick_or_guild_avatar_falls_back_to_user_fields() {
        let v = json!({"user": {"id": "5", "username": "bob", "global_name": null,
                                 "avatar": "abc"}, "roles": []});
        let m = Member::from_json(1, &v).unwrap();
        assert_eq!(m.display_name(), "bob");
        assert_eq!(
            m.avatar_url.as_deref(),
            Some("https://cdn.discordapp.com/avatars/5/abc.png")
        );
        let v = json!({"user": {"id": "6", "username": "carl", "global_name": "Carl"}});
        let m = Member::from_json(1, &v).unwrap();
        assert_eq!(m.display_name(), "Carl");
        assert_eq!(m.avatar_url, None);
    }

    #[test]
    fn decode_errors_do_not_quote_the_response() {
        let v = json!({"user": {"id": "5", "username": "u", "bot": "https://meet.example/r?jwt=eyJsecret"}});
        let e = Member::from_json(1, &v).unwrap_err();
        assert!(matches!(e, RestError::Decode(_)));
        assert!(!e.to_string().contains("eyJsecret"), "{e}");
    }

    #[test]
    fn the_role_cache_is_bounded_and_forgets_the_oldest_first() {
        let mut c = RoleCache::default();
        let v = RoleMembers {
            members: Vec::new(),
            complete: true,
        };
        for g in 0..(ROLE_CACHE_ENTRIES as u64 + 10) {
            c.put((g, vec![1], 5), v.clone());
        }
        assert_eq!(c.entries.len(), ROLE_CACHE_ENTRIES);
        assert!(c.get(&(0, vec![1], 5)).is_none(), "the oldest went first");
        assert!(c
            .get(&(ROLE_CACHE_ENTRIES as u64 + 9, vec![1], 5))
            .is_some());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = RestClient::new("http://127.0.0.1:9", Secret::new("tok.en.secret"), 40).unwrap();
        let s = format!("{c:?}");
        assert!(!s.contains("tok.en.secret"), "{s}");
    }

    #[test]
    fn api_base_must_be_http_or_https() {
        assert!(matches!(
            RestClient::new("ftp://127.0.0.1", Secret::new("t"), 40),
            Err(RestError::InvalidBase(_))
        ));
        assert!(matches!(
            RestClient::new("not a url", Secret::new("t"), 40),
            Err(RestError::InvalidBase(_))
        ));
    }
}
