//! The `meetbot` binary: parses the command line, loads the configuration, and calls the library.

use anyhow::Context as _;
use chrono::Utc;
use clap::{Parser, Subcommand};
use meetbot::config::{self, Config, Sources};
use meetbot::jitsi::{self, Grant, Identity, Minter, Room};
use meetbot::meeting::shards::ShardPlan;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Personal, tokenized Jitsi Meet links for Discord communities.
#[derive(Parser)]
#[command(name = "meetbot", version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: MEETBOT_CONFIG, else config/meetbot.toml when present, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connect to Discord and serve the slash commands until stopped (Ctrl-C / SIGTERM).
    Run {
        /// The gateway shards this process runs: `auto`, `FIRST-LAST/TOTAL` (e.g. `0-3/8`) or `N/TOTAL`; wins over
        /// `discord.shards`.
        #[arg(long, value_name = "PLAN", value_parser = parse_shards)]
        shards: Option<ShardPlan>,
    },
    /// Register the slash commands with Discord (bulk overwrite), globally or in one guild.
    Register {
        /// Register in this guild only (shows up at once; global registration can take a while).
        #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
        guild: Option<u64>,
    },
    /// Mint a personal meeting link, as the bot would, and print it as the last line.
    Token {
        /// The room: any text; it is normalised the way Jitsi's web client does.
        #[arg(long)]
        room: String,
        /// The person's display name.
        #[arg(long)]
        name: String,
        /// Make the token a moderator token.
        #[arg(long)]
        moderator: bool,
        /// How long the link works, e.g. 30m, 2h (default: token.lifetime).
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<std::time::Duration>,
        /// E-mail (only put in the token when token.include_email is on).
        #[arg(long)]
        email: Option<String>,
        /// Avatar image URL.
        #[arg(long)]
        avatar: Option<String>,
        /// The user id in the token (default: derived from the name).
        #[arg(long)]
        id: Option<String>,
        /// Print one JSON object with link, token, room and claims instead.
        #[arg(long)]
        json: bool,
        /// Sign for this Discord server: its own Jitsi when its admins set one up (`/meetbot jitsi`), else the
        /// default one (reads the database; needs MEETBOT_MASTER_KEY once anything is sealed).
        #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u64).range(1..))]
        guild: Option<u64>,
    },
    /// Judge a token as Jitsi's Prosody would and explain every check; exit 0 when Jitsi would accept it.
    Verify {
        /// The room the token should open (as typed; normalised like Jitsi does).
        #[arg(long)]
        room: Option<String>,
        /// Accept `room: "*"` (a token for every room).
        #[arg(long)]
        allow_wildcard: bool,
        /// Judge as a Prosody with this `asap_key_server` would: fetch the public key named by the token's
        /// kid from `<URL>/<sha256 of kid>.pem` (instead of using the configured key).
        #[arg(long, value_name = "URL")]
        key_server: Option<String>,
        /// With --key-server: an entry of `asap_accepted_issuers` (repeat for more; default: jitsi.app_id).
        #[arg(long = "issuer", value_name = "ISS", requires = "key_server")]
        issuers: Vec<String>,
        /// With --key-server: an entry of `asap_accepted_audiences` (repeat for more; default: "*").
        #[arg(long = "audience", value_name = "AUD", requires = "key_server")]
        audiences: Vec<String>,
        /// The token, or a whole meeting link carrying it; `-` or nothing reads it from standard input
        /// (keeps it out of shell history).
        token: Option<String>,
    },
    /// Print the Prosody and jicofo configuration that matches this bot's settings.
    JitsiConfig,
    /// Validate the configuration and print what the bot will do, secrets masked.
    Check,
}

fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|_| format!("{s:?} is not a duration; write it like 30m or 2h"))?;
    if d < std::time::Duration::from_secs(60) || d > std::time::Duration::from_secs(7 * 24 * 3600) {
        return Err("must be between 1m and 7d".into());
    }
    Ok(d)
}

fn parse_shards(text: &str) -> Result<ShardPlan, String> {
    ShardPlan::parse(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // .env is a convenience for secrets; a missing file is normal, a broken one is worth saying.
    load_dotenv();
    let env = config::process_env;
    let loaded = Config::load(&Sources {
        path: cli.config.clone(),
        env: &env,
    });
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("meetbot: {e}");
            return ExitCode::from(2);
        }
    };
    meetbot::logging::init(&config.log_filter);
    match dispatch(cli.command, config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meetbot: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    // `check` lists the warnings itself and `run` logs them; the commands whose output goes to a Jitsi server
    // or a person would otherwise hide them.
    if matches!(
        command,
        Command::Token { .. } | Command::Verify { .. } | Command::JitsiConfig
    ) {
        for w in &config.warnings {
            eprintln!("warning: {w}");
        }
    }
    match command {
        Command::Run { shards } => {
            let mut config = config;
            if let Some(plan) = shards {
                config.discord.shards = plan;
            }
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            rt.block_on(meetbot::discord::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Register { guild } => {
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let n = rt.block_on(meetbot::discord::register(&config, guild))?;
            match guild {
                Some(g) => emit(&format!("registered {n} commands in guild {g}\n"))?,
                None => emit(&format!(
                    "registered {n} commands globally (clients may take a while to show them)\n"
                ))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            room,
            name,
            moderator,
            ttl,
            email,
            avatar,
            id,
            json,
            guild,
        } => {
            let base = match guild {
                None if !config.default_jitsi => anyhow::bail!(
                    "there is no default Jitsi (no PUBLIC_URL / JWT_APP_SECRET, and MEETBOT_MASTER_KEY is set): \
                     give --guild ID to sign as that server's own Jitsi"
                ),
                None => config.jitsi.clone(),
                Some(g) => {
                    let rt =
                        tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
                    rt.block_on(server_settings(&config, g))?
                }
            };
            token(base, room, name, moderator, ttl, email, avatar, id, json)
        }
        Command::Verify {
            room,
            allow_wildcard,
            key_server,
            issuers,
            audiences,
            token,
        } => {
            let key_server = key_server.map(|url| KeyServerArgs {
                url,
                issuers,
                audiences,
            });
            verify(&config, room, allow_wildcard, key_server, token)
        }
        Command::JitsiConfig => {
            anyhow::ensure!(
                config.default_jitsi,
                "there is no default Jitsi to configure (no PUBLIC_URL / JWT_APP_SECRET); each server's \
                 /meetbot jitsi setup gives its own lines"
            );
            let web = config.http.web.as_ref();
            let target = jitsi::events_config::EventsTarget {
                listen: web.map(|w| w.listen),
                public_url: config.http.public_url.clone(),
                events_token: web.is_some_and(|w| w.events_token.is_some()),
                jaas_secret: web.is_some_and(|w| w.jaas_secret.is_some()),
            };
            emit(&format!(
                "{}\n{}",
                jitsi::server_config::render(&config.jitsi),
                jitsi::events_config::render(&config.jitsi, &target)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            // Building the minter proves the key works, not just that it parses.
            Minter::new(config.jitsi.clone()).context("the signing key cannot be used")?;
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let servers = rt.block_on(own_jitsi_lines(&config))?;
            emit(&format!("{}{servers}configuration OK\n", config.describe()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A SQLite database that does not exist yet holds no servers; `check` does not create it.
fn database_missing(config: &Config) -> bool {
    let url = config.storage.database_url.expose();
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return false;
    };
    let path = rest.split('?').next().unwrap_or_default();
    !path.is_empty() && path != ":memory:" && !std::path::Path::new(path).exists()
}

/// `meetbot check`'s list of the servers with their own Jitsi (never a secret), after checking that the master
/// key fits the database (a missing or wrong one is an error, as at start-up).
async fn own_jitsi_lines(config: &Config) -> anyhow::Result<String> {
    if database_missing(config) {
        return Ok("servers with their own Jitsi: none (no database yet)\n".into());
    }
    // The configuration is what `check` judges; a database that is down is reported, not fatal.
    let store = match meetbot::store::Store::open(config.storage.database_url.expose()).await {
        Ok(s) => s,
        Err(e) => {
            return Ok(format!(
                "servers with their own Jitsi: unknown (cannot open the database: {e})\n"
            ))
        }
    };
    let checked =
        meetbot::tenant::check_master_key(&store, config.master_key.as_ref(), Utc::now()).await;
    let servers = store.tenant_jitsi_list().await;
    store.close().await;
    checked?;
    Ok(meetbot::tenant::check_lines(&servers?))
}

/// The token settings for one Discord server: its own Jitsi when it has one, else the default (said on stderr).
async fn server_settings(config: &Config, guild: u64) -> anyhow::Result<jitsi::JitsiSettings> {
    let store = meetbot::store::Store::open(config.storage.database_url.expose())
        .await
        .context("cannot open the database")?;
    let clock: meetbot::clock::SharedClock = std::sync::Arc::new(meetbot::clock::SystemClock);
    let tenants =
        meetbot::tenant::Tenants::start(store.clone(), config.master_key.clone(), clock).await?;
    let own = tenants.minter(guild, &config.jitsi).await;
    store.close().await;
    match own? {
        Some(minter) => Ok(minter.settings().clone()),
        None if !config.default_jitsi => anyhow::bail!(
            "server {guild} has no Jitsi of its own and there is no default one; its admins can set one up with \
             /meetbot jitsi setup"
        ),
        None => {
            eprintln!("note: server {guild} has no Jitsi of its own; signing with the default one");
            Ok(config.jitsi.clone())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn token(
    base: jitsi::JitsiSettings,
    room: String,
    name: String,
    moderator: bool,
    ttl: Option<std::time::Duration>,
    email: Option<String>,
    avatar: Option<String>,
    id: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let name = name.trim().to_string();
    anyhow::ensure!(!name.is_empty(), "--name must not be empty");
    anyhow::ensure!(
        name.chars().count() <= 100,
        "--name is longer than 100 characters"
    );
    if id.as_deref().is_some_and(|i| i.trim().is_empty()) {
        anyhow::bail!("--id must not be empty; leave it out to derive one from the name");
    }
    if let Some(a) = &avatar {
        let u = url::Url::parse(a).map_err(|_| anyhow::anyhow!("--avatar {a:?} is not a URL"))?;
        anyhow::ensure!(
            u.scheme() == "https" || u.scheme() == "http",
            "--avatar must be an http(s) URL"
        );
    }
    let room = Room::from_user_input(&room).map_err(|e| anyhow::anyhow!("--room: {e}"))?;
    let mut settings = base;
    if let Some(t) = ttl {
        settings.lifetime = t;
    }
    if email.is_some() && !settings.include_email {
        eprintln!(
            "note: --email is left out of the token while token.include_email is off (MEETBOT_TOKEN_INCLUDE_EMAIL=true turns it on)"
        );
    }
    let minter = Minter::new(settings.clone()).context("the signing key cannot be used")?;
    let identity = Identity {
        id: id.unwrap_or_else(|| format!("cli-{}", jitsi::normalize_room_name(&name))),
        name: name.clone(),
        avatar,
        email,
    };
    let grant = Grant::new(room.clone(), identity, moderator, Utc::now(), &settings);
    let minted = minter.mint(&grant).context("cannot mint the token")?;
    let link = minter.link(&room, &minted.token, Some(&name));
    if json {
        let out = serde_json::json!({
            "link": link.expose(),
            "token": minted.token.expose(),
            "room": room.as_str(),
            "claims": minted.claims,
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
    } else {
        eprintln!(
            "room {} · {} · expires {}",
            room,
            if moderator {
                "moderator"
            } else {
                "participant"
            },
            grant.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        emit(&format!("{}\n", link.expose()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `meetbot verify --key-server`: what the Prosody being imitated is configured with.
struct KeyServerArgs {
    url: String,
    issuers: Vec<String>,
    audiences: Vec<String>,
}

fn verify(
    config: &Config,
    room: Option<String>,
    allow_wildcard: bool,
    key_server: Option<KeyServerArgs>,
    token: Option<String>,
) -> anyhow::Result<ExitCode> {
    let text = match token.as_deref() {
        Some("-") | None => {
            let mut s = String::new();
            if std::io::stdin().is_terminal() {
                eprintln!("paste the token or link, then Ctrl-D:");
            }
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the token from standard input")?;
            s
        }
        Some(t) => t.to_string(),
    };
    let token = jitsi::verify::extract_token(&text).ok_or_else(|| {
        anyhow::anyhow!(
            "no token found in the input; give the token itself (three base64url parts separated by dots) \
             or a meeting link carrying it after ?jwt= or #jwt="
        )
    })?;
    let mut expect = jitsi::verify::Expectations::from_settings(&config.jitsi, room.as_deref())?;
    expect.allow_wildcard_room = allow_wildcard;
    let verdict = match key_server {
        None => jitsi::verify::verify(&token, &expect, Utc::now()),
        Some(ks) => {
            let mut trust =
                jitsi::asap::KeyServerTrust::prosody_defaults(&ks.url, &config.jitsi.app_id);
            if !ks.issuers.is_empty() {
                trust.accepted_issuers = ks.issuers;
            }
            if !ks.audiences.is_empty() {
                trust.accepted_audiences = ks.audiences;
            }
            trust.sub = expect.sub;
            trust.room = expect.room;
            trust.allow_wildcard_room = allow_wildcard;
            // The operator runs this on their own machine against a URL they typed: every network is theirs.
            let fetcher = meetbot::fetch::SafeFetcher::new(meetbot::fetch::FetchPolicy {
                allow_networks: vec!["0.0.0.0/0".parse()?, "::/0".parse()?],
                allow_http: true,
                ..meetbot::fetch::FetchPolicy::default()
            })?;
            let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            rt.block_on(jitsi::asap::verify_via_key_server(
                &token,
                &trust,
                &fetcher,
                Utc::now(),
            ))
        }
    };
    let (last, code) = if verdict.accepted() {
        ("Jitsi would ACCEPT this token.", ExitCode::SUCCESS)
    } else {
        ("Jitsi would REJECT this token.", ExitCode::from(1))
    };
    emit(&format!("{}{last}\n", verdict.render()))?;
    Ok(code)
}

/// Writes to standard output. A reader that went away (`| head`) is not an error: the exit code still
/// carries the result.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

/// Reads `.env` (a convenience for secrets): a missing file is normal, a broken one is worth saying.
fn load_dotenv() {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        // dotenvy's message quotes the line, which may hold a secret (and, after an open quote, every line
        // below it): name only the variable.
        Err(dotenvy::Error::LineParse(line, _)) => {
            let key = line
                .lines()
                .next()
                .and_then(|first| first.trim().trim_start_matches("export ").split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            match key {
                Some(k) => eprintln!(
                    "meetbot: .env: cannot parse the line that sets {k} (check its quotes); it and the lines after it were not loaded"
                ),
                None => eprintln!(
                    "meetbot: .env: cannot parse a line (check its quotes); it and the lines after it were not loaded"
                ),
            }
        }
        Err(dotenvy::Error::Io(e)) => eprintln!("meetbot: cannot read .env: {e}"),
        // The other errors may quote a variable's value.
        Err(_) => eprintln!("meetbot: .env could not be loaded completely"),
    }
}
