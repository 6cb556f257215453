//! Memory of one process holding a full shard: 2,500 servers of 50 channels and 30 roles each (Discord makes a
//! bot shard past 2,500 servers, so one shard never holds more), all sent by the simulator as GUILD_CREATEs.
//! The real binary (`meetbot run`, release) connects to the simulated Discord; its resident memory (`VmRSS` in
//! `/proc/<pid>/status`) is read once it has taken every GUILD_CREATE in and its memory stopped growing, beside
//! the same bot holding a single small server, so the difference is what the servers' gateway cache costs.
//!
//! Linux only (it reads `/proc`). Run with `cargo bench --bench shard_rss`.

#[path = "../tests/support/mod.rs"]
mod support;

use discord_sim::{Overwrite, RoleSpec, SimOptions, Simulator};
use std::process::Child;
use std::time::{Duration, Instant};
use support::{base_env, spawn_meetbot, BOT_TOKEN, OWNER};

const GUILDS: u64 = 2_500;
const CHANNELS: u64 = 50;
const ROLES: u64 = 30;
/// Snowflake-shaped ids, far from the harness's own.
const FIRST_GUILD: u64 = 700_000_000_000_000_000;
const FIRST_CHANNEL: u64 = 710_000_000_000_000_000;
const FIRST_ROLE: u64 = 720_000_000_000_000_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let one = measure(1).await;
        let full = measure(GUILDS).await;
        let per_guild = (full.rss_kib.saturating_sub(one.rss_kib)) as f64 / (GUILDS - 1) as f64;
        println!(
            "one server: RSS {:.1} MiB (peak {:.1} MiB); {GUILDS} servers × {CHANNELS} channels × {ROLES} roles: \
             RSS {:.1} MiB (peak {:.1} MiB), taken in {:.1} s; {:.1} KiB per server",
            mib(one.rss_kib),
            mib(one.peak_kib),
            mib(full.rss_kib),
            mib(full.peak_kib),
            full.settled_after.as_secs_f64(),
            per_guild,
        );
    });
}

struct Measured {
    rss_kib: u64,
    peak_kib: u64,
    settled_after: Duration,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Builds `guilds` servers in a fresh simulator, runs the bot against it and reads its memory once settled.
async fn measure(guilds: u64) -> Measured {
    let sim = Simulator::start(SimOptions {
        bot_token: BOT_TOKEN.into(),
        // Served unchecked: the bench measures the bot, not the simulator's validation.
        openapi_spec: None,
        ..SimOptions::default()
    })
    .await;
    for g in 0..guilds {
        build_guild(&sim, g);
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut bot = spawn_bot(&sim, dir.path());
    let started = Instant::now();
    sim.wait_until_ready(Duration::from_secs(60))
        .await
        .expect("the bot identifies");
    let settled = settle(&mut bot, dir.path()).await;
    let settled_after = started.elapsed();
    bot.kill().ok();
    bot.wait().ok();
    Measured {
        settled_after,
        ..settled
    }
}

fn build_guild(sim: &Simulator, g: u64) {
    let id = FIRST_GUILD + g;
    sim.add_guild(id, &format!("Server number {g}"), OWNER);
    for r in 0..ROLES {
        let role = FIRST_ROLE + g * ROLES + r;
        sim.add_role(
            id,
            RoleSpec::new(
                role,
                &format!("role-{r}"),
                0x0000_0000_0006_4c40,
                r as u16 + 1,
            ),
        );
    }
    for c in 0..CHANNELS {
        let channel = FIRST_CHANNEL + g * CHANNELS + c;
        sim.add_text_channel(id, channel, &format!("channel-{c}"));
        // Real servers keep some channels private to a role: one overwrite each, as the visibility rule reads.
        sim.set_overwrite(
            channel,
            Overwrite::role(FIRST_ROLE + g * ROLES + c % ROLES, 0x400, 0),
        );
    }
}

fn spawn_bot(sim: &Simulator, dir: &std::path::Path) -> Child {
    let mut env = base_env(sim);
    env.insert(
        "DATABASE_URL".into(),
        format!("sqlite://{}?mode=rwc", dir.join("meetbot.db").display()),
    );
    env.insert("MEETBOT_DISCORD_REGISTER_ON_START".into(), "off".into());
    env.insert("RUST_LOG".into(), "warn".into());
    env.insert(
        "MEETBOT_CONFIG".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/meetbot.toml").into(),
    );
    spawn_meetbot(env, dir)
}

/// Waits until the bot's RSS has not moved by more than 1 % for two seconds (every GUILD_CREATE taken in).
async fn settle(bot: &mut Child, dir: &std::path::Path) -> Measured {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = 0u64;
    let mut steady_since = Instant::now();
    loop {
        if let Some(status) = bot.try_wait().expect("poll the bot") {
            let log = std::fs::read_to_string(dir.join("bot.log")).unwrap_or_default();
            panic!("the bot exited ({status}):\n{log}");
        }
        let (rss, peak) = status_kib(bot.id());
        if rss.abs_diff(last) * 100 > last {
            last = rss;
            steady_since = Instant::now();
        } else if steady_since.elapsed() >= Duration::from_secs(2) {
            return Measured {
                rss_kib: rss,
                peak_kib: peak,
                settled_after: Duration::ZERO,
            };
        }
        assert!(Instant::now() < deadline, "the bot's memory never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `VmRSS` and `VmHWM` (the peak) of a process, in KiB.
fn status_kib(pid: u32) -> (u64, u64) {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
