//! Live meetings end to end: the real HTTP listener on 127.0.0.1 with a real store, fed by the
//! simulated event_sync component and JaaS webhooks (tests/jitsi-sim). Store behaviour runs
//! on SQLite and (when reachable) PostgreSQL.

#[path = "support/db.rs"]
mod db;

use chrono::{DateTime, Duration as Minutes, TimeZone, Utc};
use db::TestDb;
use jitsi_sim::event_sync::{Event, Options, Room, Sender, User};
use jitsi_sim::jaas;
use meetbot::clock::ManualClock;
use meetbot::jitsi::events::{EventKind, EventSource, Presence, RoomLife};
use meetbot::meeting::live::{view, LiveChange, LiveSink, LiveState, LiveTimings};
use meetbot::metrics::{self, EventVerdict};
use meetbot::secret::Secret;
use meetbot::store::{LiveApplied, LiveRecord, LiveUpdate, NewMeeting, Occurrence, Store};
use meetbot::web::{self, Readiness, WebDeps, WebOptions};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

const GUILD: u64 = 1_100_000_000_000_000_001;
const ALICE: u64 = 300_000_000_000_000_002;
const BOB: u64 = 300_000_000_000_000_003;
const TOKEN: &str = "live-test-token-0123456789abcdef0123";
const JAAS_SECRET: &str = "whsec_live-test-secret";
const JAAS_APP: &str = "vpaas-magic-cookie-0123";

on_both_backends!(
    events_land_in_the_store_and_the_view_follows_them,
    duplicated_and_reordered_events_end_in_the_ordered_state,
    two_pools_applying_one_meetings_events_interleaved_converge,
    a_burst_of_concurrent_events_is_applied_once_each_and_converges,
    one_event_naming_a_row_twice_merges_it_as_two_events_would,
    a_lost_destroyed_and_a_prosody_crash_still_end_the_meeting,
    a_refused_join_creates_and_destroys_a_room_without_making_it_live,
    refused_requests_change_nothing,
    unknown_rooms_and_other_tenants_get_200_and_no_effect,
    jaas_webhooks_are_verified_and_applied_once,
    two_listeners_on_one_database_end_as_one,
    only_one_instance_claims_each_discord_event_transition,
    readiness_follows_the_gateway_and_the_database,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

/// Unix seconds `min` minutes after the start.
fn at(min: i64) -> i64 {
    (t0() + Minutes::minutes(min)).timestamp()
}

fn meeting(id: &str, room: &str) -> NewMeeting {
    NewMeeting {
        id: id.to_string(),
        guild_id: GUILD,
        channel_id: 2_200_000_000_000_000_002,
        host_id: ALICE,
        topic: format!("Topic of {id}"),
        room: room.to_string(),
        created_at: t0() - Minutes::hours(1),
        starts_at: t0(),
        duration_minutes: 60,
        timezone: "UTC".into(),
        repeat: "none".into(),
        repeat_until: None,
        remind_minutes: None,
        invitee_user_ids: vec![],
        invitee_role_ids: vec![],
        private: false,
        discord_event: true,
    }
}

async fn create(store: &Store, id: &str, room: &str) -> Occurrence {
    store
        .create_meeting(&meeting(id, room), &[])
        .await
        .unwrap()
        .1
}

#[derive(Default)]
struct Recorder(Mutex<Vec<LiveChange>>);

impl LiveSink for Recorder {
    fn changed(&self, change: LiveChange) {
        self.0.lock().unwrap().push(change);
    }
}

struct Listener {
    base: String,
    sink: Arc<Recorder>,
    readiness: Readiness,
    _stop: watch::Sender<bool>,
}

impl Listener {
    fn event_sync(&self) -> Sender {
        Sender::new(Options::new(format!("{}/jitsi", self.base), Some(TOKEN)))
    }

    fn jaas(&self) -> jaas::Sender {
        jaas::Sender::new(format!("{}/jaas/webhook", self.base), JAAS_SECRET)
    }

    fn changes(&self) -> Vec<i64> {
        self.sink
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.occurrence_id)
            .collect()
    }
}

async fn listen(store: Store, clock: &ManualClock, tenant: Option<&str>) -> Listener {
    let options = WebOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        Some(Secret::new(TOKEN)),
        Some(Secret::new(JAAS_SECRET)),
    )
    .unwrap();
    listen_with(store, clock, tenant, options).await
}

async fn listen_with(
    store: Store,
    clock: &ManualClock,
    tenant: Option<&str>,
    options: WebOptions,
) -> Listener {
    let sink = Arc::new(Recorder::default());
    let readiness = Readiness::new();
    let deps = WebDeps {
        store,
        clock: Arc::new(clock.clone()),
        readiness: readiness.clone(),
        sink: sink.clone(),
        tenant: tenant.map(str::to_string),
        timings: LiveTimings::default(),
    };
    let listener = web::bind(&options).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(web::serve(listener, options, deps, stopped));
    Listener {
        base,
        sink,
        readiness,
        _stop: stop,
    }
}

fn clock() -> ManualClock {
    ManualClock::new(t0())
}

async fn send_ok(sender: &Sender, event: &Event) {
    let d = sender.send(event).await;
    assert_eq!(d.status(), Some(200), "{} {}", event.path, event.body);
}

async fn record(store: &Store, occ: &Occurrence) -> LiveRecord {
    store
        .live_record(occ.id)
        .await
        .unwrap()
        .expect("a live record")
}

/// The record with the occurrence id blanked, to compare two occurrences' states.
fn shape(mut r: LiveRecord) -> LiveRecord {
    r.occurrence_id = 0;
    r
}

/// One meeting's full event_sync story in `room_jid`: Alice in two tabs, Bob, jibri, a
/// guest link, Bob leaving and rejoining, everyone leaving, the room destroyed.
fn story(room_jid: &str) -> Vec<Event> {
    let alice = User::member(ALICE.to_string(), "alice");
    let bob = User::member(BOB.to_string(), "bob");
    let guest = User::member("guest-00ff00ff00ff00ff", "Typed By A Guest");
    let (mut room, created) = Room::create(room_jid, at(-2));
    let mut events = vec![created];
    events.push(room.join("alice-1@meet.jitsi/a", &alice, at(-2)));
    events.push(room.join("alice-2@meet.jitsi/b", &alice, at(1)));
    events.push(room.join("bob@meet.jitsi/c", &bob, at(3)));
    events.push(room.join("jibri@recorder.meet.jitsi/r", &User::anonymous(), at(4)));
    events.push(room.join("guest@meet.jitsi/g", &guest, at(5)));
    events.push(room.leave("bob@meet.jitsi/c", at(20)));
    events.push(room.join("bob@meet.jitsi/c", &bob, at(25)));
    events.push(room.leave("alice-2@meet.jitsi/b", at(30)));
    events.extend(room.destroy(at(40)));
    events
}

async fn events_land_in_the_store_and_the_view_follows_them(db: &TestDb) {
    let occ = create(&db.store, "m1", "standup-7f3kq2").await;
    let clock = clock();
    let l = listen(db.store.clone(), &clock, None).await;
    let sender = l.event_sync();
    let events = story("standup-7f3kq2@muc.meet.jitsi");
    // Up to and including the guest's join: everyone is in.
    for e in &events[..6] {
        send_ok(&sender, e).await;
    }
    let timings = LiveTimings::default();
    let now = t0() + Minutes::minutes(10);
    let v = view(Some(&record(&db.store, &occ).await), &occ, now, &timings);
    assert_eq!(
        v.state,
        LiveState::Live {
            since: t0() - Minutes::minutes(2)
        }
    );
    assert_eq!(v.members, vec![ALICE, BOB]);
    assert_eq!(v.guests, 2, "jibri and the guest link count without names");
    assert_eq!(v.in_call(), 4);
    for e in &events[6..] {
        send_ok(&sender, e).await;
    }
    let r = record(&db.store, &occ).await;
    // Bob's rejoin is a new visit; two lives of no room, one of this one.
    assert_eq!(r.visits.len(), 6);
    assert_eq!(r.rooms.len(), 1);
    assert!(r.visits.iter().all(|v| v.left_at.is_some()));
    let v = view(Some(&r), &occ, t0() + Minutes::minutes(50), &timings);
    assert_eq!(
        v.state,
        LiveState::Ended {
            started_at: t0() - Minutes::minutes(2),
            ended_at: t0() + Minutes::minutes(40),
            lasted_minutes: 42,
            people: 4
        }
    );
    assert_eq!(v.peak, 4);
    // Every accepted event was reported for the Discord side, each for this occurrence.
    let changes = l.changes();
    assert_eq!(changes.len(), events.len());
    assert!(changes.iter().all(|&id| id == occ.id));
}

async fn duplicated_and_reordered_events_end_in_the_ordered_state(db: &TestDb) {
    let ordered = create(&db.store, "m-ordered", "ordered-room").await;
    let clock = clock();
    let l = listen(db.store.clone(), &clock, None).await;
    let sender = l.event_sync();
    for e in story("ordered-room@muc.meet.jitsi") {
        send_ok(&sender, &e).await;
    }
    let expected = shape(record(&db.store, &ordered).await);
    for seed in 0..4u64 {
        let room = format!("shuffled-room-{seed}");
        let occ = create(&db.store, &format!("m-shuffled-{seed}"), &room).await;
        let mut events = story(&format!("{room}@muc.meet.jitsi"));
        // Duplicates (Prosody retries, resends) and any order, lefts before their joins.
        let dupes: Vec<Event> = events.iter().step_by(2).cloned().collect();
        events.extend(dupes);
        events.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        for e in &events {
            send_ok(&sender, e).await;
        }
        assert_eq!(
            shape(record(&db.store, &occ).await),
            expected,
            "seed {seed}"
        );
    }
}

/// The store-level updates of the story, as the listener would build them.
fn story_updates(occurrence_id: i64) -> Vec<LiveUpdate> {
    use meetbot::jitsi::events::{event_sync, Parsed};
    story("r@muc")
        .into_iter()
        .map(|e| {
            let kind = [
                EventKind::RoomCreated,
                EventKind::RoomDestroyed,
                EventKind::OccupantJoined,
                EventKind::OccupantLeft,
            ]
            .into_iter()
            .find(|k| k.event_sync_path() == e.path)
            .unwrap();
            match event_sync::parse(kind, &e.bytes()).unwrap() {
                Parsed::Event(ev) => LiveUpdate {
                    occurrence_id,
                    at: ev.at,
                    rooms: ev.lives,
                    visits: ev.presences,
                    idempotency_key: None,
                },
                Parsed::Ignored(why) => panic!("ignored: {why}"),
            }
        })
        .collect()
}

async fn two_pools_applying_one_meetings_events_interleaved_converge(db: &TestDb) {
    let reference = create(&db.store, "m-ref", "ref").await;
    for u in story_updates(reference.id) {
        db.store.apply_live(&u, t0()).await.unwrap();
    }
    let expected = shape(record(&db.store, &reference).await);
    let second = Store::open(&db.url).await.unwrap();
    for seed in 0..3u64 {
        let occ = create(&db.store, &format!("m-two-{seed}"), &format!("two-{seed}")).await;
        let mut updates = story_updates(occ.id);
        updates.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        // Both pools apply everything (as two instances receiving each other's retries
        // would), concurrently, in opposite orders.
        let reversed: Vec<LiveUpdate> = updates.iter().rev().cloned().collect();
        let (a, b) = (db.store.clone(), second.clone());
        let one = tokio::spawn(async move {
            for u in updates {
                a.apply_live(&u, t0()).await.unwrap();
            }
        });
        let two = tokio::spawn(async move {
            for u in reversed {
                b.apply_live(&u, t0()).await.unwrap();
            }
        });
        one.await.unwrap();
        two.await.unwrap();
        assert_eq!(
            shape(record(&db.store, &occ).await),
            expected,
            "seed {seed}"
        );
    }
    second.close().await;
}

/// Many events at once, as a busy Jitsi sends them: on SQLite they are written in shared
/// transactions (group commit), which must neither lose one nor apply a keyed one twice, even
/// when both deliveries of a key land in the same batch.
async fn a_burst_of_concurrent_events_is_applied_once_each_and_converges(db: &TestDb) {
    let reference = create(&db.store, "m-burst-ref", "burst-ref").await;
    for u in story_updates(reference.id) {
        db.store.apply_live(&u, t0()).await.unwrap();
    }
    let expected = shape(record(&db.store, &reference).await);
    let mut occurrences = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let occ = create(&db.store, &format!("m-burst-{i}"), &format!("burst-{i}")).await;
        for (n, mut u) in story_updates(occ.id).into_iter().enumerate() {
            // Half the rooms' events carry a JaaS key and are delivered twice at once.
            let copies = if i % 2 == 0 {
                u.idempotency_key = Some(format!("burst-{i}-{n}"));
                2
            } else {
                1
            };
            for _ in 0..copies {
                let (store, u) = (db.store.clone(), u.clone());
                tasks.push(tokio::spawn(async move {
                    (
                        u.idempotency_key.clone(),
                        store.apply_live(&u, t0()).await.unwrap(),
                    )
                }));
            }
        }
        occurrences.push(occ);
    }
    let mut applied_per_key = std::collections::HashMap::<String, (u32, u32)>::new();
    for t in tasks {
        let (key, outcome) = t.await.unwrap();
        match key {
            Some(k) => {
                let e = applied_per_key.entry(k).or_default();
                match outcome {
                    LiveApplied::Applied => e.0 += 1,
                    LiveApplied::Duplicate => e.1 += 1,
                }
            }
            None => assert_eq!(outcome, LiveApplied::Applied),
        }
    }
    assert!(!applied_per_key.is_empty());
    for (k, counts) in &applied_per_key {
        assert_eq!(*counts, (1, 1), "{k}: (applied, duplicate)");
    }
    for occ in &occurrences {
        assert_eq!(shape(record(&db.store, occ).await), expected, "{}", occ.id);
    }
}

/// A `room/destroyed` whose `all_occupants` names one visit twice (a repeated entry, or a forged
/// body) is one event touching one row twice; it must land as the same events sent one by one
/// would, not fail (PostgreSQL refuses one statement updating a row twice).
async fn one_event_naming_a_row_twice_merges_it_as_two_events_would(db: &TestDb) {
    let ts = |min: i64| Utc.timestamp_opt(at(min), 0).unwrap();
    let visit = |joined: Option<i64>, left: Option<i64>, user: Option<&str>| Presence {
        scope: String::new(),
        occupant: "alice@meet.jitsi/a".into(),
        visit: "v1".into(),
        user_id: user.map(str::to_string),
        joined_at: joined.map(ts),
        left_at: left.map(ts),
    };
    let life = |created: Option<i64>, destroyed: Option<i64>| RoomLife {
        scope: String::new(),
        session: "s1".into(),
        created_at: created.map(ts),
        destroyed_at: destroyed.map(ts),
    };
    let parts = [
        (life(Some(3), None), visit(Some(5), None, Some("9"))),
        (life(Some(1), Some(30)), visit(Some(2), Some(20), None)),
        (life(None, Some(40)), visit(Some(8), Some(10), Some("7"))),
    ];
    let update = |occurrence_id: i64, parts: &[(RoomLife, Presence)]| LiveUpdate {
        occurrence_id,
        at: ts(40),
        rooms: parts.iter().map(|p| p.0.clone()).collect(),
        visits: parts.iter().map(|p| p.1.clone()).collect(),
        idempotency_key: None,
    };
    let apart = create(&db.store, "m-apart", "apart").await;
    for p in &parts {
        let one = update(apart.id, std::slice::from_ref(p));
        assert_eq!(
            db.store.apply_live(&one, t0()).await.unwrap(),
            LiveApplied::Applied
        );
    }
    let together = create(&db.store, "m-together", "together").await;
    let all = update(together.id, &parts);
    assert_eq!(
        db.store.apply_live(&all, t0()).await.unwrap(),
        LiveApplied::Applied
    );
    let merged = record(&db.store, &together).await;
    assert_eq!(
        shape(merged.clone()),
        shape(record(&db.store, &apart).await)
    );
    // And the merge is the store's: earliest start, latest end, the smaller id.
    assert_eq!(merged.visits.len(), 1, "{merged:?}");
    let v = &merged.visits[0];
    assert_eq!(
        (
            v.user_id.as_deref(),
            v.joined_at,
            v.last_joined_at,
            v.left_at
        ),
        (Some("7"), Some(ts(2)), Some(ts(8)), Some(ts(20)))
    );
    assert_eq!(merged.rooms.len(), 1, "{merged:?}");
}

async fn a_lost_destroyed_and_a_prosody_crash_still_end_the_meeting(db: &TestDb) {
    let clock = clock();
    let l = listen(db.store.clone(), &clock, None).await;
    let sender = l.event_sync();
    let timings = LiveTimings::default();
    // Lost destroyed: everyone left, no room/destroyed.
    let occ = create(&db.store, "m-lost", "lost-room").await;
    let alice = User::member(ALICE.to_string(), "alice");
    let (mut room, created) = Room::create("lost-room@muc.meet.jitsi", at(0));
    send_ok(&sender, &created).await;
    send_ok(&sender, &room.join("a@x/1", &alice, at(1))).await;
    send_ok(&sender, &room.leave("a@x/1", at(30))).await;
    let r = record(&db.store, &occ).await;
    let v = view(Some(&r), &occ, t0() + Minutes::minutes(35), &timings);
    assert!(matches!(
        v.state,
        LiveState::Ended {
            lasted_minutes: 29,
            people: 1,
            ..
        }
    ));
    // Crash: Alice never leaves, nothing else comes.
    let occ = create(&db.store, "m-crash", "crash-room").await;
    let (mut room, created) = Room::create("crash-room@muc.meet.jitsi", at(0));
    send_ok(&sender, &created).await;
    send_ok(&sender, &room.join("a@x/1", &alice, at(1))).await;
    let r = record(&db.store, &occ).await;
    let live = view(Some(&r), &occ, t0() + Minutes::minutes(90), &timings);
    assert_eq!(
        live.members,
        vec![ALICE],
        "running over its planned end is still live"
    );
    let over = view(Some(&r), &occ, t0() + Minutes::minutes(60 + 360), &timings);
    assert_eq!(over.in_call(), 0);
    assert!(matches!(over.state, LiveState::Ended { .. }));
}

async fn a_refused_join_creates_and_destroys_a_room_without_making_it_live(db: &TestDb) {
    let occ = create(&db.store, "m-refused-join", "refused-join").await;
    let clock = clock();
    let l = listen(db.store.clone(), &clock, None).await;
    let sender = l.event_sync();
    let (mut room, created) = Room::create("refused-join@muc.meet.jitsi", at(-5));
    send_ok(&sender, &created).await;
    let destroyed = room.destroy(at(-5));
    assert_eq!(destroyed.len(), 1);
    assert_eq!(destroyed[0].body["all_occupants"], json!({}));
    send_ok(&sender, &destroyed[0]).await;
    let r = record(&db.store, &occ).await;
    assert_eq!(r.rooms.len(), 1);
    assert!(r.rooms[0].destroyed_at.is_some() && r.visits.is_empty());
    let v = view(Some(&r), &occ, t0(), &LiveTimings::default());
    assert_eq!(v.state, LiveState::Scheduled);
}

async fn post(url: &str, auth: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn refused_requests_change_nothing(db: &TestDb) {
    let occ = create(&db.store, "m-refused", "refused-room").await;
    let clock = clock();
    let l = listen(db.store.clone(), &clock, None).await;
    let (mut room, created) = Room::create("refused-room@muc.meet.jitsi", at(0));
    let joined = room.join("a@x/1", &User::member(ALICE.to_string(), "alice"), at(1));
    let url = format!("{}/jitsi{}", l.base, joined.path);
    let before = metrics::jitsi_event_count(
        EventSource::EventSync,
        Some(EventKind::OccupantJoined),
        EventVerdict::Unauthorized,
    );

    let wrong = Sender::new(Options::new(
        format!("{}/jitsi", l.base),
        Some("not-the-token"),
    ));
    assert_eq!(wrong.send(&created).await.status(), Some(401));
    let (status, body) = post(&url, None, joined.bytes()).await;
    assert_eq!(status, 401);
    assert!(!body.to_string().contains(TOKEN));
    let (status, _) = post(&url, Some(&format!("Basic {TOKEN}")), joined.bytes()).await;
    assert_eq!(status, 401);
    assert!(
        metrics::jitsi_event_count(
            EventSource::EventSync,
            Some(EventKind::OccupantJoined),
            EventVerdict::Unauthorized
        ) >= before + 2
    );

    let bearer = format!("Bearer {TOKEN}");
    let mut huge = joined.body.clone();
    huge["padding"] = json!("x".repeat(1024 * 1024));
    let (status, _) = post(&url, Some(&bearer), huge.to_string().into_bytes()).await;
    assert_eq!(status, 413);

    let (status, body) = post(&url, Some(&bearer), b"{\"event_name\": ".to_vec()).await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("not a valid event"));
    let mut wrong_type = joined.body.clone();
    wrong_type["occupant"]["joined_at"] = json!("soon");
    let (status, _) = post(&url, Some(&bearer), wrong_type.to_string().into_bytes()).await;
    assert_eq!(status, 400);
    let (status, body) = post(&url, Some(&bearer), created.bytes()).await;
    assert_eq!(status, 400, "a room/created body posted to occupant/joined");
    assert!(body["error"].as_str().unwrap().contains("event_name"));

    assert_eq!(db.store.live_record(occ.id).await.unwrap(), None);
    assert!(l.changes().is_empty());

    // The same join, right, lands.
    let (status, body) = post(&url, Some(&bearer), joined.bytes()).await;
    assert_eq!((status, body["verdict"].as_str()), (200, Some("applied")));
    assert!(db.store.live_record(occ.id).await.unwrap().is_some());
}

async fn unknown_rooms_and_other_tenants_get_200_and_no_effect(db: &TestDb) {
    let occ = create(&db.store, "m-tenant", "tenant-room").await;
    let clock = clock();
    let l = listen(db.store.clone(), &clock, Some("team-a")).await;
    let sender = l.event_sync();
    let alice = User::member(ALICE.to_string(), "alice");
    for jid in [
        "unknown-room@muc.meet.jitsi",
        "tenant-room@muc.meet.jitsi",
        "[team-b]tenant-room@muc.meet.jitsi",
        "[team-a]unknown-room@muc.meet.jitsi",
    ] {
        let (mut room, created) = Room::create(jid, at(0));
        assert_eq!(sender.send(&created).await.status(), Some(200), "{jid}");
        let joined = room.join("a@x/1", &alice, at(1));
        assert_eq!(sender.send(&joined).await.status(), Some(200), "{jid}");
    }
    // The meeting's room, but a week later: no occurrence holds it.
    let (_, late) = Room::create("[team-a]tenant-room@muc.meet.jitsi", at(7 * 24 * 60));
    let (status, body) = post(
        &format!("{}/jitsi{}", l.base, late.path),
        Some(&format!("Bearer {TOKEN}")),
        late.bytes(),
    )
    .await;
    assert_eq!(
        (status, body["verdict"].as_str()),
        (200, Some("no_occurrence"))
    );
    assert_eq!(db.store.live_record(occ.id).await.unwrap(), None);
    assert!(l.changes().is_empty());
    // Under the right tenant it lands.
    let (_, created) = Room::create("[Team-A]tenant-room@muc.meet.jitsi", at(0));
    send_ok(&sender, &created).await;
    assert_eq!(l.changes(), vec![occ.id]);
}

async fn jaas_webhooks_are_verified_and_applied_once(db: &TestDb) {
    let occ = create(&db.store, "m-jaas", "jaas-room").await;
    let clock = clock();
    let l = listen(db.store.clone(), &clock, Some(JAAS_APP)).await;
    let jaas = l.jaas();
    let now = t0().timestamp();
    let ms = |min: i64| at(min) * 1000;
    let mut s = jaas::Session::new(JAAS_APP, "Jaas-Room", "session-1");
    let alice = ALICE.to_string();

    let created = s.room_created(ms(0));
    assert_eq!(jaas.send(&created, now).await.unwrap(), 200);
    let joined = s.joined("p-alice", Some(&alice), ms(1));
    // A bad signature, a signature by another secret, a stale one, none at all: refused.
    let body = joined.bytes();
    let forged = jaas::signature_header("whsec_someone-else", now, &body);
    assert_eq!(
        jaas.send_raw(body.clone(), Some(forged)).await.unwrap(),
        401
    );
    let mut tampered = joined.body.clone();
    tampered["data"]["id"] = json!(BOB.to_string());
    let sig = jaas::signature_header(JAAS_SECRET, now, &body);
    assert_eq!(
        jaas.send_raw(tampered.to_string().into_bytes(), Some(sig))
            .await
            .unwrap(),
        401
    );
    assert_eq!(jaas.send(&joined, now - 301).await.unwrap(), 401);
    assert_eq!(jaas.send(&joined, now + 301).await.unwrap(), 401);
    assert_eq!(jaas.send_raw(body.clone(), None).await.unwrap(), 401);
    let r = record(&db.store, &occ).await;
    assert!(r.visits.is_empty(), "no refused webhook had an effect");

    // Signed, it applies; the same delivery again is a duplicate.
    assert_eq!(jaas.send(&joined, now + 5).await.unwrap(), 200);
    let dup_before = metrics::jitsi_event_count(
        EventSource::Jaas,
        Some(EventKind::OccupantJoined),
        EventVerdict::Duplicate,
    );
    assert_eq!(jaas.send(&joined, now + 200).await.unwrap(), 200);
    assert_eq!(
        metrics::jitsi_event_count(
            EventSource::Jaas,
            Some(EventKind::OccupantJoined),
            EventVerdict::Duplicate
        ),
        dup_before + 1
    );
    let v = view(
        Some(&record(&db.store, &occ).await),
        &occ,
        t0() + Minutes::minutes(2),
        &LiveTimings::default(),
    );
    assert_eq!(v.members, vec![ALICE]);

    // Malformed (but signed) is a 400; a tenant that is not ours is ignored.
    let junk = b"{\"eventType\":".to_vec();
    let sig = jaas::signature_header(JAAS_SECRET, now, &junk);
    assert_eq!(jaas.send_raw(junk, Some(sig)).await.unwrap(), 400);
    let mut other = jaas::Session::new("vpaas-magic-cookie-other", "jaas-room", "session-x");
    assert_eq!(
        jaas.send(&other.joined("p", Some(&alice), ms(2)), now)
            .await
            .unwrap(),
        200
    );

    // Leave and destroy, out of order.
    let destroyed = s.room_destroyed(ms(30));
    let left = s.left("p-alice", Some(&alice), ms(29));
    assert_eq!(jaas.send(&destroyed, now).await.unwrap(), 200);
    assert_eq!(jaas.send(&left, now).await.unwrap(), 200);
    let v = view(
        Some(&record(&db.store, &occ).await),
        &occ,
        t0() + Minutes::minutes(31),
        &LiveTimings::default(),
    );
    assert!(
        matches!(
            v.state,
            LiveState::Ended {
                lasted_minutes: 28,
                people: 1,
                ..
            }
        ),
        "{v:?}"
    );
}

async fn two_listeners_on_one_database_end_as_one(db: &TestDb) {
    let clock = clock();
    let second_store = Store::open(&db.url).await.unwrap();
    let one = listen(db.store.clone(), &clock, None).await;
    let two = listen(second_store.clone(), &clock, None).await;

    let reference = create(&db.store, "m-single", "single").await;
    let sender = one.event_sync();
    for e in story("single@muc.meet.jitsi") {
        send_ok(&sender, &e).await;
    }
    let expected = shape(record(&db.store, &reference).await);

    let occ = create(&db.store, "m-split", "split").await;
    let mut events = story("split@muc.meet.jitsi");
    events.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    // Alternate events between the instances, all in flight at once, some sent to both.
    let mut tasks = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let targets = match i % 3 {
            0 => vec![one.event_sync()],
            1 => vec![two.event_sync()],
            _ => vec![one.event_sync(), two.event_sync()],
        };
        for s in targets {
            let e = e.clone();
            tasks.push(tokio::spawn(async move { s.send(&e).await }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().status(), Some(200));
    }
    assert_eq!(shape(record(&db.store, &occ).await), expected);

    // One JaaS delivery reaching both instances at once is applied by exactly one.
    let jaas_occ = create(&db.store, "m-jaas-two", "jaas-two").await;
    let mut s = jaas::Session::new(JAAS_APP, "jaas-two", "session-two");
    let joined = s.joined("p", Some(&ALICE.to_string()), at(1) * 1000);
    drop((one, two));
    let l1 = listen(db.store.clone(), &clock, Some(JAAS_APP)).await;
    let l2 = listen(second_store.clone(), &clock, Some(JAAS_APP)).await;
    let (j1, j2) = (l1.jaas(), l2.jaas());
    let (w1, w2) = (joined.clone(), joined.clone());
    let now = t0().timestamp();
    let (a, b) = tokio::join!(
        async move { j1.send(&w1, now).await.unwrap() },
        async move { j2.send(&w2, now).await.unwrap() }
    );
    assert_eq!((a, b), (200, 200));
    // Both answered 200; only one applied it, so only one reported a change.
    let reported: Vec<i64> = l1
        .changes()
        .into_iter()
        .chain(l2.changes())
        .filter(|&id| id == jaas_occ.id)
        .collect();
    assert_eq!(reported, vec![jaas_occ.id]);
    second_store.close().await;
}

async fn only_one_instance_claims_each_discord_event_transition(db: &TestDb) {
    let occ = create(&db.store, "m-claim", "claim").await;
    let second = Store::open(&db.url).await.unwrap();
    let (a, b) = tokio::join!(
        db.store.claim_live_activation(occ.id, t0()),
        second.claim_live_activation(occ.id, t0())
    );
    assert_eq!(u8::from(a.unwrap()) + u8::from(b.unwrap()), 1);
    assert!(!db.store.claim_live_activation(occ.id, t0()).await.unwrap());
    assert!(second.claim_live_completion(occ.id, t0()).await.unwrap());
    assert!(!db.store.claim_live_completion(occ.id, t0()).await.unwrap());
    let r = record(&db.store, &occ).await;
    assert_eq!((r.activated_at, r.completed_at), (Some(t0()), Some(t0())));
    assert_eq!(r.first_event_at, None);
    // A claim before any event still lets events merge in afterwards.
    let u = LiveUpdate {
        occurrence_id: occ.id,
        at: t0() + Minutes::minutes(1),
        rooms: vec![RoomLife {
            scope: String::new(),
            session: "1".into(),
            created_at: Some(t0()),
            destroyed_at: None,
        }],
        visits: vec![Presence {
            scope: String::new(),
            occupant: "a".into(),
            visit: "1".into(),
            user_id: Some(ALICE.to_string()),
            joined_at: Some(t0()),
            left_at: None,
        }],
        idempotency_key: Some("k-claim".into()),
    };
    assert_eq!(
        db.store.apply_live(&u, t0()).await.unwrap(),
        LiveApplied::Applied
    );
    assert_eq!(
        second.apply_live(&u, t0()).await.unwrap(),
        LiveApplied::Duplicate
    );
    let r = record(&db.store, &occ).await;
    assert_eq!(r.first_event_at, Some(t0() + Minutes::minutes(1)));
    assert_eq!(r.visits.len(), 1);
    second.close().await;
}

async fn readiness_follows_the_gateway_and_the_database(db: &TestDb) {
    let clock = clock();
    let store = Store::open(&db.url).await.unwrap();
    let l = listen(store.clone(), &clock, None).await;
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let (client, url) = (client.clone(), format!("{}{path}", l.base));
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    let (status, text) = get("/readyz").await;
    assert_eq!(status, 503);
    assert!(text.contains("gateway: not connected"));
    l.readiness.set_gateway_connected(true);
    assert_eq!(get("/readyz").await.0, 200);

    // Metrics: a live meeting counts, and nothing secret or personal is in the text.
    create(&store, "m-metrics", "metrics-secret-room").await;
    let alice = User::member(ALICE.to_string(), "Alice Secretname");
    let (mut room, created) = Room::create("metrics-secret-room@muc.meet.jitsi", at(0));
    send_ok(&l.event_sync(), &created).await;
    send_ok(&l.event_sync(), &room.join("a@x/1", &alice, at(1))).await;
    clock.set(t0() + Minutes::minutes(5));
    let (status, text) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("meetbot_live_meetings "), "{text}");
    assert!(text.contains("meetbot_scheduler_jobs_pending{state=\"due\"}"));
    assert!(text.contains("meetbot_jitsi_events_total{source=\"event_sync\",kind=\"occupant_joined\",verdict=\"applied\"}"));
    for secret in [
        TOKEN,
        JAAS_SECRET,
        "metrics-secret-room",
        "Secretname",
        &ALICE.to_string(),
    ] {
        assert!(!text.contains(secret), "{secret} in /metrics");
    }

    // The database gone: not ready, but alive.
    store.close().await;
    let (status, text) = get("/readyz").await;
    assert_eq!(status, 503);
    assert!(text.contains("database: not answering"));
    assert_eq!(get("/healthz").await.0, 200);
}

#[tokio::test]
async fn endpoints_without_their_secret_answer_404() {
    let db = db::sqlite_db().await;
    let clock = clock();
    let options = WebOptions::new("127.0.0.1:0".parse().unwrap(), None, None).unwrap();
    let l = listen_with(db.store.clone(), &clock, None, options).await;
    let (status, body) = post(
        &format!("{}/jitsi/events/room/created", l.base),
        Some(&format!("Bearer {TOKEN}")),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("JITSI_EVENTS_TOKEN"));
    let (status, body) = post(&format!("{}/jaas/webhook", l.base), None, b"{}".to_vec()).await;
    assert_eq!(status, 404);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("JAAS_WEBHOOK_SECRET"));
}
