//! One `Config`: the defaults in `config/meetbot.toml`, an operator's file on top, then the environment.
//! Validated once at start; every problem names the setting and the fix. Secrets come only from the
//! environment and are held in [`Secret`], so no `Debug` of the configuration shows them.
//!
//! [`Config::load`] (in `load.rs`) runs the rooms in order: `file` (the compiled-in defaults, the operator's file merged over them,
//! the raw structs), `env` (`MEETBOT_<SECTION>_<KEY>` overrides and the variables read by name), `validate` (raw
//! values into the types below, every problem collected). This file holds the types the rest of the program reads.
//!
//! # Adding a setting
//! 1. `config/meetbot.toml`: the key with its default, and a comment saying what it does, its unit and its range;
//!    that file is both the operator's documentation and the compiled-in default. A new section is a new `[table]`.
//!    For "not set", default to `""` (as `discord.api_base` does) rather than leaving the key out, so
//!    step 3 gives it a variable.
//! 2. `file.rs`: the raw field in the section's `Raw*` struct, typed as TOML writes it (`i64`, `bool`, `String` for
//!    durations and choices); a new section gets its `Raw*` struct and a field of `RawConfig`. No
//!    `#[serde(default)]`: the defaults always supply the key, and `deny_unknown_fields` refuses one missing here.
//! 3. The environment: nothing to write. Every key the defaults give a section gets `MEETBOT_<SECTION>_<KEY>`,
//!    typed like its default (lists comma-separated). Keyed tables (`[discord.guilds.<id>]`, or one table per
//!    tenant) stay out of the defaults (commented examples only) as a `#[serde(default)]` map: they are file only,
//!    since an override is typed by a default they do not have. A secret never goes in the file: read it in
//!    `env::Vars` (docker-jitsi-meet's name when it has one), hold it in a [`Secret`], list it at the top of
//!    `config/meetbot.toml`.
//! 4. `validate.rs`: in the section's function, turn the raw value into its type, pushing a [`Problem`] that names
//!    the setting (`section.key`, or the variable) and the fix; `positive` and `parse_duration` cover the usual
//!    ranges. Keep going after a problem: every problem is reported at once.
//! 5. Here: the typed field, with a one-line doc comment, in the section's `*Settings` struct (a new section: a new
//!    struct and a field of [`Config`]), and a line in [`Config::describe`] if `meetbot check` should show it.
//!    Test it beside its check with `testing::load_with`.

mod env;
mod file;
mod load;
mod validate;

pub use env::process_env;
pub use file::DEFAULT_TOML;
pub use validate::check_discord_token_shape;

use crate::jitsi::{JitsiSettings, LinkStyle, SigningKey};
use crate::meeting::policy::{ModeratorPolicy, RoleRef};
use crate::secret::Secret;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

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
    /// The HTTP side.
    pub http: HttpSettings,
    /// What admin-typed URLs may reach (`[fetch]`).
    pub fetch: crate::fetch::FetchPolicy,
    /// `MEETBOT_MASTER_KEY`: seals servers' own Jitsi keys and secrets; `None`: servers' own Jitsi is off.
    pub master_key: Option<crate::seal::MasterKey>,
    /// Whether the operator's Jitsi (`jitsi`) is real. Off only with a master key and no Jitsi settings at all: then
    /// `jitsi` holds the token preferences on a stand-in site, and every server must set up its own.
    pub default_jitsi: bool,
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
    /// The gateway shards this process runs.
    pub shards: crate::meeting::shards::ShardPlan,
}

impl DiscordSettings {
    /// The shard plan as `meetbot check` prints it.
    pub fn shard_plan_text(&self) -> String {
        use crate::meeting::shards::ShardPlan;
        match self.shards {
            ShardPlan::Auto => {
                "auto: Discord's recommended count (GET /gateway/bot), all in this process".to_string()
            }
            ShardPlan::Range { first, last, total } => format!(
                "{first} to {last} of {total} in this process ({} of {total}); a server's commands reach the process \
                 holding shard (server id >> 22) % {total}; scheduled work runs in any process",
                last - first + 1
            ),
        }
    }

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
    /// The most meetings still to come one person may host in one server.
    pub max_future_per_user: u32,
    /// The most meetings still to come one server may have.
    pub max_future_per_server: u32,
    /// The most occurrences `times:` may give a repeating series.
    pub max_series_times: u32,
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
    /// How long the audit trail is kept; `None`: forever.
    pub audit_retention: Option<std::time::Duration>,
    /// How long delivery records (who was DMed what) are kept; `None`: forever.
    pub delivery_retention: Option<std::time::Duration>,
    /// How long finished scheduler jobs are kept; `None`: forever.
    pub job_retention: Option<std::time::Duration>,
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

/// The HTTP listener (`[http]`).
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    /// The listener's address and secrets; `None`: no listener.
    pub web: Option<crate::web::WebOptions>,
    /// Where Jitsi servers reach the listener from outside (for `asap_key_server`), without a trailing slash.
    pub public_url: Option<Url>,
}

/// Where to read settings from. The environment is passed in so tests need not touch the process's.
pub struct Sources<'a> {
    /// An explicit file (`--config`); else MEETBOT_CONFIG; else `config/meetbot.toml` when it exists.
    pub path: Option<PathBuf>,
    /// Reads one environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Sources<'_> {
    /// One variable; empty or blank counts as unset.
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }
}

impl Config {
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
        if !self.default_jitsi {
            line(
                "default jitsi",
                "none: every server sets up its own (/meetbot jitsi setup)".into(),
            );
        }
        line("jitsi preset", format!("{:?}", j.preset));
        line(
            "meeting site",
            if self.default_jitsi {
                j.public_url.to_string()
            } else {
                "(none)".into()
            },
        );
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
        line("gateway shards", d.shard_plan_text());
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
        let set = |s: &Option<Secret>| if s.is_some() { "set" } else { "not set" };
        line(
            "http listener",
            match &self.http.web {
                None => {
                    "off (http.listen is empty): no health, metrics, Jitsi events or key server"
                        .into()
                }
                Some(w) => format!(
                    "{} (Jitsi events token {}, JaaS webhook secret {})",
                    w.listen,
                    set(&w.events_token),
                    set(&w.jaas_secret)
                ),
            },
        );
        if let Some(w) = &self.http.web {
            // Where each sender is to point, and whether it would be let in (404 without its secret).
            line(
                "jitsi events (event_sync)",
                match &w.events_token {
                    Some(_) => format!(
                        "on: POST http://{}/jitsi/events/..., Bearer JITSI_EVENTS_TOKEN (set)",
                        w.listen
                    ),
                    None => "off: JITSI_EVENTS_TOKEN is not set (the endpoints answer 404)".into(),
                },
            );
            line(
                "jaas webhooks",
                match &w.jaas_secret {
                    Some(_) => format!(
                        "on: POST http://{}/jaas/webhook, signed with JAAS_WEBHOOK_SECRET (set)",
                        w.listen
                    ),
                    None => "off: JAAS_WEBHOOK_SECRET is not set (the endpoint answers 404)".into(),
                },
            );
        }
        line(
            "http public url",
            self.http
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .unwrap_or_else(|| "(none)".into()),
        );
        line(
            "fetching admins' URLs",
            if self.fetch.allow_networks.is_empty() && !self.fetch.allow_http {
                "public https sites only".to_string()
            } else {
                format!(
                    "public https sites{}{}",
                    if self.fetch.allow_http {
                        ", plain http"
                    } else {
                        ""
                    },
                    if self.fetch.allow_networks.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", and {}",
                            self.fetch
                                .allow_networks
                                .iter()
                                .map(|n| n.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )
            },
        );
        line(
            "servers' own Jitsi",
            if self.master_key.is_some() {
                format!("on ({} is set)", crate::seal::MASTER_KEY_ENV)
            } else {
                format!("off ({} is not set)", crate::seal::MASTER_KEY_ENV)
            },
        );
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

/// What every config test loads with: a given environment over the shipped defaults file.
#[cfg(test)]
mod testing {
    pub use super::{Config, ConfigError, Problem, Sources};
    use std::collections::HashMap;
    use std::path::PathBuf;

    pub const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    pub fn load_with(vars: &[(&str, &str)], path: Option<PathBuf>) -> Result<Config, ConfigError> {
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

    pub fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("JWT_APP_ID", "meetbot"),
            ("JWT_APP_SECRET", SECRET),
            ("PUBLIC_URL", "https://meet.example.com"),
            ("XMPP_DOMAIN", "meet.jitsi"),
        ]
    }

    pub fn problems(r: Result<Config, ConfigError>) -> Vec<Problem> {
        match r {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    pub fn with(
        mut vars: Vec<(&'static str, &'static str)>,
        k: &'static str,
        v: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        vars.retain(|(key, _)| *key != k);
        vars.push((k, v));
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::jitsi::{Algorithm, ModeratorClaims};

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
}
