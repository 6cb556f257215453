//! Live meetings on Discord end to end: the real bot (with its HTTP listener) against the simulated Discord, fed by
//! the simulated event_sync component (tests/jitsi-sim). A meeting's post shows the call as people come and go, its
//! Discord event goes ACTIVE at the first member and COMPLETED after the call, and whatever order the events come
//! in, the end is right. The manual clock is the meetings' time; the edit window is real time (five seconds).

mod support;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use jitsi_sim::event_sync::{Event, Options, Room, Sender, User};
use meetbot::store::Occurrence;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const EVENTS_TOKEN: &str = "live-discord-token-0123456789abcdef0123";

fn utc(h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, mi, 0).unwrap()
}

/// Unix seconds of `h:mi` on the test day.
fn at(h: u32, mi: u32) -> i64 {
    utc(h, mi).timestamp()
}

async fn start_live(setup: impl FnOnce(&discord_sim::Simulator)) -> Harness {
    Harness::start_with(
        &[
            ("MEETBOT_HTTP_LISTEN", "127.0.0.1:0"),
            ("JITSI_EVENTS_TOKEN", EVENTS_TOKEN),
        ],
        setup,
    )
    .await
}

fn sender(h: &Harness) -> Sender {
    let addr = h.bot().http_addr().expect("the listener runs");
    Sender::new(Options::new(
        format!("http://{addr}/jitsi"),
        Some(EVENTS_TOKEN),
    ))
}

async fn send(h: &Harness, event: &Event) {
    let d = sender(h).send(event).await;
    assert_eq!(d.status(), Some(200), "{} {}", event.path, event.body);
}

/// Schedules a meeting at 11:00 (an hour long) as Alice, lets the scheduler announce it, and returns it with its
/// room's JID.
async fn scheduled(h: &Harness, options: Value) -> (String, Occurrence, String) {
    let i = h.meet(ALICE, options).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let start = reply.find("Meeting id: `").unwrap() + "Meeting id: `".len();
    let id = reply[start..].split('`').next().unwrap().to_string();
    h.tick().await;
    let occ = h.store.occurrences(&id).await.unwrap().remove(0);
    let room = h.store.meeting(&id).await.unwrap().unwrap().room;
    (id, occ, format!("{room}@muc.meet.jitsi"))
}

fn post(h: &Harness, occ: &Occurrence) -> Value {
    h.sim
        .message(occ.announcement_message_id.expect("announced"))
        .expect("the post exists")
}

fn embed_text(m: &Value) -> String {
    let e = &m["embeds"][0];
    format!(
        "{} | {}",
        e["title"].as_str().unwrap_or_default(),
        e["description"].as_str().unwrap_or_default()
    )
}

/// Waits (real time: edits are coalesced over a window) until the post's embed contains `needle`.
async fn embed_containing(h: &Harness, occ: &Occurrence, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = embed_text(&post(h, occ));
        if text.contains(needle) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no embed containing {needle:?}; the post is {}",
            post(h, occ)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_status(h: &Harness, occ: &Occurrence) -> u64 {
    h.sim
        .scheduled_event(GUILD, occ.discord_event_id.expect("a Discord event"))
        .expect("the event exists")["status"]
        .as_u64()
        .unwrap()
}

async fn event_status_becomes(h: &Harness, occ: &Occurrence, status: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while event_status(h, occ) != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the event stayed {} (wanted {status})",
            event_status(h, occ)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every edit of the post the bot made, with when the simulator saw it.
fn post_edits(h: &Harness, occ: &Occurrence) -> Vec<discord_sim::RecordedRequest> {
    let path = format!(
        "/channels/*/messages/{}",
        occ.announcement_message_id.unwrap()
    );
    h.sim.requests_matching("PATCH", &path)
}

/// `/meetings list` as `user`.
async fn meetings_list(h: &Harness, user: u64) -> discord_sim::Interaction {
    h.command(
        user,
        "meetings",
        json!([{ "name": "list", "type": 1, "options": [] }]),
    )
    .await
}

fn alice() -> User {
    User::member(ALICE.to_string(), "Typed Alice")
}

fn bob() -> User {
    // A guest can type any name into the token's user; only the server's own names are shown.
    User::member(BOB.to_string(), "EVIL NAME")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_goes_scheduled_live_ended_with_its_event_active_and_completed_at_the_right_moments(
) {
    let h = start_live(|_| {}).await;
    let (_, occ, jid) = scheduled(&h, json!([opt("topic", "Standup"), opt("when", "11:00")])).await;
    assert_eq!(event_status(&h, &occ), 1);
    assert!(post(&h, &occ)["embeds"]
        .as_array()
        .is_none_or(|e| e.is_empty()));

    // People try the link early: a guest alone makes the call live, but not the Discord event.
    h.clock.set(utc(10, 58));
    let (mut room, created) = Room::create(&jid, at(10, 58));
    send(&h, &created).await;
    send(
        &h,
        &room.join("guest@meet.jitsi/g", &User::anonymous(), at(10, 58)),
    )
    .await;
    let text = embed_containing(&h, &occ, "1 in the call: 1 guest").await;
    assert!(text.contains("Live"), "{text}");
    assert_eq!(
        event_status(&h, &occ),
        1,
        "a guest does not start the event"
    );

    // Alice, in two tabs, counts once and starts the event.
    h.clock.set(utc(10, 59));
    send(&h, &room.join("alice-1@meet.jitsi/a", &alice(), at(10, 59))).await;
    send(&h, &room.join("alice-2@meet.jitsi/b", &alice(), at(10, 59))).await;
    event_status_becomes(&h, &occ, 2).await;
    embed_containing(&h, &occ, "2 in the call: @Alice and 1 guest").await;

    h.clock.set(utc(11, 5));
    send(&h, &room.join("bob@meet.jitsi/c", &bob(), at(11, 5))).await;
    let text = embed_containing(&h, &occ, "3 in the call: @Alice, @Bob and 1 guest").await;
    assert!(!text.contains("EVIL") && !text.contains("Typed"), "{text}");
    assert!(text.contains(&format!("<t:{}:R>", at(10, 58))), "{text}");

    // Bob leaves; one of Alice's tabs closes and she is still in.
    h.clock.set(utc(11, 20));
    send(&h, &room.leave("bob@meet.jitsi/c", at(11, 20))).await;
    send(&h, &room.leave("alice-2@meet.jitsi/b", at(11, 20))).await;
    embed_containing(&h, &occ, "2 in the call: @Alice and 1 guest").await;

    // Everyone leaves at 11:40 and the room goes: the post says how it went; the event waits out its grace.
    h.clock.set(utc(11, 40));
    for e in room.destroy(at(11, 40)) {
        send(&h, &e).await;
    }
    let text = embed_containing(&h, &occ, "Lasted 42 min, 3 people.").await;
    assert!(text.starts_with("Ended"), "{text}");
    assert_eq!(event_status(&h, &occ), 2);
    h.clock.set(utc(11, 49));
    h.bot().sweep_live(false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(event_status(&h, &occ), 2, "still within the grace");
    h.clock.set(utc(11, 50));
    assert_eq!(h.bot().sweep_live(false).await.unwrap(), 1);
    event_status_becomes(&h, &occ, 3).await;

    // No edit pinged anyone, and the post kept its text and its button.
    let edits = post_edits(&h, &occ);
    for e in &edits {
        let body = e.body.as_ref().unwrap();
        assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));
        assert!(body.get("content").is_none(), "{body}");
    }
    assert!(content_of(&post(&h, &occ)).contains("**Standup**"));
    // The scheduler's start and end at the planned times leave the event to the room.
    h.clock.set(utc(11, 0));
    h.tick().await;
    h.clock.set(utc(12, 0));
    h.tick().await;
    assert_eq!(event_status(&h, &occ), 3);
    assert_eq!(h.sim.count_429(), 0);
    h.finish().await;
}

fn content_of(m: &Value) -> String {
    m["content"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_joins_and_leaves_is_coalesced_into_a_few_edits_ending_with_the_last_state() {
    let h = start_live(|_| {}).await;
    let (_, occ, jid) = scheduled(&h, json!([opt("topic", "Burst"), opt("when", "11:00")])).await;
    h.clock.set(utc(11, 1));
    let (mut room, created) = Room::create(&jid, at(11, 0));
    send(&h, &created).await;
    send(&h, &room.join("alice@meet.jitsi/a", &alice(), at(11, 0))).await;
    let started = tokio::time::Instant::now();
    // Sixty guests come and go within a few seconds.
    for i in 0..60 {
        let jid = format!("guest{i}@meet.jitsi/x");
        send(&h, &room.join(&jid, &User::anonymous(), at(11, 1))).await;
        if i % 2 == 1 {
            send(&h, &room.leave(&jid, at(11, 2))).await;
        }
    }
    let text = embed_containing(&h, &occ, "31 in the call: @Alice and 30 guests").await;
    let elapsed = started.elapsed();
    // Give a late edit the chance to show up before counting.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        embed_text(&post(&h, &occ)).contains("31 in the call"),
        "{text}"
    );
    let edits = post_edits(&h, &occ);
    let windows = (elapsed.as_secs() + 6) / 5 + 2;
    assert!(
        (edits.len() as u64) <= windows,
        "{} edits in {elapsed:?}",
        edits.len()
    );
    for pair in edits.windows(2) {
        let gap = pair[1].received_at - pair[0].received_at;
        assert!(gap >= Duration::from_millis(4_900), "edits {gap:?} apart");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_duplicated_and_lost_events_end_in_the_right_state() {
    let h = start_live(|_| {}).await;
    let (_, occ, jid) = scheduled(&h, json!([opt("topic", "Chaos"), opt("when", "11:00")])).await;
    h.clock.set(utc(11, 30));
    let (mut room, created) = Room::create(&jid, at(11, 0));
    let a_join = room.join("alice@meet.jitsi/a", &alice(), at(11, 0));
    let b_join = room.join("bob@meet.jitsi/b", &bob(), at(11, 2));
    let b_left = room.leave("bob@meet.jitsi/b", at(11, 10));
    let a_left = room.leave("alice@meet.jitsi/a", at(11, 20));
    // Leaves before their joins, everything twice, and the room's `destroyed` never comes.
    for e in [
        &a_left, &b_left, &b_join, &created, &a_join, &a_left, &b_join, &created,
    ] {
        send(&h, e).await;
    }
    event_status_becomes(&h, &occ, 2).await;
    let text = embed_containing(&h, &occ, "Lasted 20 min, 2 people.").await;
    assert!(text.starts_with("Ended"), "{text}");
    // Without `destroyed`, the event completes at the planned end plus its grace.
    h.clock.set(utc(12, 14));
    assert_eq!(h.bot().sweep_live(false).await.unwrap(), 0);
    h.clock.set(utc(12, 15));
    assert_eq!(h.bot().sweep_live(false).await.unwrap(), 1);
    event_status_becomes(&h, &occ, 3).await;
    // Done once: the next sweep finds nothing more to do.
    assert_eq!(h.bot().sweep_live(false).await.unwrap(), 0);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_nobody_came_to_is_completed_at_its_end_plus_grace_and_says_so() {
    let h = start_live(|_| {}).await;
    let (_, occ, _) = scheduled(&h, json!([opt("topic", "Empty"), opt("when", "11:00")])).await;
    h.clock.set(utc(11, 0));
    h.tick().await;
    assert_eq!(event_status(&h, &occ), 1, "no join, no ACTIVE");
    h.clock.set(utc(12, 15));
    assert_eq!(h.bot().sweep_live(false).await.unwrap(), 1);
    event_status_becomes(&h, &occ, 3).await;
    embed_containing(&h, &occ, "Nobody joined.").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_status_counts_shows_no_names_and_off_leaves_the_post_alone() {
    let h = start_live(|_| {}).await;
    // The choice's index: names, counts, off, reset.
    let set = |value: i64| {
        let h = &h;
        async move {
            let i = h
                .command(
                    OWNER,
                    "meetbot",
                    json!([{ "name": "settings", "type": 2, "options": [{ "name": "live-status",
                        "type": 1, "options": [{ "name": "value", "type": 4, "value": value }] }] }]),
                )
                .await;
            h.reply_containing(&i, "Now:").await
        }
    };
    let reply = set(1).await;
    assert!(reply.contains("Now: counts"), "{reply}");
    let (_, occ, jid) = scheduled(&h, json!([opt("topic", "Counted"), opt("when", "11:00")])).await;
    h.clock.set(utc(11, 1));
    let (mut room, created) = Room::create(&jid, at(11, 0));
    send(&h, &created).await;
    send(&h, &room.join("alice@meet.jitsi/a", &alice(), at(11, 0))).await;
    send(
        &h,
        &room.join("g@meet.jitsi/g", &User::anonymous(), at(11, 1)),
    )
    .await;
    let text = embed_containing(&h, &occ, "2 in the call").await;
    assert!(!text.contains("Alice") && !text.contains('@'), "{text}");
    // The change is audited like the other settings.
    let audit = h.store.recent_audit(GUILD, None, 10).await.unwrap();
    assert!(
        audit.iter().any(|e| e.subject == "live_status"),
        "{audit:?}"
    );

    let reply = set(2).await;
    assert!(reply.contains("Now: off"), "{reply}");
    let before = post_edits(&h, &occ).len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    send(&h, &room.join("bob@meet.jitsi/b", &bob(), at(11, 2))).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(post_edits(&h, &occ).len(), before, "off: no edits");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_meeting_continues_and_meetings_list_shows_who_is_live() {
    let mut h = start_live(|_| {}).await;
    let (_, occ, jid) = scheduled(&h, json!([opt("topic", "Across"), opt("when", "11:00")])).await;
    h.clock.set(utc(11, 1));
    let (mut room, created) = Room::create(&jid, at(11, 0));
    send(&h, &created).await;
    send(&h, &room.join("alice@meet.jitsi/a", &alice(), at(11, 0))).await;
    event_status_becomes(&h, &occ, 2).await;
    embed_containing(&h, &occ, "1 in the call: @Alice").await;

    h.restart().await;
    h.clock.set(utc(11, 3));
    send(&h, &room.join("bob@meet.jitsi/b", &bob(), at(11, 3))).await;
    embed_containing(&h, &occ, "2 in the call: @Alice and @Bob").await;
    assert_eq!(event_status(&h, &occ), 2);

    let i = meetings_list(&h, BOB).await;
    let list = h.reply_containing(&i, "Across").await;
    assert!(list.contains("🟢 **live**, 2 in the call"), "{list}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_meeting_post_shows_its_call_too() {
    let h = start_live(|_| {}).await;
    let i = h.meet(ALICE, json!([opt("topic", "Right now")])).await;
    h.reply_containing(&i, "Meeting id").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !h
        .channel_texts(CHANNEL)
        .iter()
        .any(|m| content_of(m).starts_with("📹"))
    {
        assert!(tokio::time::Instant::now() < deadline, "no announcement");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The post's id is stored just after it is sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posted = h
        .channel_texts(CHANNEL)
        .into_iter()
        .find(|m| content_of(m).starts_with("📹"))
        .expect("the announcement");
    let meeting = h
        .store
        .upcoming(GUILD, h.now(), 10, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|(m, _)| m.topic == "Right now")
        .expect("stored");
    let occ = meeting.1;
    assert_eq!(
        occ.announcement_message_id,
        posted["id"].as_str().and_then(|s| s.parse().ok())
    );
    let jid = format!("{}@muc.meet.jitsi", meeting.0.room);
    let now = h.now().timestamp();
    let (mut room, created) = Room::create(&jid, now);
    send(&h, &created).await;
    send(&h, &room.join("alice@meet.jitsi/a", &alice(), now)).await;
    embed_containing(&h, &occ, "1 in the call: @Alice").await;
    // The scheduler's start of an immediate meeting leaves `/meet`'s own post as it is.
    h.clock.advance(Span::seconds(1));
    h.tick().await;
    assert!(content_of(&post(&h, &occ)).starts_with("📹"));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_meeting_whose_event_a_join_made_active_completes_the_event() {
    let h = start_live(|_| {}).await;
    let (id, occ, jid) = scheduled(&h, json!([opt("topic", "Early"), opt("when", "11:00")])).await;
    h.clock.set(utc(10, 50));
    let (mut room, created) = Room::create(&jid, at(10, 50));
    send(&h, &created).await;
    send(&h, &room.join("alice@meet.jitsi/a", &alice(), at(10, 50))).await;
    event_status_becomes(&h, &occ, 2).await;
    // Discord refuses to cancel an ACTIVE event: the bot ends it instead.
    let i = h
        .command(
            ALICE,
            "meetings",
            json!([{ "name": "cancel", "type": 1, "options": [opt("meeting", id)] }]),
        )
        .await;
    h.reply_containing(&i, "Cancelled").await;
    event_status_becomes(&h, &occ, 3).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_on_one_database_move_the_event_once() {
    let h = start_live(|_| {}).await;
    let second = h.start_second_bot().await;
    let (_, occ, jid) = scheduled(&h, json!([opt("topic", "Twice"), opt("when", "11:00")])).await;
    h.clock.set(utc(11, 1));
    let (mut room, created) = Room::create(&jid, at(11, 0));
    // Each instance's listener gets some of the events (a load balancer in front of both).
    let other = Sender::new(Options::new(
        format!("http://{}/jitsi", second.http_addr().unwrap()),
        Some(EVENTS_TOKEN),
    ));
    let join = room.join("alice@meet.jitsi/a", &alice(), at(11, 0));
    send(&h, &created).await;
    assert_eq!(other.send(&join).await.status(), Some(200));
    send(&h, &join).await;
    event_status_becomes(&h, &occ, 2).await;
    h.clock.set(utc(11, 30));
    for e in room.destroy(at(11, 30)) {
        assert_eq!(other.send(&e).await.status(), Some(200));
    }
    h.clock.set(utc(11, 40));
    let (a, b) = tokio::join!(h.bot().sweep_live(false), second.sweep_live(false));
    assert!(a.unwrap() + b.unwrap() >= 1);
    event_status_becomes(&h, &occ, 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let path = format!(
        "/guilds/{GUILD}/scheduled-events/{}",
        occ.discord_event_id.unwrap()
    );
    let moves: Vec<u64> = h
        .sim
        .requests_matching("PATCH", &path)
        .iter()
        .filter_map(|r| r.body.as_ref()?["status"].as_u64())
        .collect();
    assert_eq!(moves, vec![2, 3], "each step sent once");
    second.shutdown().await.unwrap();
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_commands_requests_and_dms_without_ids_or_tokens_in_labels() {
    let h = start_live(|_| {}).await;
    let i = meetings_list(&h, BOB).await;
    h.reply_containing(&i, "meetings").await;
    let m = h
        .meet(ALICE, json!([opt("invite", format!("<@{BOB}>"))]))
        .await;
    h.reply_containing(&m, "Delivered").await;
    let addr = h.bot().http_addr().unwrap();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |needle: &str| {
        assert!(
            text.lines().any(|l| l.contains(needle)),
            "no line with {needle:?} in\n{text}"
        )
    };
    has(r#"meetbot_commands_total{command="meetings list",outcome="ok"}"#);
    has(r#"meetbot_discord_requests_total{route="POST /channels/{id}/messages",status="2xx"}"#);
    has(r#"meetbot_dms_total{outcome="delivered",reason="none"}"#);
    has("meetbot_pacer_wait_seconds_count");
    has(r#"meetbot_interaction_ack_seconds_count{kind="command"}"#);
    for secret in [i.token.as_str(), m.token.as_str(), BOT_TOKEN] {
        assert!(!text.contains(secret), "a token in the metrics");
    }
    assert!(!text.contains(&ALICE.to_string()) && !text.contains(&GUILD.to_string()));
    h.finish().await;
}
