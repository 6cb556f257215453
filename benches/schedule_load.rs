//! Scheduler load, against the simulated Discord with the real bot (run with `cargo bench --bench schedule_load`):
//!
//! 1. 10,000 future meetings stored on SQLite: the bot process's resident memory before and after, and what one
//!    scheduler tick costs when nothing is due (it must read only due work: the claim walks the `jobs_due` index).
//! 2. 500 meetings due in the same minute across five servers, with the simulator enforcing Discord's global
//!    50 requests/s: time until all are announced against the pace floor, and how many 429s the bot received.
//!
//! Figures go to stdout. Not a criterion bench: each scenario is one long run with its own setup, and memory is
//! not something criterion measures.

#[path = "../tests/support/mod.rs"]
mod support;

use chrono::{DateTime, Duration as Span, Utc};
use discord_sim::{SimOptions, Simulator, UserSpec};
use meetbot::clock::ManualClock;
use meetbot::discord::{BotHandle, StartOptions};
use meetbot::schedule::runner::jobs_for;
use meetbot::store::{generate_meeting_id, NewMeeting, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{base_env, config_from, populate, t0, ALICE, BOT_TOKEN, CHANNEL, GUILD};

/// Resident memory of this process (the bot, its database pool and the simulator), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

struct Running {
    sim: Simulator,
    bot: BotHandle,
    store: Store,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

/// The standard test server plus `extra_guilds` more (one channel each), and the bot connected on a fresh SQLite
/// file; no log subscriber, so logging costs nothing.
async fn start(extra_guilds: &[(u64, u64)], global_rate: u32) -> Running {
    let sim = Simulator::start(SimOptions {
        bot_token: BOT_TOKEN.into(),
        ..SimOptions::default()
    })
    .await;
    populate(&sim);
    for &(guild, channel) in extra_guilds {
        sim.add_guild(guild, "Load", ALICE);
        sim.add_text_channel(guild, channel, "announcements");
        sim.add_member(guild, UserSpec::new(ALICE, "alice"), &[]);
    }
    sim.enforce_global_rate(global_rate);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("meetbot.db").display()
    ))
    .await
    .expect("open the database");
    let clock = ManualClock::new(t0());
    let bot = meetbot::discord::start_with(
        config_from(&base_env(&sim)),
        StartOptions {
            clock: Arc::new(clock.clone()),
            run_scheduler: false,
            store: Some(store.clone()),
            database_clock: false,
        },
    )
    .await
    .expect("bot starts");
    sim.wait_for_requests(
        "PUT",
        "/applications/*/guilds/*/commands",
        1,
        Duration::from_secs(30),
    )
    .await
    .expect("the bot registers its commands");
    Running {
        sim,
        bot,
        store,
        clock,
        _dir: dir,
    }
}

/// Stores one meeting of an hour with its jobs, announced `announce_before` ahead of its start.
async fn store_meeting(
    store: &Store,
    guild: u64,
    channel: u64,
    n: usize,
    starts: DateTime<Utc>,
    announce_before: Span,
) {
    let id = generate_meeting_id(&mut rand::thread_rng());
    let ends = starts + Span::minutes(60);
    let meeting = NewMeeting {
        id,
        guild_id: guild,
        channel_id: channel,
        host_id: ALICE,
        topic: format!("Load meeting {n}"),
        room: format!("load-meeting-{n}"),
        created_at: t0(),
        starts_at: starts,
        duration_minutes: 60,
        timezone: "UTC".into(),
        repeat: "none".into(),
        repeat_until: None,
        remind_minutes: Some(10),
        invitee_user_ids: vec![],
        invitee_role_ids: vec![],
        private: false,
        discord_event: true,
    };
    let jobs = jobs_for(starts, ends, Some(10), starts - announce_before);
    store
        .create_meeting(&meeting, &jobs)
        .await
        .expect("store a meeting");
}

/// Times `n` ticks with nothing due; returns (mean, median, max) in microseconds.
async fn idle_ticks(bot: &BotHandle, n: usize) -> (f64, f64, f64) {
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let report = bot.tick_scheduler().await.expect("tick");
        us.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(report.ran, 0, "nothing may be due in the idle measurement");
    }
    us.sort_by(f64::total_cmp);
    let mean = us.iter().sum::<f64>() / n as f64;
    (mean, us[n / 2], us[n - 1])
}

async fn idle_load() {
    const MEETINGS: usize = 10_000;
    const TICKS: usize = 500;
    println!("== {MEETINGS} stored future meetings, SQLite ==");
    let r = start(&[], 0).await;
    let (mean, median, max) = idle_ticks(&r.bot, TICKS).await;
    let rss_before = rss_kib();
    println!(
        "idle tick, empty store:       mean {mean:.0} µs, median {median:.0} µs, max {max:.0} µs ({TICKS} ticks)"
    );

    let t = Instant::now();
    for n in 0..MEETINGS {
        // From two days ahead, every 5 minutes (about five weeks); announced a day ahead, so none is due now.
        let starts = t0() + Span::days(2) + Span::minutes(5 * n as i64);
        store_meeting(&r.store, GUILD, CHANNEL, n, starts, Span::hours(24)).await;
    }
    println!(
        "stored {MEETINGS} meetings ({} jobs) in {:.1} s",
        MEETINGS * 4,
        t.elapsed().as_secs_f64()
    );
    let (mean, median, max) = idle_ticks(&r.bot, TICKS).await;
    let rss_after = rss_kib();
    println!(
        "idle tick, {MEETINGS} meetings: mean {mean:.0} µs, median {median:.0} µs, max {max:.0} µs ({TICKS} ticks)"
    );
    println!(
        "RSS of the running bot process: {:.1} MiB before, {:.1} MiB after ({:+.1} MiB)",
        mib(rss_before),
        mib(rss_after),
        mib(rss_after) - mib(rss_before)
    );
    let plan = r.store.claim_due_plan().await.expect("claim plan");
    println!("claim query plan: {}", plan.replace('\n', " | "));
    assert!(
        plan.contains("jobs_due"),
        "the claim must use the jobs_due index: {plan}"
    );
    let plan = r.store.next_due_plan().await.expect("next-due plan");
    println!("next-due query plan: {}", plan.replace('\n', " | "));

    // The first due minute: exactly its work runs, nothing else is read into the tick.
    r.clock.set(t0() + Span::days(1));
    let report = r.bot.tick_scheduler().await.expect("tick");
    println!("tick when the first announcement falls due: {report:?}");
    assert_eq!(report.completed, 1);
    r.bot.shutdown().await.expect("shutdown");
    drop(r.sim);
}

async fn burst() {
    const PER_GUILD: usize = 100; // Discord allows 100 active scheduled events per server
    let guilds: Vec<(u64, u64)> = (0..5)
        .map(|g| (500_000_000_000_000_000 + g, 600_000_000_000_000_000 + g))
        .collect();
    let total = guilds.len() * PER_GUILD;
    println!("\n== {total} meetings due in the same minute, simulator enforcing 50 requests/s ==");
    let r = start(&guilds, 50).await;
    let due = t0() + Span::minutes(30);
    let mut n = 0;
    for &(guild, channel) in &guilds {
        for _ in 0..PER_GUILD {
            // Announcements due within one minute; the meetings start an hour later.
            let starts = due + Span::hours(1) + Span::seconds((n % 60) as i64);
            let announce_before = Span::hours(1);
            store_meeting(&r.store, guild, channel, n, starts, announce_before).await;
            n += 1;
        }
    }
    r.clock.set(due + Span::minutes(1));
    let before = r.sim.requests().len();
    let t = Instant::now();
    let mut ticks = 0;
    let mut completed = 0;
    while completed < total as u32 {
        let report = r.bot.tick_scheduler().await.expect("tick");
        ticks += 1;
        completed += report.completed;
        assert!(
            report.gave_up == 0 && ticks < 100,
            "announcements failing: {report:?}"
        );
    }
    let elapsed = t.elapsed().as_secs_f64();
    let requests = r.sim.requests().len() - before;
    let messages: usize = guilds
        .iter()
        .map(|&(_, c)| r.sim.channel_messages(c).len())
        .sum();
    let events = r
        .sim
        .requests_matching("POST", "/guilds/*/scheduled-events")
        .len();
    println!(
        "announced {messages} of {total} ({events} Discord events) in {ticks} ticks, {requests} requests, {elapsed:.1} s"
    );
    println!(
        "pace floor at Discord's 50/s: {:.1} s; at the bot's configured 40/s: {:.1} s; achieved {:.1} requests/s",
        requests as f64 / 50.0,
        requests as f64 / 40.0,
        requests as f64 / elapsed
    );
    println!("429 answers received: {} (target 0)", r.sim.count_429());
    println!(
        "invalid requests: {}, unhandled routes: {}",
        r.sim.violations().len(),
        r.sim.unhandled_routes().len()
    );
    assert_eq!(messages, total, "every meeting announced once");
    r.bot.shutdown().await.expect("shutdown");
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and a 35-second load
    // run has no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        idle_load().await;
        burst().await;
    });
}
