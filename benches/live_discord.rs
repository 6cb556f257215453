//! Live posts under load, the real bot against the simulated Discord (enforcing 50 requests/s) on loopback: 100
//! announced meetings whose rooms each see 20 joins and leaves within 10 s (2,000 event_sync posts to the bot's
//! listener). Checks that every post ends showing its room's last state, that no request got a 429, and that no
//! post was edited twice within one coalescing window; reports the events' answer times, the edits made, and how
//! long after the last event the last post was right.
//!
//! Run with `CARGO_TARGET_DIR=/work/bench-target cargo bench --bench live_discord`.

#[path = "../tests/support/mod.rs"]
mod support;

use chrono::Duration as Span;
use jitsi_sim::event_sync::{Options, Room, Sender, User};
use meetbot::discord::live::EDIT_WINDOW;
use meetbot::schedule::runner::jobs_for;
use meetbot::store::NewMeeting;
use std::time::{Duration, Instant};
use support::*;

const ROOMS: usize = 100;
const EVENTS_PER_ROOM: usize = 20;
const SPAN: Duration = Duration::from_secs(10);
const TOKEN: &str = "bench-live-token-0123456789abcdef0123456";
/// What every post must end with: Alice (two tabs, one closed), Bob, and two of nine guests still in.
const FINAL: &str = "4 in the call: @Alice, @Bob and 2 guests";

fn main() {
    support::run_bench(live_posts_under_load());
}

async fn live_posts_under_load() {
    let h = Harness::start_with(
        &[
            ("MEETBOT_HTTP_LISTEN", "127.0.0.1:0"),
            ("JITSI_EVENTS_TOKEN", TOKEN),
        ],
        |sim| sim.enforce_global_rate(50),
    )
    .await;
    let now = h.now();
    let starts = now + Span::minutes(5);
    let ends = starts + Span::minutes(60);
    let mut rooms = Vec::new();
    for n in 0..ROOMS {
        let room = format!("bench-live-{n:03}");
        let (_, occ) = h
            .store
            .create_meeting(
                &NewMeeting {
                    id: format!("benchlive{n:03}"),
                    guild_id: GUILD,
                    channel_id: CHANNEL,
                    host_id: ALICE,
                    topic: format!("Room {n}"),
                    room: room.clone(),
                    created_at: now,
                    starts_at: starts,
                    duration_minutes: 60,
                    timezone: "UTC".into(),
                    repeat: "none".into(),
                    repeat_until: None,
                    remind_minutes: None,
                    invitee_user_ids: vec![],
                    invitee_role_ids: vec![],
                    private: false,
                    discord_event: true,
                },
                &jobs_for(starts, ends, None, now),
            )
            .await
            .expect("store a meeting");
        rooms.push((room, occ.id));
    }
    let announcing = Instant::now();
    while h.tick().await.completed > 0 {}
    println!(
        "announced {ROOMS} meetings (post + event each) in {:.1} s",
        announcing.elapsed().as_secs_f64()
    );
    let posts: Vec<u64> = {
        let mut out = Vec::new();
        for (_, occ) in &rooms {
            let o = h.store.occurrence(*occ).await.unwrap().unwrap();
            out.push(o.announcement_message_id.expect("announced"));
        }
        out
    };
    h.sim.clear_requests();

    // Each room's 20 events: 12 joins (Alice in two tabs, Bob, nine guests), then 8 leaves (Alice's second tab,
    // seven guests), one event per room every half second.
    let alice = User::member(ALICE.to_string(), "alice");
    let bob = User::member(BOB.to_string(), "bob");
    let t = starts.timestamp();
    let mut scripts = Vec::new();
    for (room, _) in &rooms {
        let (mut r, created) = Room::create(&format!("{room}@muc.meet.jitsi"), t);
        let mut events = vec![created];
        events.push(r.join("a1@meet.jitsi/1", &alice, t));
        events.push(r.join("a2@meet.jitsi/2", &alice, t));
        events.push(r.join("b@meet.jitsi/3", &bob, t + 1));
        for g in 0..9 {
            events.push(r.join(&format!("g{g}@meet.jitsi/g"), &User::anonymous(), t + 2));
        }
        events.push(r.leave("a2@meet.jitsi/2", t + 3));
        for g in 0..7 {
            events.push(r.leave(&format!("g{g}@meet.jitsi/g"), t + 4));
        }
        // room/created is one more than the 20 joins and leaves.
        assert_eq!(events.len(), EVENTS_PER_ROOM + 1);
        scripts.push(events);
    }
    let addr = h.bot().http_addr().expect("the listener runs");
    let sender = Sender::new(Options::new(format!("http://{addr}/jitsi"), Some(TOKEN)));
    h.clock.set(starts + Span::minutes(1));
    let step = SPAN / EVENTS_PER_ROOM as u32;
    let started = Instant::now();
    let mut answers = Vec::new();
    for round in 0..=EVENTS_PER_ROOM {
        let mut sends = Vec::new();
        for script in &scripts {
            let sender = &sender;
            let event = &script[round];
            sends.push(async move {
                let sent = Instant::now();
                let d = sender.send(event).await;
                (d.status(), sent.elapsed())
            });
        }
        for (status, took) in futures::future::join_all(sends).await {
            assert_eq!(status, Some(200));
            answers.push(took);
        }
        tokio::time::sleep_until((started + step * (round as u32 + 1)).into()).await;
    }
    let last_event = Instant::now();
    answers.sort();

    // Every post ends right.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let right = posts
            .iter()
            .filter(|id| {
                h.sim.message(**id).is_some_and(|m| {
                    m["embeds"][0]["description"]
                        .as_str()
                        .is_some_and(|d| d.starts_with(FINAL))
                })
            })
            .count();
        if right == ROOMS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {right} of {ROOMS} posts show the final state"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = last_event.elapsed();
    // A late edit would show up within a window.
    tokio::time::sleep(EDIT_WINDOW + Duration::from_secs(1)).await;

    let mut edits = 0usize;
    let mut most = 0usize;
    let mut closest = Duration::MAX;
    for id in &posts {
        let list = h
            .sim
            .requests_matching("PATCH", &format!("/channels/*/messages/{id}"));
        edits += list.len();
        most = most.max(list.len());
        for pair in list.windows(2) {
            closest = closest.min(pair[1].received_at - pair[0].received_at);
        }
    }
    let activations = h
        .sim
        .requests_matching("PATCH", "/guilds/*/scheduled-events/*")
        .len();
    let lookups = h.sim.requests_matching("GET", "/guilds/*/members/*").len();
    let too_many = h.sim.count_429();
    println!(
        "{} events in {:.1} s; answered p50 {}, p99 {}, max {}",
        answers.len(),
        (last_event - started).as_secs_f64(),
        ms(percentile(&answers, 0.50)),
        ms(percentile(&answers, 0.99)),
        ms(*answers.last().unwrap())
    );
    println!(
        "{edits} post edits ({:.1} a post, at most {most}); closest two edits of one post {:.2} s apart (window {} s); \
         {activations} event moves, {lookups} member lookups; all {ROOMS} posts right {:.1} s after the last event; {too_many} 429s",
        edits as f64 / ROOMS as f64,
        closest.as_secs_f64(),
        EDIT_WINDOW.as_secs(),
        settled.as_secs_f64(),
    );
    assert_eq!(too_many, 0, "no 429");
    assert!(
        closest >= EDIT_WINDOW - Duration::from_millis(100),
        "a post was edited twice within a window"
    );
    h.finish().await;
}
