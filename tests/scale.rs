//! Scale-out scenarios: what several processes (or one process across restarts) share through the store —
//! cooldowns, DM channels, the database's clock — against the simulated Discord.

mod support;

use meetbot::discord::{BotHandle, StartOptions};
use serde_json::json;
use std::time::Duration;
use support::fleet::{self, member};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_outlives_a_restart() {
    let mut h = Harness::start_with(&[("MEETBOT_DISCORD_COOLDOWN_SECONDS", "600")], |_| {}).await;
    let first = h.meet(ALICE, json!([opt("topic", "One")])).await;
    h.reply_containing(&first, "Meeting id: `").await;
    h.restart().await;
    let again = h.meet(ALICE, json!([opt("topic", "Two")])).await;
    h.reply_containing(&again, "you can use /meet again").await;
    // Someone else is not held back by Alice's cooldown.
    let bob = h.meet(BOB, json!([opt("topic", "Three")])).await;
    h.reply_containing(&bob, "Meeting id: `").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_invitee_costs_one_request_after_a_restart() {
    let mut h = Harness::start().await;
    let first = h
        .meet(
            ALICE,
            json!([opt("topic", "One"), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    h.reply_containing(&first, "Delivered").await;
    assert_eq!(
        h.sim.requests_matching("POST", "/users/@me/channels").len(),
        1
    );
    h.restart().await;
    let second = h
        .meet(
            ALICE,
            json!([opt("topic", "Two"), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    h.reply_containing(&second, "Delivered").await;
    assert_eq!(
        h.sim.requests_matching("POST", "/users/@me/channels").len(),
        1,
        "the DM channel opened before the restart is read from the store"
    );
    assert_eq!(h.dm_texts(BOB).len(), 2, "both links arrived");
    h.finish().await;
}

/// One process of a deployment: its own shard range, store pool, clock (the database's) and pacer.
async fn process(
    sim: &discord_sim::Simulator,
    db_url: &str,
    shards: &str,
    register: &str,
) -> BotHandle {
    let mut env = base_env(sim);
    env.insert("DATABASE_URL".into(), db_url.into());
    env.insert("MEETBOT_DISCORD_SHARDS".into(), shards.into());
    env.insert("MEETBOT_DISCORD_REGISTER_ON_START".into(), register.into());
    env.insert("MEETBOT_DISCORD_INVITEE_CAP".into(), "100".into());
    meetbot::discord::start_with(
        config_from(&env),
        StartOptions {
            run_scheduler: false,
            ..StartOptions::default()
        },
    )
    .await
    .expect("a process starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_of_four_shards_answer_each_interaction_once_and_share_one_pace() {
    let Some((db_url, _schema)) = support::db::postgres_schema_via(None).await else {
        return;
    };
    let sim = fleet::simulator(12, 16).await;
    const SERVERS: u64 = 20;
    const TEAM: u64 = 10;
    fleet::populate(&sim, SERVERS, TEAM);
    // Discord's own limit, for the bot token over all processes; each process is configured at the full pace.
    sim.enforce_global_rate(50);
    let (a, b, c) = tokio::join!(
        process(&sim, &db_url, "0-3/12", "global"),
        process(&sim, &db_url, "4-7/12", "off"),
        process(&sim, &db_url, "8-11/12", "off"),
    );
    assert_eq!(a.shards(), (0..=3, 12));
    assert_eq!(c.shards(), (8..=11, 12));
    // serenity identifies a process's shards five seconds apart.
    fleet::registered_and_connected(&sim, 12).await;
    let shards: std::collections::BTreeSet<u64> = sim
        .identifies()
        .iter()
        .filter_map(|i| i.shard)
        .map(|(s, n)| {
            assert_eq!(n, 12);
            s
        })
        .collect();
    assert_eq!(shards.len(), 12, "each of the 12 shards identified once");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let calls: Vec<_> =
        futures::future::join_all((0..SERVERS).map(|k| fleet::meet(&sim, k, vec![]))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for (k, i) in calls.iter().enumerate() {
        let complete = format!("Delivered personal links to {TEAM} of {TEAM}");
        fleet::answered_once(&sim, k as u64, &i.token, deadline, |c| {
            c.contains(&complete)
        })
        .await;
    }
    for k in 0..SERVERS {
        for j in 0..TEAM {
            assert_eq!(
                sim.dms_to(member(k, j)).len(),
                1,
                "server {k} member {j}: exactly one DM"
            );
        }
    }
    assert_eq!(
        sim.count_429(),
        0,
        "the three processes together kept under the global limit"
    );
    assert_eq!(
        sim.identifies().iter().filter(|i| i.token_accepted).count(),
        12,
        "no process ran a shard beyond its range"
    );
    for p in [a, b, c] {
        p.shutdown().await.expect("clean shutdown");
    }
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_clock_is_5_minutes_off_schedules_on_the_databases_clock() {
    let Some((db_url, _schema)) = support::db::postgres_schema_via(None).await else {
        return;
    };
    for skew in [chrono::Duration::minutes(5), -chrono::Duration::minutes(5)] {
        let sim = discord_sim::Simulator::start(discord_sim::SimOptions {
            bot_token: BOT_TOKEN.into(),
            ..discord_sim::SimOptions::default()
        })
        .await;
        populate(&sim);
        let mut env = base_env(&sim);
        env.insert("DATABASE_URL".into(), db_url.clone());
        let before = sim
            .requests_matching("PUT", "/applications/*/guilds/*/commands")
            .len();
        // This machine's clock is off by `skew`; the database's is right.
        let process = meetbot::clock::ManualClock::new(chrono::Utc::now() + skew);
        let bot = meetbot::discord::start_with(
            config_from(&env),
            StartOptions {
                clock: std::sync::Arc::new(process.clone()),
                run_scheduler: false,
                store: None,
                database_clock: true,
            },
        )
        .await
        .expect("bot starts");
        sim.wait_for_requests(
            "PUT",
            "/applications/*/guilds/*/commands",
            before + 1,
            Duration::from_secs(20),
        )
        .await
        .expect("registered");
        let db_now = bot.store().db_now().await.unwrap();
        let i = sim
            .invoke_command(
                GUILD,
                CHANNEL,
                ALICE,
                "meet",
                json!([opt("topic", "Skew"), opt("when", "in 2h")]),
            )
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let reply = loop {
            let found = sim.interaction_responses(&i.token).iter().find_map(|r| {
                r.body["content"]
                    .as_str()
                    .filter(|c| c.contains("Meeting id: `"))
                    .map(str::to_string)
            });
            if let Some(r) = found {
                break r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no reply to /meet when"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let start = reply.find("Meeting id: `").unwrap() + "Meeting id: `".len();
        let id = reply[start..].split('`').next().unwrap().to_string();
        let occ = bot.store().occurrences(&id).await.unwrap().remove(0);
        let off = (occ.starts_at - (db_now + chrono::Duration::hours(2))).abs();
        assert!(
            off < chrono::Duration::seconds(30),
            "skew {skew}: 'in 2h' became {} vs the database's {db_now}",
            occ.starts_at
        );
        bot.shutdown().await.expect("clean shutdown");
        assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_started_together_identify_in_turn_within_max_concurrency() {
    let Some((db_url, _schema)) = support::db::postgres_schema_via(None).await else {
        return;
    };
    // max_concurrency 1 (every bot under 150,000 servers): all six shards are one bucket, so every IDENTIFY of
    // the bot, whichever process sends it, must be five seconds after the one before.
    let sim = fleet::simulator(6, 1).await;
    let (a, b, c) = tokio::join!(
        process(&sim, &db_url, "0-1/6", "off"),
        process(&sim, &db_url, "2-3/6", "off"),
        process(&sim, &db_url, "4-5/6", "off"),
    );
    fleet::wait_for_shards(&sim, 6, Duration::from_secs(90)).await;
    // Long enough for a shard beyond a process's range to show up too.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut identifies = sim.identifies();
    identifies.sort_by_key(|i| i.at);
    let shards: Vec<u64> = identifies
        .iter()
        .filter_map(|i| i.shard)
        .map(|(s, n)| {
            assert_eq!(n, 6);
            s
        })
        .collect();
    let mut sorted = shards.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..6).collect::<Vec<_>>(),
        "each shard identified once, by one process: {shards:?}"
    );
    // Every IDENTIFY ever sent counts, not only those of sessions still open. Between processes the turn is
    // ours and must hold the full five seconds. Within one process serenity spaces its own shards: it counts
    // five seconds from the moment the previous shard's socket was open, and each IDENTIFY follows its HELLO,
    // so the gap as received can come out a fraction of a millisecond short (4.9997 s was seen under load).
    let process_of = |shard: Option<(u64, u64)>| shard.map(|(s, _)| s / 2);
    for pair in identifies.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        let least = if process_of(pair[0].shard) == process_of(pair[1].shard) {
            Duration::from_secs(5) - Duration::from_millis(50)
        } else {
            Duration::from_secs(5)
        };
        assert!(
            gap >= least,
            "two IDENTIFYs {gap:?} apart in one bucket (max_concurrency 1): {:?} then {:?}; all: {:?}",
            pair[0].shard,
            pair[1].shard,
            identifies
                .iter()
                .map(|i| (i.shard, i.at.duration_since(identifies[0].at)))
                .collect::<Vec<_>>()
        );
    }
    for p in [a, b, c] {
        p.shutdown().await.expect("clean shutdown");
    }
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
}
