//! Faults as features: the real `meetbot` binary killed (SIGKILL) or stopped (SIGTERM) in the middle of a reminder
//! fan-out and started again, and Discord answering 502 after it did what was asked. Every invitee ends with exactly
//! one reminder DM carrying their own valid link; exactly one announcement and one Discord event remain.

mod support;

use chrono::{Duration as Span, Utc};
use discord_sim::{SimOptions, Simulator, UserSpec};
use meetbot::schedule::runner::jobs_for;
use meetbot::store::{NewMeeting, Store};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::Duration;
use support::*;

const INVITEES: u64 = 60;

fn invitee(i: u64) -> u64 {
    400_000_000_000_000_000 + i
}

/// The simulated server with 60 more members to invite.
async fn simulator() -> Simulator {
    let sim = Simulator::start(SimOptions {
        bot_token: BOT_TOKEN.into(),
        ..SimOptions::default()
    })
    .await;
    populate(&sim);
    for i in 0..INVITEES {
        sim.add_member(GUILD, UserSpec::new(invitee(i), &format!("guest{i}")), &[]);
    }
    sim
}

/// A meeting starting in five minutes whose reminder (ten minutes ahead) is due at once, inviting the 60.
async fn schedule(db_url: &str) -> String {
    let store = Store::open(db_url).await.expect("open the database");
    let now = Utc::now();
    let starts = now + Span::minutes(5);
    let new = NewMeeting {
        id: "FaultyMeet01".into(),
        guild_id: GUILD,
        channel_id: CHANNEL,
        host_id: ALICE,
        topic: "Fan-out under faults".into(),
        room: "fan-out-under-faults".into(),
        created_at: now,
        starts_at: starts,
        duration_minutes: 30,
        timezone: "UTC".into(),
        repeat: "none".into(),
        repeat_until: None,
        remind_minutes: Some(10),
        invitee_user_ids: (0..INVITEES).map(invitee).collect(),
        invitee_role_ids: vec![],
        private: true,
        discord_event: false,
    };
    let jobs = jobs_for(starts, starts + Span::minutes(30), Some(10), now);
    store
        .create_meeting(&new, &jobs)
        .await
        .expect("store the meeting");
    store.close().await;
    new.id
}

/// Starts the real binary against the simulator on the SQLite database at `db_url`.
fn spawn_bot(sim: &Simulator, db_url: &str, dir: &std::path::Path) -> Child {
    let mut env: HashMap<String, String> = base_env(sim);
    env.insert("DATABASE_URL".into(), db_url.into());
    env.insert("MEETBOT_DISCORD_INVITEE_CAP".into(), "100".into());
    env.insert("MEETBOT_SCHEDULER_LEASE_SECONDS".into(), "3".into());
    env.insert("MEETBOT_SCHEDULER_POLL_SECONDS".into(), "1".into());
    env.insert(
        "MEETBOT_CONFIG".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/meetbot.toml").into(),
    );
    env.insert("RUST_LOG".into(), "meetbot=info".into());
    spawn_meetbot(env, dir)
}

/// How many of the 60 hold at least one DM.
fn reached(sim: &Simulator) -> usize {
    (0..INVITEES)
        .filter(|i| !sim.dms_to(invitee(*i)).is_empty())
        .count()
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the bot") {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "the bot did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every invitee has exactly one DM, and it carries a valid link in their own name.
fn assert_exactly_one_valid_reminder_each(sim: &Simulator, log: &str) {
    for i in 0..INVITEES {
        let user = invitee(i);
        let dms = sim.dms_to(user);
        assert_eq!(dms.len(), 1, "invitee {i} got {} DMs\n{log}", dms.len());
        let text = dms[0]["content"].as_str().unwrap_or_default().to_string()
            + &dms[0]["embeds"].to_string();
        let claims = verified_claims(&text, Utc::now());
        assert_eq!(
            claims["context"]["user"]["id"],
            json!(user.to_string()),
            "invitee {i} got someone else's link"
        );
    }
}

async fn fan_out_interrupted_then_restarted(signal: &str) {
    let sim = simulator().await;
    // Answers arrive late, so at the interruption several messages exist on Discord's side unconfirmed.
    sim.set_latency(Duration::from_millis(60));
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("meetbot.db").display()
    );
    schedule(&db_url).await;
    let mut bot = spawn_bot(&sim, &db_url, dir.path());
    wait_until("a third of the reminders", Duration::from_secs(60), || {
        reached(&sim) >= 20
    })
    .await;
    match signal {
        "KILL" => bot.kill().expect("SIGKILL the bot"),
        _ => {
            let ok = Command::new("kill")
                .args([format!("-{signal}"), bot.id().to_string()])
                .status()
                .expect("send the signal")
                .success();
            assert!(ok, "kill -{signal} failed");
        }
    }
    wait_exit(&mut bot, Duration::from_secs(30));
    let before = reached(&sim);
    assert!(
        before < INVITEES as usize,
        "the fan-out finished before the {signal}; nothing was interrupted"
    );
    let mut bot = spawn_bot(&sim, &db_url, dir.path());
    wait_until("every invitee reached", Duration::from_secs(90), || {
        reached(&sim) == INVITEES as usize
    })
    .await;
    // Let a duplicate, if any were coming, arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    bot.kill().ok();
    wait_exit(&mut bot, Duration::from_secs(30));
    let log = std::fs::read_to_string(dir.path().join("bot.log")).unwrap_or_default();
    assert_exactly_one_valid_reminder_each(&sim, &log);
    assert!(sim.violations().is_empty(), "{:#?}", sim.violations());
    assert!(
        sim.unhandled_routes().is_empty(),
        "{:?}",
        sim.unhandled_routes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_reminder_fan_out_then_restart_gives_every_invitee_exactly_one_valid_dm() {
    fan_out_interrupted_then_restarted("KILL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_reminder_fan_out_hands_the_rest_back_and_the_restart_sends_each_once() {
    fan_out_interrupted_then_restarted("TERM").await;
}

/// Channel posts that are not interaction answers (those carry a webhook id).
fn posts(h: &Harness) -> Vec<Value> {
    h.channel_texts(CHANNEL)
        .into_iter()
        .filter(|m| m.get("webhook_id").is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_after_creating_the_announcement_and_the_event_leaves_exactly_one_of_each() {
    let h = Harness::start().await;
    let i = h
        .meet(
            ALICE,
            json!([opt("topic", "Retro"), opt("when", "2026-12-01 15:00")]),
        )
        .await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let id = reply
        .split("Meeting id: `")
        .nth(1)
        .unwrap()
        .split('`')
        .next()
        .unwrap()
        .to_string();
    h.sim
        .fail_after_next("POST", "/channels/*/messages", 502, 1);
    h.sim
        .fail_after_next("POST", "/guilds/*/scheduled-events", 502, 1);
    let report = h.tick().await;
    assert_eq!(report.completed, 1, "{report:?}");

    let announcements: Vec<Value> = posts(&h)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.contains("Retro")))
        .collect();
    assert_eq!(announcements.len(), 1, "{announcements:#?}");
    let live: Vec<Value> = h
        .sim
        .scheduled_events(GUILD)
        .into_iter()
        .filter(|e| e["status"] == 1)
        .collect();
    assert_eq!(live.len(), 1, "{live:#?}");
    let occ = &h.store.occurrences(&id).await.unwrap()[0];
    assert_eq!(
        occ.announcement_message_id,
        announcements[0]["id"].as_str().and_then(|s| s.parse().ok())
    );
    assert_eq!(
        occ.discord_event_id,
        live[0]["id"].as_str().and_then(|s| s.parse().ok())
    );
    h.finish().await;
}
