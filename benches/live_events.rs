//! Jitsi events at load, the HTTP side alone (the Discord side plugs into the same sink):
//! 100 live rooms, each created, joined by 20 members and left by them within 10 s, then
//! destroyed, all rooms at once, sent as the event_sync component sends them to the real
//! listener with a real store. Prints the answer latency (p50, p99, max) and what a coalescing
//! sink (2 s window) delivered: per room, the deliveries, the shortest gap between two (taken
//! inside the delivery, so task scheduling can shave a few milliseconds off the window), and
//! whether the last one saw the final state (ended, 20 people).
//!
//! Run with `cargo bench --bench live_events` (SQLite; PostgreSQL too when
//! MEETBOT_TEST_POSTGRES_URL is set).

#[path = "../tests/support/db.rs"]
mod db;

use chrono::{Duration as Minutes, TimeZone, Utc};
use jitsi_sim::event_sync::{Options, Room, Sender, User};
use meetbot::clock::ManualClock;
use meetbot::coalesce::Coalescer;
use meetbot::meeting::live::{view, LiveChange, LiveState, LiveTimings};
use meetbot::secret::Secret;
use meetbot::store::{NewMeeting, Store};
use meetbot::web::{self, Readiness, WebDeps, WebOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Rooms at once (MEETBOT_BENCH_ROOMS overrides, for a quick look at one room's cost).
fn rooms() -> usize {
    std::env::var("MEETBOT_BENCH_ROOMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}
const PEOPLE: usize = 20;
const SPREAD: Duration = Duration::from_secs(10);
const WINDOW: Duration = Duration::from_secs(2);
const TOKEN: &str = "bench-token-0123456789abcdef0123456789";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The sender stands for Prosody, another process: its 100 rooms' tasks run on a runtime of
    // their own, so they do not queue in the listener's task queues (which would count the
    // sender's own scheduling as the bot's answer time). Both still share the machine's cores.
    let prosody = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the sender's runtime");
    let sender_rt = prosody.handle().clone();
    rt.block_on(async {
        let sqlite = db::sqlite_db().await;
        run("sqlite", sqlite.store.clone(), &sender_rt).await;
        if std::env::var("MEETBOT_TEST_POSTGRES_URL").is_ok() {
            if let Some(pg) = db::postgres_db().await {
                run("postgres", pg.store.clone(), &sender_rt).await;
            }
        }
    });
    drop(prosody);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// What the sink saw per occurrence: delivery instants and whether each saw the final state.
type Seen = Arc<Mutex<HashMap<i64, Vec<(Instant, bool)>>>>;

async fn run(backend: &str, store: Store, sender_rt: &tokio::runtime::Handle) {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let clock = ManualClock::new(t0);
    let mut occurrences = Vec::new();
    for i in 0..rooms() {
        let new = NewMeeting {
            id: format!("bench{i:04}"),
            guild_id: 1_100_000_000_000_000_001,
            channel_id: 2_200_000_000_000_000_002,
            host_id: 3_300_000_000_000_000_003,
            topic: format!("Bench {i}"),
            room: format!("bench-room-{i}"),
            created_at: t0,
            starts_at: t0,
            duration_minutes: 60,
            timezone: "UTC".into(),
            repeat: "none".into(),
            repeat_until: None,
            remind_minutes: None,
            invitee_user_ids: vec![],
            invitee_role_ids: vec![],
            private: false,
            discord_event: true,
        };
        occurrences.push(store.create_meeting(&new, &[]).await.expect("meeting").1);
    }
    let by_id: HashMap<i64, meetbot::store::Occurrence> =
        occurrences.iter().map(|o| (o.id, o.clone())).collect();

    let seen: Seen = Arc::default();
    let (sink, sink_task) = {
        let (seen, store, by_id) = (seen.clone(), store.clone(), Arc::new(by_id));
        Coalescer::start(WINDOW, move |occ: i64, _change: LiveChange| {
            let (seen, store, by_id) = (seen.clone(), store.clone(), by_id.clone());
            async move {
                let started = Instant::now();
                // What the Discord side would render: the view from the store, read now.
                let record = store.live_record(occ).await.ok().flatten();
                let v = view(
                    record.as_ref(),
                    &by_id[&occ],
                    t0 + Minutes::minutes(30),
                    &LiveTimings::default(),
                );
                let last =
                    matches!(v.state, LiveState::Ended { people, .. } if people as usize == PEOPLE);
                seen.lock()
                    .unwrap()
                    .entry(occ)
                    .or_default()
                    .push((started, last));
                Ok(())
            }
        })
    };
    let options = WebOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        Some(Secret::new(TOKEN)),
        None,
    )
    .unwrap();
    let deps = WebDeps {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        readiness: Readiness::new(),
        sink: Arc::new(sink.clone()),
        tenant: None,
        timings: LiveTimings::default(),
    };
    let listener = web::bind(&options).await.unwrap();
    let base = format!("http://{}/jitsi", listener.local_addr().unwrap());
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(web::serve(listener, options, deps, stopped));
    let sender = Sender::new(Options::new(base, Some(TOKEN)));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..rooms() {
        let sender = sender.clone();
        tasks.push(sender_rt.spawn(async move {
            let s = t0.timestamp();
            let (mut room, created) = Room::create(&format!("bench-room-{i}@muc.meet.jitsi"), s);
            let mut events = vec![created];
            for p in 0..PEOPLE {
                let user = User::member((300_000_000_000_000_000u64 + p as u64).to_string(), "x");
                events.push(room.join(&format!("p{p}@meet.jitsi/r"), &user, s + 1 + p as i64));
            }
            for p in 0..PEOPLE {
                events.push(room.leave(&format!("p{p}@meet.jitsi/r"), s + 100 + p as i64));
            }
            events.extend(room.destroy(s + 200));
            let gap = SPREAD / events.len() as u32;
            // Rooms start out of step, as real ones do.
            tokio::time::sleep(gap * (i as u32 % 10) / 10).await;
            let mut latencies = Vec::with_capacity(events.len());
            for e in &events {
                let sent = Instant::now();
                let d = sender.send(e).await;
                latencies.push(sent.elapsed());
                assert_eq!(d.status(), Some(200), "{}", e.path);
                tokio::time::sleep(gap.saturating_sub(sent.elapsed())).await;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let sent_in = started.elapsed();
    // Let the last windows close.
    tokio::time::sleep(WINDOW * 2).await;
    sink.close();
    sink_task.await.unwrap();
    latencies.sort();

    let seen = seen.lock().unwrap();
    let deliveries: Vec<usize> = occurrences
        .iter()
        .map(|o| seen.get(&o.id).map_or(0, Vec::len))
        .collect();
    let min_gap = seen
        .values()
        .flat_map(|v| v.windows(2).map(|w| w[1].0 - w[0].0))
        .min()
        .unwrap_or(Duration::MAX);
    let final_right = seen
        .values()
        .filter(|v| v.last().is_some_and(|(_, last)| *last))
        .count();
    println!(
        "{backend}: {} events from {} rooms in {:.1} s: answer p50 {} ms, p99 {} ms, max {} ms",
        latencies.len(),
        rooms(),
        sent_in.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    );
    println!(
        "{backend}: coalesced deliveries per room {}..{} (window {} s, shortest gap {:.2} s); final state delivered for {final_right}/{} rooms",
        deliveries.iter().min().unwrap(),
        deliveries.iter().max().unwrap(),
        WINDOW.as_secs(),
        min_gap.as_secs_f64(),
        rooms(),
    );
}
