//! One `Config`: the defaults in `config/meetbot.toml`, an operator's file on top, then the environment.
//! Validated once at start; every problem names the setting and the fix. Secrets come only from the
//! environment and are held in [`Secret`], so no `Debug` of the configuration shows them.

use crate::jitsi::{Algorithm, JitsiSettings, LinkStyle, ModeratorClaims, Preset, SigningKey};
use crate::meeting::policy::{GuildPolicy, ModeratorPolicy, RoleRef};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// The defaults, compiled in: the shipped file is both the documentation and the default values.
pub const DEFAULT_TOML: &str = include_str!("../config/meetbot.toml");

/// The placeholder secret from Jitsi's examples; a server configured with it is open to anyone who read them.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "your_app_secret",
    "my_jitsi_app_secret",
    "changeme",
    "secret",
];

/// Everything the bot and the CLI need, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the settings came from, if any besides the defaults.
    pub source: Option<PathBuf>,
    /// Token engine settings.
    pub jitsi: JitsiSettings,
    /// Discord connection and policy.
    pub discord: DiscordSettings,
    /// Meeting defaults.
    pub meetings: MeetingSettings,
    /// Persistence.
    pub storage: StorageSettings,
    /// The scheduler.
    pub scheduler: SchedulerSettings,
    /// The tracing filter.
    pub log_filter: String,
    /// Things that work but deserve the operator's attention.
    pub warnings: Vec<String>,
}

/// When the bot registers its slash commands by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOnStart {
    /// Never; use `meetbot register`.
    Off,
    /// Globally (can take a while to show up in clients).
    Global,
    /// In one guild (instant; for testing).
    Guild(u64),
}

/// Discord side of the configuration.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    /// DISCORD_TOKEN; only `meetbot run` and `meetbot register` require it.
    pub token: Option<Secret>,
    /// Base URL for REST calls (DISCORD_API_BASE or `api_base`); `None` is Discord itself.
    pub api_base: Option<Url>,
    /// Command registration at start.
    pub register_on_start: RegisterOnStart,
    /// Who moderates and who may host, with per-guild overrides.
    pub policy: ModeratorPolicy,
    /// The bot's own global REST pace.
    pub requests_per_second: u32,
    /// DMs in flight at once.
    pub dm_concurrency: usize,
    /// Roles (besides moderators) whose members may `/invite` guests; a server's settings can replace them.
    pub guest_inviter_roles: Vec<RoleRef>,
    /// How long one person waits between two uses of `/meet` (or of `/invite`); zero turns it off.
    pub cooldown: Duration,
}

impl DiscordSettings {
    /// The REST base URL as a string without trailing slash.
    pub fn api_base_str(&self) -> String {
        match &self.api_base {
            Some(u) => u.as_str().trim_end_matches('/').to_string(),
            None => "https://discord.com".to_string(),
        }
    }
}

/// Meeting defaults.
#[derive(Debug, Clone)]
pub struct MeetingSettings {
    /// Length of a meeting when the command does not say.
    pub default_duration: Duration,
    /// The longest meeting one may ask for.
    pub max_duration: Duration,
    /// How long links work after the planned end.
    pub grace: Duration,
    /// How long before the start links open for scheduled meetings.
    pub join_window: Duration,
    /// How long before the start personal links are DMed.
    pub remind: Duration,
    /// Time zone for `when` when nothing else says.
    pub default_timezone: chrono_tz::Tz,
    /// How far ahead meetings may be scheduled.
    pub max_ahead: Duration,
    /// The longest a guest link may work, however long the meeting.
    pub guest_max_validity: Duration,
}

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// How long a claimed job stays leased to one instance.
    pub lease: Duration,
    /// The longest sleep between looks at the database.
    pub poll: Duration,
}

/// Persistence settings.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// `DATABASE_URL`, or a SQLite file under `data_dir`. May hold a password: masked.
    pub database_url: Secret,
    /// Where the SQLite file lives by default.
    pub data_dir: PathBuf,
}

/// One thing wrong with the configuration: which setting, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The setting, e.g. `JWT_APP_SECRET` or `token.algorithm`.
    pub setting: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

/// The configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has unknown settings.
    #[error("the configuration file {path} is not valid: {message}")]
    Parse {
        /// Which file.
        path: String,
        /// The parser's explanation.
        message: String,
    },
    /// One or more settings are wrong.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = format!(
        "the configuration has {} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  - ");
        out.push_str(&p.to_string());
    }
    out
}

/// Where to read settings from. The environment is passed in so tests need not touch the process's.
pub struct Sources<'a> {
    /// An explicit file (`--config`); else MEETBOT_CONFIG; else `config/meetbot.toml` when it exists.
    pub path: Option<PathBuf>,
    /// Reads one environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Sources<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }
}

/// Reads the process environment (after `.env` was loaded by the binary).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    jitsi: RawJitsi,
    token: RawToken,
    discord: RawDiscord,
    meetings: RawMeetings,
    scheduler: RawScheduler,
    storage: RawStorage,
    log: RawLog,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJitsi {
    preset: String,
    tenant: String,
    allow_insecure_url: bool,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    xmpp_domain: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    audience: String,
    algorithm: String,
    lifetime: String,
    nbf_backdate: String,
    link_style: String,
    moderator_claims: String,
    lobby_bypass_for_moderators: bool,
    include_email: bool,
    moderator_features: BTreeMap<String, bool>,
    member_features: BTreeMap<String, bool>,
    prejoin: String,
    prefill_display_name: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    api_base: String,
    register_on_start: String,
    moderator_roles: Vec<toml::Value>,
    administrators_are_moderators: bool,
    host_roles: Vec<toml::Value>,
    invitee_cap: i64,
    requests_per_second: i64,
    dm_concurrency: i64,
    guest_inviter_roles: Vec<toml::Value>,
    cooldown_seconds: i64,
    #[serde(default)]
    guilds: BTreeMap<String, RawGuild>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuild {
    moderator_roles: Option<Vec<toml::Value>>,
    host_roles: Option<Vec<toml::Value>>,
    administrators_are_moderators: Option<bool>,
    invitee_cap: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeetings {
    default_duration_minutes: i64,
    max_duration_minutes: i64,
    grace_minutes: i64,
    join_window_minutes: i64,
    remind_minutes: i64,
    default_timezone: String,
    max_days_ahead: i64,
    guest_max_validity: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduler {
    lease_seconds: i64,
    poll_seconds: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    data_dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: String,
}

impl Config {
    /// Loads and validates the configuration from the defaults, a file and the environment.
    pub fn load(sources: &Sources<'_>) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            DEFAULT_TOML
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: "built-in defaults".into(),
                    message: e.to_string(),
                })?;

        let path = sources
            .path
            .clone()
            .or_else(|| sources.var("MEETBOT_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("config/meetbot.toml");
                p.exists().then_some(p)
            });
        if let Some(p) = &path {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?;
            let file: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: p.display().to_string(),
                        message: e.to_string(),
                    })?;
            merge(&mut table, file);
        }

        let mut problems = Vec::new();
        apply_env_overrides(&mut table, sources, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }

        let raw: RawConfig =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the environment".into()),
                    message: e.to_string(),
                })?;

        build(raw, path, sources)
    }

    /// A human-readable summary of what the bot will do, secrets masked (`meetbot check`).
    pub fn describe(&self) -> String {
        let j = &self.jitsi;
        let d = &self.discord;
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<32} {v}\n"));
        line(
            "configuration file",
            self.source
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(built-in defaults)".into()),
        );
        line("jitsi preset", format!("{:?}", j.preset));
        line("meeting site", j.public_url.to_string());
        line(
            "tenant",
            j.tenant.clone().unwrap_or_else(|| "(none)".into()),
        );
        line("token iss (app id)", j.app_id.clone());
        line(
            "token sub",
            j.tenant.clone().unwrap_or_else(|| j.xmpp_domain.clone()),
        );
        line("token aud", j.audience.clone());
        line(
            "signing",
            match &j.key {
                SigningKey::Hmac(s) => format!(
                    "{:?} with JWT_APP_SECRET ({} bytes, ***)",
                    j.algorithm,
                    s.len()
                ),
                SigningKey::Rsa { kid, .. } => {
                    format!("{:?} with JWT_PRIVATE_KEY_FILE, kid {kid}", j.algorithm)
                }
            },
        );
        line(
            "token lifetime",
            humantime::format_duration(j.lifetime).to_string(),
        );
        line(
            "nbf back-dated by",
            humantime::format_duration(j.nbf_backdate).to_string(),
        );
        line(
            "link style",
            match j.link_style {
                LinkStyle::Query => "?jwt= (query)".into(),
                LinkStyle::Fragment => "#jwt= (fragment)".into(),
            },
        );
        line("moderator claims", format!("{:?}", j.moderator_claims));
        line(
            "lobby bypass for moderators",
            j.lobby_bypass_for_moderators.to_string(),
        );
        line("e-mail in tokens", j.include_email.to_string());
        line(
            "discord token",
            if d.token.is_some() {
                "set (***)".into()
            } else {
                "NOT SET (needed by `meetbot run`)".into()
            },
        );
        line("discord api base", mask_url(&d.api_base_str()));
        line(
            "command registration on start",
            format!("{:?}", d.register_on_start),
        );
        line("moderators", d.policy.describe_default());
        line(
            "REST pace",
            format!(
                "{} requests/s, {} DMs in flight",
                d.requests_per_second, d.dm_concurrency
            ),
        );
        line(
            "meeting length",
            format!(
                "{} default, {} at most",
                humantime::format_duration(self.meetings.default_duration),
                humantime::format_duration(self.meetings.max_duration)
            ),
        );
        line("database", mask_url(self.storage.database_url.expose()));
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}

/// Hides a password in a URL (database, proxy).
fn mask_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // Unparsed, the credentials cannot be told apart from the rest: hide all before the last `@`.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}://***{}", &url[..scheme_end], &url[at..])
            }
            _ => url.to_string(),
        },
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            // Feature maps and the per-guild table are replaced as a whole; sections merge key by key.
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if !is_leaf_table(&k) => {
                merge(b, o)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn is_leaf_table(key: &str) -> bool {
    key.ends_with("_features")
}

/// `MEETBOT_<SECTION>_<KEY>` overrides any setting of the file, typed by the setting's default.
fn apply_env_overrides(
    table: &mut toml::Table,
    sources: &Sources<'_>,
    problems: &mut Vec<Problem>,
) {
    for (section, value) in table.iter_mut() {
        let toml::Value::Table(section_table) = value else {
            continue;
        };
        for (key, current) in section_table.iter_mut() {
            let var = format!("MEETBOT_{}_{}", section.to_uppercase(), key.to_uppercase());
            let Some(text) = (sources.env)(&var) else {
                continue;
            };
            match typed_like(current, &text) {
                Ok(v) => *current = v,
                Err(why) => problems.push(Problem {
                    setting: var,
                    message: why,
                }),
            }
        }
    }
}

fn typed_like(current: &toml::Value, text: &str) -> Result<toml::Value, String> {
    use toml::Value as V;
    let text = text.trim();
    Ok(match current {
        V::String(_) => V::String(text.to_string()),
        V::Integer(_) => V::Integer(
            text.parse()
                .map_err(|_| format!("expected a whole number, got {text:?}"))?,
        ),
        V::Float(_) => V::Float(
            text.parse()
                .map_err(|_| format!("expected a number, got {text:?}"))?,
        ),
        V::Boolean(_) => V::Boolean(
            parse_bool(text).ok_or_else(|| format!("expected true or false, got {text:?}"))?,
        ),
        V::Array(_) => V::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| V::String(s.to_string()))
                .collect(),
        ),
        V::Table(_) => {
            let mut t = toml::Table::new();
            for pair in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("expected name=true,name=false pairs, got {pair:?}"))?;
                let b = parse_bool(v.trim())
                    .ok_or_else(|| format!("expected true or false for {k}, got {v:?}"))?;
                t.insert(k.trim().to_string(), V::Boolean(b));
            }
            V::Table(t)
        }
        V::Datetime(_) => return Err("date-time settings cannot be overridden".into()),
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_duration(setting: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Duration> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) => Some(d),
        Err(_) => {
            problems.push(Problem {
                setting: setting.into(),
                message: format!(
                    "{text:?} is not a duration; write it like \"2h\", \"90m\" or \"30s\""
                ),
            });
            None
        }
    }
}

fn parse_roles(setting: &str, values: &[toml::Value], problems: &mut Vec<Problem>) -> Vec<RoleRef> {
    let mut out = Vec::new();
    for v in values {
        match v {
            toml::Value::String(s) if !s.trim().is_empty() => out.push(RoleRef::parse(s)),
            toml::Value::Integer(i) if *i > 0 => out.push(RoleRef::Id(*i as u64)),
            other => problems.push(Problem {
                setting: setting.into(),
                message: format!("{other} is not a role name or id; write names as strings, e.g. [\"Moderators\"]"),
            }),
        }
    }
    out
}

fn positive(setting: &str, value: i64, max: i64, problems: &mut Vec<Problem>) -> i64 {
    if value < 1 || value > max {
        problems.push(Problem {
            setting: setting.into(),
            message: format!("{value} is out of range; use a number from 1 to {max}"),
        });
        1
    } else {
        value
    }
}

fn build(
    raw: RawConfig,
    source: Option<PathBuf>,
    env: &Sources<'_>,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let problem = |problems: &mut Vec<Problem>, setting: &str, message: String| {
        problems.push(Problem {
            setting: setting.into(),
            message,
        })
    };

    // --- Jitsi and tokens ---
    let preset = match raw.jitsi.preset.to_ascii_lowercase().as_str() {
        "self-hosted" | "selfhosted" | "self_hosted" => Preset::SelfHosted,
        "jaas" | "8x8" => Preset::Jaas,
        other => {
            problem(
                &mut problems,
                "jitsi.preset",
                format!("{other:?} is not a preset; use \"self-hosted\" or \"jaas\""),
            );
            Preset::SelfHosted
        }
    };

    let algorithm = match (preset, raw.token.algorithm.to_ascii_uppercase().as_str()) {
        (Preset::Jaas, _) => Algorithm::Rs256,
        (_, "HS256") => Algorithm::Hs256,
        (_, "RS256") => Algorithm::Rs256,
        (_, other) => {
            problem(
                &mut problems,
                "token.algorithm",
                format!("{other:?} is not supported; use \"HS256\" (JWT_APP_SECRET) or \"RS256\" (JWT_PRIVATE_KEY_FILE), the same as the Jitsi server"),
            );
            Algorithm::Hs256
        }
    };

    let key = load_key(preset, algorithm, env, &mut problems);

    let jaas_app_id = match (&key, preset) {
        (Some(SigningKey::Rsa { kid, .. }), Preset::Jaas) => {
            let app = kid.split('/').next().unwrap_or_default().to_string();
            if !app.starts_with("vpaas-magic-cookie-") || !kid.contains('/') {
                problem(
                    &mut problems,
                    "JWT_KID",
                    "a JaaS key id looks like vpaas-magic-cookie-<id>/<keyid>; copy it from the JaaS console's API Keys page".into(),
                );
            }
            Some(app)
        }
        _ => None,
    };

    let public_url_text = env
        .var("PUBLIC_URL")
        .or(raw.jitsi.public_url.clone().filter(|s| !s.is_empty()))
        .or_else(|| (preset == Preset::Jaas).then(|| "https://8x8.vc".to_string()));
    let mut tenant =
        Some(raw.jitsi.tenant.trim().trim_matches('/').to_string()).filter(|t| !t.is_empty());
    let public_url = match public_url_text.as_deref().map(Url::parse) {
        None => {
            problem(
                &mut problems,
                "PUBLIC_URL",
                "not set; put the address of your meeting site in the environment, e.g. PUBLIC_URL=https://meet.example.com".into(),
            );
            None
        }
        Some(Err(e)) => {
            problem(
                &mut problems,
                "PUBLIC_URL",
                format!("is not a URL ({e}); write it like https://meet.example.com"),
            );
            None
        }
        Some(Ok(mut u)) => {
            if u.scheme() != "https" && !(u.scheme() == "http" && raw.jitsi.allow_insecure_url) {
                problem(
                    &mut problems,
                    "PUBLIC_URL",
                    format!(
                        "must start with https:// (links carry tokens); got {}://. For a local test server only, set jitsi.allow_insecure_url = true",
                        u.scheme()
                    ),
                );
            }
            if u.host_str().is_none() {
                problem(
                    &mut problems,
                    "PUBLIC_URL",
                    "has no host name; write it like https://meet.example.com".into(),
                );
            }
            // A path on PUBLIC_URL is the tenant (https://host/<tenant>).
            let path = u.path().trim_matches('/').to_string();
            if !path.is_empty() {
                if path.contains('/') {
                    problem(&mut problems, "PUBLIC_URL", format!("has a path {path:?} with more than one segment; a tenant is a single segment"));
                } else if tenant.as_deref().is_some_and(|t| t != path) {
                    problem(
                        &mut problems,
                        "jitsi.tenant",
                        format!("{:?} disagrees with the tenant {path:?} in PUBLIC_URL; set one of them", tenant.as_deref().unwrap_or("")),
                    );
                } else {
                    tenant = Some(path);
                }
            }
            u.set_path("/");
            u.set_query(None);
            u.set_fragment(None);
            Some(u)
        }
    };
    if preset == Preset::Jaas {
        if let Some(app) = &jaas_app_id {
            if tenant.as_deref().is_some_and(|t| t != app) {
                problem(
                    &mut problems,
                    "jitsi.tenant",
                    format!("for JaaS the tenant is the AppID {app}; leave it empty"),
                );
            }
            tenant = Some(app.clone());
        }
    }
    if let Some(t) = &tenant {
        if !t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        {
            problem(
                &mut problems,
                "jitsi.tenant",
                format!("{t:?} is not a valid tenant; use lowercase letters, digits, '-', '_' or '.' only"),
            );
        }
    }

    let app_id = match preset {
        Preset::Jaas => jaas_app_id.clone().unwrap_or_default(),
        Preset::SelfHosted => {
            match env
                .var("JWT_APP_ID")
                .or(raw.jitsi.app_id.clone().filter(|s| !s.is_empty()))
            {
                Some(id) => id,
                None => {
                    problem(
                    &mut problems,
                    "JWT_APP_ID",
                    "not set; use the `app_id` of your Prosody VirtualHost (docker-jitsi-meet: JWT_APP_ID in its .env)".into(),
                );
                    String::new()
                }
            }
        }
    };

    let xmpp_domain = match env.var("XMPP_DOMAIN").or(raw
        .jitsi
        .xmpp_domain
        .clone()
        .filter(|s| !s.is_empty()))
    {
        Some(d) => d,
        None => {
            let host = public_url
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            if preset == Preset::SelfHosted && tenant.is_none() {
                warnings.push(format!(
                    "XMPP_DOMAIN is not set; tokens use the public host {host:?} as `sub`. On docker-jitsi-meet the XMPP domain is \"meet.jitsi\": set XMPP_DOMAIN=meet.jitsi"
                ));
            }
            host
        }
    };

    let lifetime = parse_duration("token.lifetime", &raw.token.lifetime, &mut problems);
    if let Some(l) = lifetime {
        if l < Duration::from_secs(60) || l > Duration::from_secs(7 * 24 * 3600) {
            problem(
                &mut problems,
                "token.lifetime",
                "must be between 1m and 7d; tokens are meant to be short-lived".into(),
            );
        } else if l > Duration::from_secs(24 * 3600) {
            warnings
                .push("token.lifetime is over a day; a leaked link stays usable that long".into());
        }
    }
    let nbf_backdate = parse_duration("token.nbf_backdate", &raw.token.nbf_backdate, &mut problems);
    if nbf_backdate.is_some_and(|d| d > Duration::from_secs(3600)) {
        problem(
            &mut problems,
            "token.nbf_backdate",
            "must be at most 1h; 30s covers ordinary clock skew".into(),
        );
    }
    let link_style = match raw.token.link_style.to_ascii_lowercase().as_str() {
        "query" => LinkStyle::Query,
        "fragment" => LinkStyle::Fragment,
        other => {
            problem(
                &mut problems,
                "token.link_style",
                format!("{other:?} is not a link style; use \"query\" or \"fragment\""),
            );
            LinkStyle::Query
        }
    };
    let moderator_claims = match (
        preset,
        raw.token.moderator_claims.to_ascii_lowercase().as_str(),
    ) {
        (Preset::Jaas, _) => ModeratorClaims::Jaas,
        (_, "all") => ModeratorClaims::All,
        (_, "jaas") => ModeratorClaims::Jaas,
        (_, other) => {
            problem(
                &mut problems,
                "token.moderator_claims",
                format!("{other:?} is not a claim style; use \"all\" or \"jaas\""),
            );
            ModeratorClaims::All
        }
    };
    let prejoin = match raw.token.prejoin.to_ascii_lowercase().as_str() {
        "" => None,
        other => match parse_bool(other) {
            Some(b) => Some(b),
            None => {
                problem(
                    &mut problems,
                    "token.prejoin",
                    format!("{other:?}: use \"\", \"on\" or \"off\""),
                );
                None
            }
        },
    };
    let audience = raw.token.audience.trim().to_string();
    if audience.is_empty() {
        problem(
            &mut problems,
            "token.audience",
            "must not be empty: Jitsi requires an `aud` claim; use \"jitsi\"".into(),
        );
    }

    // --- Discord ---
    let token = env.var("DISCORD_TOKEN").map(Secret::new);
    if let Some(t) = &token {
        if let Err(why) = check_discord_token_shape(t.expose()) {
            problem(&mut problems, "DISCORD_TOKEN", why);
        }
    }
    let api_base_text = env
        .var("DISCORD_API_BASE")
        .or(Some(raw.discord.api_base.clone()).filter(|s| !s.is_empty()));
    let api_base = match api_base_text.as_deref().map(Url::parse) {
        None => None,
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        Some(_) => {
            problem(
                &mut problems,
                "DISCORD_API_BASE",
                "is not an http(s) URL; write it like http://127.0.0.1:8080".into(),
            );
            None
        }
    };
    let register_on_start = match raw
        .discord
        .register_on_start
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "off" | "false" | "no" => RegisterOnStart::Off,
        "global" => RegisterOnStart::Global,
        other => match other.parse::<u64>() {
            Ok(id) if id > 0 => RegisterOnStart::Guild(id),
            _ => {
                problem(
                    &mut problems,
                    "discord.register_on_start",
                    format!("{other:?}: use \"off\", \"global\" or a guild id"),
                );
                RegisterOnStart::Off
            }
        },
    };
    let moderator_roles = parse_roles(
        "discord.moderator_roles",
        &raw.discord.moderator_roles,
        &mut problems,
    );
    let host_roles = parse_roles("discord.host_roles", &raw.discord.host_roles, &mut problems);
    let guest_inviter_roles = parse_roles(
        "discord.guest_inviter_roles",
        &raw.discord.guest_inviter_roles,
        &mut problems,
    );
    if !(0..=86_400).contains(&raw.discord.cooldown_seconds) {
        problem(
            &mut problems,
            "discord.cooldown_seconds",
            "use a number of seconds from 0 (off) to 86400".into(),
        );
    }
    let invitee_cap = positive(
        "discord.invitee_cap",
        raw.discord.invitee_cap,
        1000,
        &mut problems,
    ) as usize;
    let default_policy = GuildPolicy {
        moderator_roles,
        host_roles,
        administrators_are_moderators: raw.discord.administrators_are_moderators,
        invitee_cap,
    };
    let mut overrides = HashMap::new();
    for (gid, g) in &raw.discord.guilds {
        let Ok(id) = gid.parse::<u64>() else {
            problem(
                &mut problems,
                &format!("discord.guilds.{gid}"),
                "guild keys must be guild ids (numbers)".into(),
            );
            continue;
        };
        let base = default_policy.clone();
        let p = GuildPolicy {
            moderator_roles: g
                .moderator_roles
                .as_ref()
                .map(|r| {
                    parse_roles(
                        &format!("discord.guilds.{gid}.moderator_roles"),
                        r,
                        &mut problems,
                    )
                })
                .unwrap_or(base.moderator_roles),
            host_roles: g
                .host_roles
                .as_ref()
                .map(|r| {
                    parse_roles(
                        &format!("discord.guilds.{gid}.host_roles"),
                        r,
                        &mut problems,
                    )
                })
                .unwrap_or(base.host_roles),
            administrators_are_moderators: g
                .administrators_are_moderators
                .unwrap_or(base.administrators_are_moderators),
            invitee_cap: g
                .invitee_cap
                .map(|c| {
                    positive(
                        &format!("discord.guilds.{gid}.invitee_cap"),
                        c,
                        1000,
                        &mut problems,
                    ) as usize
                })
                .unwrap_or(base.invitee_cap),
        };
        overrides.insert(id, p);
    }
    if default_policy.moderator_roles.is_empty() && !default_policy.administrators_are_moderators {
        warnings.push(
            "no moderator roles and administrators_are_moderators = false: nobody will get a moderator token".into(),
        );
    }
    let requests_per_second = positive(
        "discord.requests_per_second",
        raw.discord.requests_per_second,
        50,
        &mut problems,
    ) as u32;
    let dm_concurrency = positive(
        "discord.dm_concurrency",
        raw.discord.dm_concurrency,
        64,
        &mut problems,
    ) as usize;

    // --- Meetings and storage ---
    let default_minutes = positive(
        "meetings.default_duration_minutes",
        raw.meetings.default_duration_minutes,
        24 * 60,
        &mut problems,
    );
    if (1..crate::meeting::request::MIN_MINUTES).contains(&default_minutes) {
        problem(
            &mut problems,
            "meetings.default_duration_minutes",
            format!(
                "{default_minutes} is shorter than the {} minutes /meet accepts; use at least that",
                crate::meeting::request::MIN_MINUTES
            ),
        );
    }
    let max_minutes = positive(
        "meetings.max_duration_minutes",
        raw.meetings.max_duration_minutes,
        7 * 24 * 60,
        &mut problems,
    );
    if default_minutes > max_minutes {
        problem(
            &mut problems,
            "meetings.default_duration_minutes",
            format!(
                "{default_minutes} is longer than meetings.max_duration_minutes ({max_minutes})"
            ),
        );
    }
    let grace = positive(
        "meetings.grace_minutes",
        raw.meetings.grace_minutes.max(1),
        24 * 60,
        &mut problems,
    );
    let join_window = positive(
        "meetings.join_window_minutes",
        raw.meetings.join_window_minutes.max(1),
        24 * 60,
        &mut problems,
    );
    if raw.meetings.remind_minutes < 0 || raw.meetings.remind_minutes > 7 * 24 * 60 {
        problem(
            &mut problems,
            "meetings.remind_minutes",
            "use a number of minutes from 0 to 10080".into(),
        );
    }
    let default_timezone = match raw.meetings.default_timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz,
        Err(_) => {
            problem(
                &mut problems,
                "meetings.default_timezone",
                format!(
                    "{:?} is not an IANA time zone; write it like \"Europe/Berlin\" or \"UTC\"",
                    raw.meetings.default_timezone
                ),
            );
            chrono_tz::UTC
        }
    };
    let max_days = positive(
        "meetings.max_days_ahead",
        raw.meetings.max_days_ahead,
        5 * 366,
        &mut problems,
    );
    let guest_max_validity = parse_duration(
        "meetings.guest_max_validity",
        &raw.meetings.guest_max_validity,
        &mut problems,
    )
    .unwrap_or(Duration::from_secs(86_400));
    if guest_max_validity < Duration::from_secs(60)
        || guest_max_validity > Duration::from_secs(30 * 86_400)
    {
        problem(
            &mut problems,
            "meetings.guest_max_validity",
            "use a duration from 1m to 30 days, e.g. \"24h\"".into(),
        );
    }
    let lease = positive(
        "scheduler.lease_seconds",
        raw.scheduler.lease_seconds,
        3600,
        &mut problems,
    );
    let poll = positive(
        "scheduler.poll_seconds",
        raw.scheduler.poll_seconds,
        600,
        &mut problems,
    );
    let data_dir = PathBuf::from(raw.storage.data_dir);
    let database_url = env.var("DATABASE_URL").unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("meetbot.db").display()
        )
    });
    let postgres =
        database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
    if !(database_url.starts_with("sqlite:") || postgres) {
        problem(
            &mut problems,
            "DATABASE_URL",
            "use sqlite://PATH or postgres://USER@HOST/DB".into(),
        );
    } else if postgres {
        // The URL may hold a password, so the parser's reason is given, never the text.
        if let Err(e) = Url::parse(&database_url) {
            problem(
                &mut problems,
                "DATABASE_URL",
                format!("is not a valid URL ({e}); write it like postgres://USER:PASSWORD@HOST:5432/DB, percent-encoding special characters in the password"),
            );
        }
    }

    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let (Some(key), Some(public_url), Some(lifetime), Some(nbf_backdate)) =
        (key, public_url, lifetime, nbf_backdate)
    else {
        // Every `None` above pushed a problem, so this cannot be reached with an empty list.
        return Err(ConfigError::Invalid(vec![Problem {
            setting: "configuration".into(),
            message: "incomplete".into(),
        }]));
    };

    Ok(Config {
        source,
        jitsi: JitsiSettings {
            preset,
            public_url,
            tenant,
            app_id,
            xmpp_domain,
            audience,
            algorithm,
            key,
            lifetime,
            nbf_backdate,
            link_style,
            moderator_claims,
            lobby_bypass_for_moderators: raw.token.lobby_bypass_for_moderators,
            moderator_features: raw.token.moderator_features,
            member_features: raw.token.member_features,
            include_email: raw.token.include_email,
            prejoin,
            prefill_display_name: raw.token.prefill_display_name,
        },
        discord: DiscordSettings {
            token,
            api_base,
            register_on_start,
            policy: ModeratorPolicy::new(default_policy, overrides),
            requests_per_second,
            dm_concurrency,
            guest_inviter_roles,
            cooldown: Duration::from_secs(raw.discord.cooldown_seconds.clamp(0, 86_400) as u64),
        },
        meetings: MeetingSettings {
            default_duration: Duration::from_secs(default_minutes as u64 * 60),
            max_duration: Duration::from_secs(max_minutes as u64 * 60),
            grace: Duration::from_secs(grace as u64 * 60),
            join_window: Duration::from_secs(join_window as u64 * 60),
            remind: Duration::from_secs(
                raw.meetings.remind_minutes.clamp(0, 7 * 24 * 60) as u64 * 60,
            ),
            default_timezone,
            max_ahead: Duration::from_secs(max_days as u64 * 86400),
            guest_max_validity,
        },
        scheduler: SchedulerSettings {
            lease: Duration::from_secs(lease as u64),
            poll: Duration::from_secs(poll as u64),
        },
        storage: StorageSettings {
            database_url: Secret::new(database_url),
            data_dir,
        },
        log_filter: raw.log.level,
        warnings,
    })
}

fn load_key(
    preset: Preset,
    algorithm: Algorithm,
    env: &Sources<'_>,
    problems: &mut Vec<Problem>,
) -> Option<SigningKey> {
    match algorithm {
        Algorithm::Hs256 => {
            let Some(secret) = env.var("JWT_APP_SECRET") else {
                problems.push(Problem {
                    setting: "JWT_APP_SECRET".into(),
                    message: "not set; put the `app_secret` of your Prosody VirtualHost in the environment (docker-jitsi-meet: JWT_APP_SECRET in its .env). Generate one with `openssl rand -hex 32`".into(),
                });
                return None;
            };
            if PLACEHOLDER_SECRETS
                .iter()
                .any(|p| secret.eq_ignore_ascii_case(p))
            {
                problems.push(Problem {
                    setting: "JWT_APP_SECRET".into(),
                    message: "is the placeholder from Jitsi's examples; anyone who read them can mint tokens for your server. Set a random secret on both sides (`openssl rand -hex 32`)".into(),
                });
                return None;
            }
            if secret.len() < 32 {
                problems.push(Problem {
                    setting: "JWT_APP_SECRET".into(),
                    message: format!(
                        "is {} bytes; an HS256 secret needs at least 32 bytes to resist guessing. Generate one with `openssl rand -hex 32` and set it on the Jitsi server too",
                        secret.len()
                    ),
                });
                return None;
            }
            Some(SigningKey::Hmac(Secret::new(secret)))
        }
        Algorithm::Rs256 => {
            let kid = env.var("JWT_KID");
            let file = env.var("JWT_PRIVATE_KEY_FILE");
            if kid.is_none() {
                problems.push(Problem {
                    setting: "JWT_KID".into(),
                    message: if preset == Preset::Jaas {
                        "not set; JaaS needs the key id vpaas-magic-cookie-<id>/<keyid> from its console".into()
                    } else {
                        "not set; RS256 needs the key id under which the Jitsi server finds the public key".into()
                    },
                });
            }
            let Some(file) = file else {
                problems.push(Problem {
                    setting: "JWT_PRIVATE_KEY_FILE".into(),
                    message: "not set; RS256 needs the path of the PEM private key".into(),
                });
                return None;
            };
            let pem = match std::fs::read_to_string(Path::new(&file)) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(Problem {
                        setting: "JWT_PRIVATE_KEY_FILE".into(),
                        message: format!("cannot read {file}: {e}"),
                    });
                    return None;
                }
            };
            if !pem.contains("PRIVATE KEY-----")
                || jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_err()
            {
                problems.push(Problem {
                    setting: "JWT_PRIVATE_KEY_FILE".into(),
                    message: format!("{file} is not an RSA private key in PEM form (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"),
                });
                return None;
            }
            Some(SigningKey::Rsa {
                private_pem: Secret::new(pem),
                kid: kid?,
            })
        }
    }
}

/// A bot token is three dot-separated base64url parts; catching a pasted client secret or an empty value here gives
/// a clear message instead of a gateway close code later.
pub fn check_discord_token_shape(token: &str) -> Result<(), String> {
    let t = token.trim();
    let t = t.strip_prefix("Bot ").unwrap_or(t);
    let parts: Vec<&str> = t.split('.').collect();
    let ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err("does not look like a bot token (three parts separated by dots). Copy it from the Developer Portal: your application → Bot → Reset Token".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn load_with(vars: &[(&str, &str)], path: Option<PathBuf>) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| map.get(k).cloned();
        // An explicit path that does not exist is an error, so point at the defaults when none is given.
        let path = path.or_else(|| {
            Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/config/meetbot.toml"
            )))
        });
        Config::load(&Sources { path, env: &env })
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("JWT_APP_ID", "meetbot"),
            ("JWT_APP_SECRET", SECRET),
            ("PUBLIC_URL", "https://meet.example.com"),
            ("XMPP_DOMAIN", "meet.jitsi"),
        ]
    }

    fn problems(r: Result<Config, ConfigError>) -> Vec<Problem> {
        match r {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    fn with(
        mut vars: Vec<(&'static str, &'static str)>,
        k: &'static str,
        v: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        vars.retain(|(key, _)| *key != k);
        vars.push((k, v));
        vars
    }

    #[test]
    fn defaults_with_the_four_jitsi_variables_make_a_working_config() {
        let c = load_with(&base(), None).unwrap();
        assert_eq!(c.jitsi.app_id, "meetbot");
        assert_eq!(c.jitsi.audience, "jitsi");
        assert_eq!(c.jitsi.algorithm, Algorithm::Hs256);
        assert_eq!(c.jitsi.lifetime, Duration::from_secs(7200));
        assert_eq!(c.jitsi.nbf_backdate, Duration::from_secs(30));
        assert_eq!(c.jitsi.link_style, LinkStyle::Query);
        assert_eq!(c.jitsi.moderator_claims, ModeratorClaims::All);
        assert!(!c.jitsi.include_email);
        assert!(!c.jitsi.lobby_bypass_for_moderators);
        assert_eq!(c.jitsi.public_url.as_str(), "https://meet.example.com/");
        assert_eq!(c.jitsi.tenant, None);
        assert!(c.discord.token.is_none());
        assert_eq!(c.discord.requests_per_second, 40);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn missing_secret_names_the_variable_and_the_fix() {
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "JWT_APP_SECRET")
            .collect();
        let p = problems(load_with(&vars, None));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].setting, "JWT_APP_SECRET");
        assert!(p[0].message.contains("openssl rand -hex 32"));
    }

    #[test]
    fn the_placeholder_secret_from_jitsi_examples_is_refused() {
        let p = problems(load_with(
            &with(base(), "JWT_APP_SECRET", "your_app_secret"),
            None,
        ));
        assert_eq!(p[0].setting, "JWT_APP_SECRET");
        assert!(p[0].message.contains("placeholder"));
    }

    #[test]
    fn a_short_hs256_secret_is_refused_without_echoing_it() {
        let err =
            load_with(&with(base(), "JWT_APP_SECRET", "tooshort-but-secret"), None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("JWT_APP_SECRET: is 19 bytes"), "{text}");
        assert!(!text.contains("tooshort-but-secret"));
    }

    #[test]
    fn plain_http_public_url_is_refused_unless_allowed() {
        let vars = with(base(), "PUBLIC_URL", "http://localhost:8000");
        let p = problems(load_with(&vars, None));
        assert_eq!(p[0].setting, "PUBLIC_URL");
        assert!(p[0].message.contains("https://"));
        let allowed = with(vars, "MEETBOT_JITSI_ALLOW_INSECURE_URL", "true");
        assert_eq!(
            load_with(&allowed, None).unwrap().jitsi.public_url.as_str(),
            "http://localhost:8000/"
        );
    }

    #[test]
    fn a_path_on_public_url_is_the_tenant() {
        let c = load_with(
            &with(base(), "PUBLIC_URL", "https://meet.example.com/team-a/"),
            None,
        )
        .unwrap();
        assert_eq!(c.jitsi.tenant.as_deref(), Some("team-a"));
        assert_eq!(c.jitsi.public_url.as_str(), "https://meet.example.com/");
    }

    #[test]
    fn a_malformed_tenant_is_refused() {
        let p = problems(load_with(
            &with(base(), "MEETBOT_JITSI_TENANT", "Team A"),
            None,
        ));
        assert_eq!(p[0].setting, "jitsi.tenant");
    }

    #[test]
    fn an_unknown_algorithm_is_refused() {
        let p = problems(load_with(
            &with(base(), "MEETBOT_TOKEN_ALGORITHM", "HS512"),
            None,
        ));
        assert_eq!(p[0].setting, "token.algorithm");
        assert!(p[0].message.contains("HS256"));
    }

    #[test]
    fn rs256_with_an_unreadable_key_file_names_the_file() {
        let vars = with(
            with(
                with(base(), "MEETBOT_TOKEN_ALGORITHM", "RS256"),
                "JWT_KID",
                "k1",
            ),
            "JWT_PRIVATE_KEY_FILE",
            "/nonexistent/key.pem",
        );
        let p = problems(load_with(&vars, None));
        assert_eq!(p[0].setting, "JWT_PRIVATE_KEY_FILE");
        assert!(p[0].message.contains("/nonexistent/key.pem"));
    }

    #[test]
    fn rs256_with_a_public_key_instead_of_a_private_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pub.pem");
        std::fs::write(
            &f,
            "-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let path: &'static str = Box::leak(f.display().to_string().into_boxed_str());
        let vars = with(
            with(
                with(base(), "MEETBOT_TOKEN_ALGORITHM", "RS256"),
                "JWT_KID",
                "k1",
            ),
            "JWT_PRIVATE_KEY_FILE",
            path,
        );
        let p = problems(load_with(&vars, None));
        assert!(p[0].message.contains("not an RSA private key"), "{:?}", p);
    }

    #[test]
    fn guest_and_abuse_limit_settings_load_with_defaults_and_are_range_checked() {
        let c = load_with(&base(), None).unwrap();
        assert_eq!(
            c.meetings.guest_max_validity,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(c.discord.cooldown, Duration::from_secs(10));
        assert!(c.discord.guest_inviter_roles.is_empty());
        let vars = with(
            with(base(), "MEETBOT_DISCORD_GUEST_INVITER_ROLES", "Speakers"),
            "MEETBOT_MEETINGS_GUEST_MAX_VALIDITY",
            "2h",
        );
        let c = load_with(&vars, None).unwrap();
        assert_eq!(
            c.discord.guest_inviter_roles,
            vec![RoleRef::Name("Speakers".into())]
        );
        assert_eq!(c.meetings.guest_max_validity, Duration::from_secs(7200));
        let bad = with(
            with(base(), "MEETBOT_DISCORD_COOLDOWN_SECONDS", "-1"),
            "MEETBOT_MEETINGS_GUEST_MAX_VALIDITY",
            "90days",
        );
        let settings: Vec<String> = problems(load_with(&bad, None))
            .into_iter()
            .map(|p| p.setting)
            .collect();
        assert_eq!(
            settings,
            vec!["discord.cooldown_seconds", "meetings.guest_max_validity"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = problems(load_with(&[("MEETBOT_TOKEN_LIFETIME", "forever")], None));
        let settings: Vec<&str> = p.iter().map(|p| p.setting.as_str()).collect();
        for s in [
            "JWT_APP_SECRET",
            "PUBLIC_URL",
            "JWT_APP_ID",
            "token.lifetime",
        ] {
            assert!(settings.contains(&s), "{s} missing from {settings:?}");
        }
    }

    #[test]
    fn environment_overrides_are_typed_by_the_default() {
        let vars = with(
            with(
                with(base(), "MEETBOT_TOKEN_LIFETIME", "90m"),
                "MEETBOT_DISCORD_MODERATOR_ROLES",
                "Staff, 123456789012345678",
            ),
            "MEETBOT_TOKEN_MODERATOR_FEATURES",
            "recording=true,livestreaming=false",
        );
        let c = load_with(&vars, None).unwrap();
        assert_eq!(c.jitsi.lifetime, Duration::from_secs(90 * 60));
        assert_eq!(
            c.discord.policy.default_policy().moderator_roles,
            vec![
                RoleRef::Name("Staff".into()),
                RoleRef::Id(123456789012345678)
            ]
        );
        assert_eq!(c.jitsi.moderator_features.get("recording"), Some(&true));
        assert_eq!(
            c.jitsi.moderator_features.get("livestreaming"),
            Some(&false)
        );
        let p = problems(load_with(
            &with(base(), "MEETBOT_DISCORD_INVITEE_CAP", "lots"),
            None,
        ));
        assert_eq!(p[0].setting, "MEETBOT_DISCORD_INVITEE_CAP");
    }

    #[test]
    fn an_operators_file_overrides_defaults_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.toml");
        std::fs::write(&f, "[token]\nlink_style = \"fragment\"\n[discord.guilds.42]\nmoderator_roles = [\"Staff\"]\n").unwrap();
        let c = load_with(&base(), Some(f.clone())).unwrap();
        assert_eq!(c.jitsi.link_style, LinkStyle::Fragment);
        assert_eq!(c.jitsi.audience, "jitsi", "unset keys keep their defaults");
        assert_eq!(
            c.discord.policy.for_guild(42).moderator_roles,
            vec![RoleRef::Name("Staff".into())]
        );
        std::fs::write(&f, "[token]\nlifetme = \"1h\"\n").unwrap();
        let err = load_with(&base(), Some(f)).unwrap_err().to_string();
        assert!(err.contains("lifetme"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_debug_or_describe() {
        let vars = with(
            with(base(), "DISCORD_TOKEN", "MTAx.Gabc12.secretpart_xyz"),
            "DATABASE_URL",
            "postgres://bot:pw-hunter2@127.0.0.1/db",
        );
        let c = load_with(&vars, None).unwrap();
        for text in [format!("{c:?}"), c.describe()] {
            assert!(!text.contains(SECRET));
            assert!(!text.contains("secretpart_xyz"));
            assert!(!text.contains("pw-hunter2"));
        }
        assert!(c.describe().contains("postgres://bot:***@127.0.0.1/db"));
    }

    #[test]
    fn credentials_are_masked_even_in_urls_that_do_not_parse() {
        assert_eq!(
            mask_url("postgres://bot:pw@127.0.0.1/db"),
            "postgres://bot:***@127.0.0.1/db"
        );
        assert_eq!(
            mask_url("postgres://bot:pw-x@127.0.0.1:notaport/db"),
            "postgres://***@127.0.0.1:notaport/db"
        );
        assert_eq!(mask_url("sqlite://data/m.db"), "sqlite://data/m.db");
    }

    #[test]
    fn an_unparseable_postgres_url_is_refused_without_echoing_it() {
        let p = problems(load_with(
            &with(
                base(),
                "DATABASE_URL",
                "postgres://bot:pw-hunter2@127.0.0.1:notaport/db",
            ),
            None,
        ));
        assert_eq!(p[0].setting, "DATABASE_URL");
        assert!(!p[0].message.contains("pw-hunter2"), "{}", p[0].message);
    }

    #[test]
    fn a_malformed_discord_token_is_reported() {
        let p = problems(load_with(
            &with(base(), "DISCORD_TOKEN", "not a token"),
            None,
        ));
        assert_eq!(p[0].setting, "DISCORD_TOKEN");
        assert!(!p[0].message.contains("not a token"));
    }

    #[test]
    fn a_default_duration_shorter_than_meet_accepts_is_refused() {
        let p = problems(load_with(
            &with(base(), "MEETBOT_MEETINGS_DEFAULT_DURATION_MINUTES", "3"),
            None,
        ));
        assert_eq!(p[0].setting, "meetings.default_duration_minutes");
    }

    #[test]
    fn missing_xmpp_domain_falls_back_to_the_host_with_a_warning() {
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "XMPP_DOMAIN")
            .collect();
        let c = load_with(&vars, None).unwrap();
        assert_eq!(c.jitsi.xmpp_domain, "meet.example.com");
        assert!(c.warnings[0].contains("meet.jitsi"));
    }
}
