//! The scenario-test harness: a simulated Discord (the `discord-sim` crate), a small server in it, and the real bot
//! (poise + serenity + our REST client + the scheduler) connected to it, with a manual clock and a SQLite store.
//! Scenario tests must run on a multi-threaded runtime (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`):
//! the bot's gateway and handlers run as tasks beside the test, which blocks while it waits for their requests.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod db;
pub mod fleet;

use chrono::{DateTime, TimeZone, Utc};
use discord_sim::{Interaction, RoleSpec, SimOptions, Simulator, UserSpec, ADMINISTRATOR};
use meetbot::clock::ManualClock;
use meetbot::config::{Config, Sources};
use meetbot::discord::{BotHandle, StartOptions};
use meetbot::jitsi::{verify, Expectations};
use meetbot::store::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The server every scenario plays in.
pub const GUILD: u64 = 100_000_000_000_000_001;
/// #general.
pub const CHANNEL: u64 = 100_000_000_000_000_002;
/// #events, a second channel for announcements.
pub const EVENTS_CHANNEL: u64 = 100_000_000_000_000_003;
/// The "Moderators" role (configured as a moderator role).
pub const ROLE_MODS: u64 = 200_000_000_000_000_001;
/// The "Team" role (ordinary).
pub const ROLE_TEAM: u64 = 200_000_000_000_000_002;
/// The "Admins" role (Administrator permission).
pub const ROLE_ADMINS: u64 = 200_000_000_000_000_003;
/// The guild owner.
pub const OWNER: u64 = 300_000_000_000_000_001;
/// Alice: a moderator.
pub const ALICE: u64 = 300_000_000_000_000_002;
/// Bob: a plain member.
pub const BOB: u64 = 300_000_000_000_000_003;
/// Carol: in Team.
pub const CAROL: u64 = 300_000_000_000_000_004;
/// Dave: in Team, DMs closed.
pub const DAVE: u64 = 300_000_000_000_000_005;
/// Erin: an administrator (by role), no moderator role.
pub const ERIN: u64 = 300_000_000_000_000_006;
/// A bot in Team.
pub const OTHER_BOT: u64 = 300_000_000_000_000_007;
/// Frank: in Team and Moderators.
pub const FRANK: u64 = 300_000_000_000_000_008;
/// Someone who is not in the server.
pub const STRANGER: u64 = 300_000_000_000_000_099;

/// The HS256 secret the bot signs with in tests.
pub const SECRET: &str = "scenario-secret-0123456789abcdef0123456789";
/// A bot token in Discord's shape (three base64url parts), so the bot's own checks accept it.
pub const BOT_TOKEN: &str = "OTAwMDAwMDAwMDAwMDAwMDAx.GsimAB.simulated_bot_token_for_tests_only";

/// Everything a scenario needs.
pub struct Harness {
    pub sim: Simulator,
    pub bot: Option<BotHandle>,
    pub clock: ManualClock,
    pub store: Store,
    pub env: HashMap<String, String>,
    /// Where the store lives (a SQLite file in a temporary directory unless a test chose a database).
    pub db_url: String,
    _dir: tempfile::TempDir,
}

/// A fixed, readable start time for the manual clock: Tue 1 Dec 2026 10:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line of this test binary, at the most verbose level for meetbot, into memory. The filter goes
/// through the bot's own `logging::filter`, as `RUST_LOG` would, so what the tests see is what an operator's log gets
/// (serenity asked for at trace, so the scenarios also show its caps hold).
fn capture_logs() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = LogWriter(buf.clone());
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || w.clone())
            .with_filter(meetbot::logging::filter(
                Some("meetbot=trace,serenity=trace,poise=debug,debug"),
                "info",
            ));
        let _ = tracing_subscriber::registry().with(layer).try_init();
        buf
    });
}

/// Runs a benchmark on a multi-threaded runtime at production's log level, the lines discarded: the harness's
/// trace-level capture would measure the logging, not the bot. Installed before any harness starts, so the
/// harness's own subscriber is not.
pub fn run_bench<F: std::future::Future>(bench: F) -> F::Output {
    tracing_subscriber::fmt()
        .with_env_filter("info,serenity=warn")
        .with_writer(std::io::sink)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench)
}

/// Everything logged so far by this test binary.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

/// The environment the bot runs with against `sim`: signing settings, token, API base, guild registration.
pub fn base_env(sim: &Simulator) -> HashMap<String, String> {
    [
        ("JWT_APP_ID", "meetbot-test"),
        ("JWT_APP_SECRET", SECRET),
        ("PUBLIC_URL", "https://meet.example.com"),
        ("XMPP_DOMAIN", "meet.jitsi"),
        ("DISCORD_TOKEN", BOT_TOKEN),
        ("MEETBOT_DISCORD_MODERATOR_ROLES", "Moderators"),
        // Scenarios run many commands at one instant of the manual clock; the cooldown's own tests turn it on.
        ("MEETBOT_DISCORD_COOLDOWN_SECONDS", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        ("DISCORD_API_BASE".to_string(), sim.base_url()),
        (
            "MEETBOT_DISCORD_REGISTER_ON_START".to_string(),
            GUILD.to_string(),
        ),
    ])
    .collect()
}

/// Starts the real `meetbot run` binary with exactly the environment `env` (and `PATH`), working in `dir`, its log in
/// `dir/bot.log`.
pub fn spawn_meetbot(env: HashMap<String, String>, dir: &std::path::Path) -> std::process::Child {
    use std::process::{Command, Stdio};
    Command::new(env!("CARGO_BIN_EXE_meetbot"))
        .arg("run")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("bot.log")).expect("log file"),
        ))
        .spawn()
        .expect("start the meetbot binary")
}

/// Loads the bot's configuration from an environment map, as `meetbot run` would from the process environment.
pub fn config_from(env: &HashMap<String, String>) -> Config {
    let env = env.clone();
    let lookup = move |k: &str| env.get(k).cloned();
    Config::load(&Sources {
        path: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/config/meetbot.toml").into()),
        env: &lookup,
    })
    .expect("test configuration is valid")
}

/// Builds the standard server in the simulator.
pub fn populate(sim: &Simulator) {
    sim.add_guild(GUILD, "Rustaceans", OWNER);
    sim.add_role(GUILD, RoleSpec::new(ROLE_MODS, "Moderators", 0, 3));
    sim.add_role(GUILD, RoleSpec::new(ROLE_TEAM, "Team", 0, 2));
    sim.add_role(
        GUILD,
        RoleSpec::new(ROLE_ADMINS, "Admins", ADMINISTRATOR, 4),
    );
    sim.add_text_channel(GUILD, CHANNEL, "general");
    sim.add_text_channel(GUILD, EVENTS_CHANNEL, "events");
    sim.add_member(GUILD, UserSpec::new(OWNER, "owner"), &[]);
    sim.add_member(
        GUILD,
        UserSpec::new(ALICE, "alice").global_name("Alice"),
        &[ROLE_MODS],
    );
    sim.add_member(GUILD, UserSpec::new(BOB, "bob").global_name("Bob"), &[]);
    sim.add_member(
        GUILD,
        UserSpec::new(CAROL, "carol").avatar("0123456789abcdef0123456789abcdef"),
        &[ROLE_TEAM],
    );
    sim.add_member(GUILD, UserSpec::new(DAVE, "dave"), &[ROLE_TEAM]);
    sim.add_member(GUILD, UserSpec::new(ERIN, "erin"), &[ROLE_ADMINS]);
    sim.add_member(
        GUILD,
        UserSpec::new(OTHER_BOT, "helperbot").bot(),
        &[ROLE_TEAM],
    );
    sim.add_member(
        GUILD,
        UserSpec::new(FRANK, "frank"),
        &[ROLE_TEAM, ROLE_MODS],
    );
    sim.add_user(UserSpec::new(STRANGER, "stranger"));
    sim.close_dms(DAVE);
}

impl Harness {
    /// The standard server, the default configuration, the bot connected.
    pub async fn start() -> Harness {
        Self::start_with(&[], |_| {}).await
    }

    /// As [`Harness::start`], with extra environment settings and changes to the server before the bot connects.
    pub async fn start_with(env: &[(&str, &str)], setup: impl FnOnce(&Simulator)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("meetbot.db").display()
        );
        Self::launch(&url, dir, env, setup).await
    }

    /// As [`Harness::start_with`], on the database at `url` (e.g. a fresh PostgreSQL schema), so several bots can
    /// share it.
    pub async fn start_on(
        url: &str,
        env: &[(&str, &str)],
        setup: impl FnOnce(&Simulator),
    ) -> Harness {
        Self::launch(url, tempfile::tempdir().unwrap(), env, setup).await
    }

    async fn launch(
        url: &str,
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        setup: impl FnOnce(&Simulator),
    ) -> Harness {
        capture_logs();
        let sim = Simulator::start(SimOptions {
            bot_token: BOT_TOKEN.into(),
            ..SimOptions::default()
        })
        .await;
        populate(&sim);
        setup(&sim);
        let mut map = base_env(&sim);
        for (k, v) in env {
            map.insert(k.to_string(), v.to_string());
        }
        let store = Store::open(url).await.expect("open the test database");
        let clock = ManualClock::new(t0());
        let mut h = Harness {
            sim,
            bot: None,
            clock,
            store,
            env: map,
            db_url: url.to_string(),
            _dir: dir,
        };
        h.connect().await;
        h
    }

    /// Starts the bot against the simulator and waits until it registered its commands.
    pub async fn connect(&mut self) {
        let bot = self.launch_bot(self.store.clone()).await;
        self.bot = Some(bot);
    }

    /// Starts one more bot process on the same simulated Discord, clock and database (its own connection pool),
    /// as a second instance of a deployment would run; the caller shuts it down.
    pub async fn start_second_bot(&self) -> BotHandle {
        let store = Store::open(&self.db_url)
            .await
            .expect("open the shared database");
        self.launch_bot(store).await
    }

    async fn launch_bot(&self, store: Store) -> BotHandle {
        let before = self.command_lists();
        let bot = meetbot::discord::start_with(
            config_from(&self.env),
            StartOptions {
                clock: Arc::new(self.clock.clone()),
                run_scheduler: false,
                store: Some(store),
                // One manual clock is every process's time here.
                database_clock: false,
            },
        )
        .await
        .expect("bot starts");
        // The bot reads the registered commands, then writes them only when they differ (the first start).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.command_lists() == before || self.registered().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot registers its commands"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bot
    }

    /// The scope the bot registers its commands in: the guild the environment names, else global.
    fn registration_guild(&self) -> Option<u64> {
        self.env
            .get("MEETBOT_DISCORD_REGISTER_ON_START")
            .and_then(|v| v.parse().ok())
    }

    /// How often the bot listed its registered commands, in either scope.
    pub fn command_lists(&self) -> usize {
        self.sim
            .requests_matching("GET", "/applications/*/guilds/*/commands")
            .len()
            + self
                .sim
                .requests_matching("GET", "/applications/*/commands")
                .len()
    }

    /// How often the bot wrote its commands (bulk overwrite), in either scope.
    pub fn command_writes(&self) -> usize {
        self.sim
            .requests_matching("PUT", "/applications/*/guilds/*/commands")
            .len()
            + self
                .sim
                .requests_matching("PUT", "/applications/*/commands")
                .len()
    }

    /// The commands registered in the bot's scope.
    pub fn registered(&self) -> Vec<Value> {
        self.sim.registered_commands(self.registration_guild())
    }

    /// Stops the bot (gracefully) and starts it again on the same database: a restart.
    pub async fn restart(&mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await.expect("clean shutdown");
        }
        // The store was closed by the shutdown; reopen the same database.
        self.store = Store::open(&self.db_url)
            .await
            .expect("reopen the test database");
        self.connect().await;
    }

    /// `/meetbot settings audit-channel` as `user` (who needs Manage Server), waiting for the answer.
    pub async fn set_audit_channel(&self, user: u64, channel: u64) {
        let i = self
            .command(
                user,
                "meetbot",
                serde_json::json!([{ "name": "settings", "type": 2, "options": [{ "name": "audit-channel",
                    "type": 1, "options": [{ "name": "channel", "type": 7, "value": channel.to_string() }] }] }]),
            )
            .await;
        self.reply_containing(&i, "Now:").await;
    }

    /// The manual clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        use meetbot::clock::Clock;
        self.clock.now()
    }

    /// The bot.
    pub fn bot(&self) -> &BotHandle {
        self.bot.as_ref().expect("bot running")
    }

    /// Runs one scheduler tick at the clock's current time.
    pub async fn tick(&self) -> meetbot::schedule::runner::TickReport {
        self.bot().tick_scheduler().await.expect("scheduler tick")
    }

    /// Invokes a slash command as `user` in #general.
    pub async fn command(&self, user: u64, name: &str, options: Value) -> Interaction {
        self.sim
            .invoke_command(GUILD, CHANNEL, user, name, options)
            .await
            .expect("dispatch the command")
    }

    /// The choices an autocomplete of `command` offers `user` in #general (mark the typed option `"focused": true`).
    pub async fn autocomplete_choices(
        &self,
        user: u64,
        command: &str,
        options: Value,
    ) -> Vec<Value> {
        let i = self
            .sim
            .autocomplete(GUILD, CHANNEL, user, command, options)
            .await
            .expect("autocomplete");
        self.sim
            .wait_for_request(
                |r| r.path.contains(&i.token) && r.path.ends_with("/callback"),
                Duration::from_secs(20),
            )
            .await
            .expect("an autocomplete answer");
        let responses = self.sim.interaction_responses(&i.token);
        assert_eq!(responses[0].body["type"], 8, "an autocomplete result");
        responses[0].body["data"]["choices"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `/meet` as `user` with the given options (a JSON array of {name, value}).
    pub async fn meet(&self, user: u64, options: Value) -> Interaction {
        self.command(user, "meet", options).await
    }

    /// Waits until the interaction's original response (the deferred reply, edited) contains `needle`, and
    /// returns that content.
    pub async fn reply_containing(&self, i: &Interaction, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = self.latest_content(i) {
                if c.contains(needle) {
                    return c;
                }
            }
            if tokio::time::Instant::now() > deadline {
                // Failure output ends up in CI logs: show the replies with their tokens masked.
                let mut shown = format!("{:#?}", self.sim.interaction_responses(&i.token));
                for t in tokens_in(&shown) {
                    shown = shown.replace(&t, "<token>");
                }
                panic!("no reply containing {needle:?}; responses: {shown}");
            }
            let _ = self
                .sim
                .wait_for_request(|r| r.path.contains(&i.token), Duration::from_millis(200))
                .await;
        }
    }

    /// The latest text the bot gave in answer to an interaction (callback message or edit of the original).
    pub fn latest_content(&self, i: &Interaction) -> Option<String> {
        self.sim
            .interaction_responses(&i.token)
            .iter()
            .rev()
            .find_map(|r| {
                r.body["content"]
                    .as_str()
                    .or_else(|| r.body["data"]["content"].as_str())
                    .map(str::to_string)
            })
    }

    /// The text of every DM `user` received.
    pub fn dm_texts(&self, user: u64) -> Vec<String> {
        self.sim
            .dms_to(user)
            .iter()
            .filter_map(|m| m["content"].as_str().map(str::to_string))
            .collect()
    }

    /// The messages the bot posted in a channel.
    pub fn channel_texts(&self, channel: u64) -> Vec<Value> {
        self.sim.channel_messages(channel)
    }

    /// The texts posted in a channel once one contains `needle`; audit lines go out in the background after the
    /// answer, so a test waits for them (10 s at most) instead of looking right after the reply.
    pub async fn channel_texts_once(&self, channel: u64, needle: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let texts: Vec<String> = self
                .channel_texts(channel)
                .iter()
                .filter_map(|m| m["content"].as_str().map(str::to_string))
                .collect();
            if texts.iter().any(|t| t.contains(needle)) || tokio::time::Instant::now() >= deadline {
                return texts;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Shuts the bot down and checks the simulator saw nothing malformed.
    pub async fn finish(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await.expect("clean shutdown");
        }
        assert!(
            self.sim.unhandled_routes().is_empty(),
            "unhandled routes: {:?}",
            self.sim.unhandled_routes()
        );
        assert!(
            self.sim.violations().is_empty(),
            "invalid requests: {:#?}",
            self.sim.violations()
        );
    }
}

/// The nearest-rank percentile of sorted samples (benchmarks).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank: the smallest sample with at least p of the samples at or below it.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Milliseconds with two decimals (benchmarks).
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Every token in a text: the `jwt=` values of its links.
pub fn tokens_in(text: &str) -> Vec<String> {
    text.match_indices("jwt=")
        .map(|(i, _)| {
            text[i + 4..]
                .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|t| t.split('.').count() == 3)
        .collect()
}

/// The one token in a text, checked with the strict verifier for its room at `now`; returns its claims.
pub fn verified_claims(text: &str, now: DateTime<Utc>) -> Value {
    let tokens = tokens_in(text);
    assert_eq!(tokens.len(), 1, "expected exactly one token in {text:?}");
    let claims = decode_claims(&tokens[0]);
    let room = claims["room"].as_str().expect("room claim").to_string();
    let settings = config_from(&HashMap::from([
        ("JWT_APP_ID".to_string(), "meetbot-test".to_string()),
        ("JWT_APP_SECRET".to_string(), SECRET.to_string()),
        (
            "PUBLIC_URL".to_string(),
            "https://meet.example.com".to_string(),
        ),
        ("XMPP_DOMAIN".to_string(), "meet.jitsi".to_string()),
    ]))
    .jitsi;
    let mut expect = Expectations::from_settings(&settings, Some(&room)).expect("expectations");
    expect.audience = Some("jitsi".into());
    let verdict = verify(&tokens[0], &expect, now);
    assert!(
        verdict.accepted(),
        "Jitsi would reject the token:\n{}",
        verdict.render()
    );
    claims
}

/// The payload of a token, without checking it.
pub fn decode_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// A string option.
pub fn opt(name: &str, value: impl Into<Value>) -> Value {
    serde_json::json!({ "name": name, "type": 3, "value": value.into() })
}

/// An integer option.
pub fn int_opt(name: &str, value: i64) -> Value {
    serde_json::json!({ "name": name, "type": 4, "value": value })
}

/// A boolean option.
pub fn bool_opt(name: &str, value: bool) -> Value {
    serde_json::json!({ "name": name, "type": 5, "value": value })
}
