//! Scheduled meetings end to end: `/meet when:…`, the scheduler's announcements, Discord events, reminders,
//! repeats, `/meetings link|cancel`, restarts and two bots on one database — the real bot against the simulated
//! Discord, with the manual clock driving the scheduler.

mod support;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use discord_sim::{Interaction, DEFAULT_EVERYONE};
use meetbot::jitsi::{verify, Expectations};
use meetbot::store::{JobKind, Occurrence};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use support::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// Schedules a meeting as `user` and waits for the confirmation; returns the meeting id.
async fn schedule(h: &Harness, user: u64, options: Value) -> String {
    let i = h.meet(user, options).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    meeting_id_in(&reply)
}

fn meeting_id_in(reply: &str) -> String {
    let start = reply.find("Meeting id: `").expect("a meeting id") + "Meeting id: `".len();
    reply[start..].split('`').next().unwrap().to_string()
}

/// The `/meet` reply to `options`, once it is final (it mentions one of the outcomes).
async fn meet_reply(h: &Harness, user: u64, options: Value) -> (Interaction, String) {
    let i = h.meet(user, options).await;
    let c = final_reply(h, &i).await;
    (i, c)
}

/// The reply a command's deferred answer was edited into.
async fn final_reply(h: &Harness, i: &Interaction) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(c) = h.latest_content(i) {
            return c;
        }
        if tokio::time::Instant::now() > deadline {
            let log = logs();
            let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
            panic!(
                "no reply; responses: {:?}; log (newest first):\n{tail}",
                h.sim.interaction_responses(&i.token)
            );
        }
        let _ = h
            .sim
            .wait_for_request(
                |r| r.path.contains(&i.token) && r.method == "PATCH",
                Duration::from_millis(200),
            )
            .await;
    }
}

/// The deferred first answer was ephemeral (flag 64), so only the caller saw what followed.
fn assert_ephemeral(h: &Harness, i: &Interaction) {
    let responses = h.sim.interaction_responses(&i.token);
    assert_eq!(
        responses[0].body["data"]["flags"].as_u64().unwrap_or(0) & 64,
        64,
        "first response not ephemeral: {:?}",
        responses[0].body
    );
}

/// `/meetings <sub>` with options.
async fn meetings(h: &Harness, user: u64, sub: &str, options: Value) -> Interaction {
    h.command(
        user,
        "meetings",
        json!([{ "name": sub, "type": 1, "options": options }]),
    )
    .await
}

/// The bot's announcements in a channel (ephemeral replies live there too in the simulator).
fn announcements(h: &Harness, channel: u64) -> Vec<Value> {
    h.channel_texts(channel)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("📅")))
        .collect()
}

fn starting_notes(h: &Harness, channel: u64) -> Vec<Value> {
    h.channel_texts(channel)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("⏰")))
        .collect()
}

fn content(m: &Value) -> &str {
    m["content"].as_str().unwrap_or_default()
}

fn message_id(m: &Value) -> u64 {
    m["id"].as_str().unwrap().parse().unwrap()
}

async fn occurrences(h: &Harness, id: &str) -> Vec<Occurrence> {
    h.store.occurrences(id).await.expect("read occurrences")
}

/// Clicks the Join button of an announcement as `user` and returns the ephemeral answer.
async fn click_join(h: &Harness, announcement: &Value, user: u64, needle: &str) -> String {
    let custom_id = announcement["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("a Join button")
        .to_string();
    let i = h
        .sim
        .click_button(message_id(announcement), CHANNEL, user, &custom_id)
        .await
        .expect("click");
    let answer = h.reply_containing(&i, needle).await;
    let responses = h.sim.interaction_responses(&i.token);
    assert_eq!(
        responses[0].body["data"]["flags"].as_u64().unwrap_or(0) & 64,
        64,
        "Join answers are ephemeral"
    );
    answer
}

/// The names of the checks Jitsi's rules fail for the one token in `text` at `now`.
fn failed_checks(text: &str, now: DateTime<Utc>) -> Vec<&'static str> {
    let tokens = tokens_in(text);
    assert_eq!(tokens.len(), 1, "expected one token");
    let claims = decode_claims(&tokens[0]);
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
    let expect = Expectations::from_settings(&settings, claims["room"].as_str()).unwrap();
    verify(&tokens[0], &expect, now)
        .checks
        .into_iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect()
}

/// A personal link for an occurrence: accepted inside its window, refused (nbf) before the window opens, and
/// valid until the end plus the 15 minutes of grace.
fn assert_link_for_window(text: &str, starts: DateTime<Utc>, ends: DateTime<Utc>) -> Value {
    let opens = starts - Span::minutes(10);
    let claims = verified_claims(text, starts - Span::minutes(5));
    verified_claims(text, opens);
    verified_claims(text, ends + Span::minutes(14));
    let nbf = claims["nbf"].as_i64().unwrap();
    assert!(nbf <= opens.timestamp(), "nbf {nbf} after the window opens");
    assert!(
        nbf >= opens.timestamp() - 60,
        "nbf {nbf} back-dated far beyond the window"
    );
    assert_eq!(
        failed_checks(text, DateTime::from_timestamp(nbf - 1, 0).unwrap()),
        vec!["nbf"]
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap(),
        (ends + Span::minutes(15)).timestamp()
    );
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_accepts_each_documented_form_and_explains_bad_times_ephemerally() {
    let h = Harness::start().await;
    // t0 is Tue 1 Dec 2026 10:00 UTC; the default zone is UTC.
    let accepted = [
        ("2026-12-01 15:00", utc(2026, 12, 1, 15, 0)),
        ("tomorrow 9:30", utc(2026, 12, 2, 9, 30)),
        ("in 2h", utc(2026, 12, 1, 12, 0)),
        ("friday 18:00", utc(2026, 12, 4, 18, 0)),
        ("3pm", utc(2026, 12, 1, 15, 0)),
        ("2026-12-01T15:00:00+01:00", utc(2026, 12, 1, 14, 0)),
    ];
    for (typed, at) in accepted {
        let (i, reply) = meet_reply(&h, ALICE, json!([opt("when", typed)])).await;
        assert_ephemeral(&h, &i);
        assert!(
            reply.contains(&format!("for <t:{}:F>", at.timestamp())),
            "{typed:?} → {reply}"
        );
        let id = meeting_id_in(&reply);
        assert_eq!(occurrences(&h, &id).await[0].starts_at, at, "{typed:?}");
    }
    let berlin = opt("timezone", "Europe/Berlin");
    let (i, reply) = meet_reply(
        &h,
        ALICE,
        json!([opt("when", "2026-12-01 15:00"), berlin.clone()]),
    )
    .await;
    assert_ephemeral(&h, &i);
    assert!(
        reply.contains(&format!("<t:{}:F>", utc(2026, 12, 1, 14, 0).timestamp())),
        "15:00 in Berlin is 14:00 UTC in winter: {reply}"
    );

    let refused = [
        (
            json!([opt("when", "2026-11-30 09:00")]),
            "is in the past; pick a later time, e.g. `in 1h`",
        ),
        (
            json!([opt("when", "2027-03-28 02:30"), berlin.clone()]),
            "2027-03-28 02:30 does not exist in Europe/Berlin: the clocks skip it that night; pick a time outside the gap, e.g. `2027-03-28 03:30`",
        ),
        (
            json!([opt("when", "whenever suits")]),
            "I couldn't read \"whenever suits\" as a time; try `2026-12-01 15:00`",
        ),
        (
            json!([opt("when", "tomorrow")]),
            "has no time of day; add one, e.g. `tomorrow 15:00`",
        ),
        (
            json!([opt("when", "15:00"), opt("timezone", "Mars/Olympus")]),
            "unknown time zone \"Mars/Olympus\"",
        ),
    ];
    let before = h
        .store
        .upcoming(GUILD, h.now(), 100, 0)
        .await
        .unwrap()
        .len();
    for (options, why) in refused {
        let (i, reply) = meet_reply(&h, ALICE, options.clone()).await;
        assert_ephemeral(&h, &i);
        assert!(reply.contains(why), "{options} → {reply}");
    }
    assert_eq!(
        h.store
            .upcoming(GUILD, h.now(), 100, 0)
            .await
            .unwrap()
            .len(),
        before,
        "a refused time schedules nothing"
    );
    h.tick().await;
    // Every accepted one is announced; nothing for the refused ones.
    assert_eq!(announcements(&h, CHANNEL).len(), 7);
    h.finish().await;
}

/// The autocomplete answer (type 8) to typing `when` (and maybe other options).
async fn when_preview(h: &Harness, options: Value) -> Vec<Value> {
    h.autocomplete_choices(ALICE, "meet", options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_autocomplete_shows_how_the_time_is_understood() {
    let h = Harness::start().await;
    let typed = |v: &str| json!({ "name": "when", "type": 3, "value": v, "focused": true });
    let choices = when_preview(
        &h,
        json!([typed("2026-12-04 15:00"), opt("timezone", "Europe/Berlin")]),
    )
    .await;
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0]["name"], "Fri 4 Dec 2026 15:00 CET — in 3 days");
    assert_eq!(choices[0]["value"], "2026-12-04 15:00");

    let choices = when_preview(&h, json!([typed("in 90 minutes")])).await;
    assert_eq!(
        choices[0]["name"],
        "Tue 1 Dec 2026 11:30 UTC — in 1 hour 30 minutes"
    );

    let choices = when_preview(&h, json!([typed("someday")])).await;
    let name = choices[0]["name"].as_str().unwrap();
    assert!(
        name.starts_with("⚠ I couldn't read \"someday\" as a time"),
        "{name}"
    );
    assert!(name.chars().count() <= 100);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_announces_once_with_times_invitees_join_button_and_an_external_event_without_token(
) {
    let h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Planning"),
            opt("invite", format!("<@{BOB}> <@&{ROLE_TEAM}>")),
            opt("when", "2026-12-01 15:00"),
            int_opt("duration", 45),
        ]),
    )
    .await;
    assert!(
        announcements(&h, CHANNEL).is_empty(),
        "the scheduler announces, not the command"
    );
    let report = h.tick().await;
    assert_eq!(report.completed, 1, "{report:?}");

    let posted = announcements(&h, CHANNEL);
    assert_eq!(posted.len(), 1);
    let text = content(&posted[0]);
    let s = starts.timestamp();
    for needle in [
        "**Planning**".to_string(),
        format!("hosted by <@{ALICE}>"),
        format!("<t:{s}:F>"),
        format!("<t:{s}:R>"),
        format!("<@{BOB}>"),
        format!("<@&{ROLE_TEAM}>"),
    ] {
        assert!(text.contains(&needle), "{needle} missing from {text}");
    }
    assert!(!text.contains("jwt"), "the announcement carries no token");
    let button = &posted[0]["components"][0]["components"][0];
    assert_eq!(button["label"], "Join");
    assert_eq!(button["custom_id"], format!("mm1:{id}"));

    let occ = &occurrences(&h, &id).await[0];
    assert_eq!(occ.announcement_message_id, Some(message_id(&posted[0])));
    let event_id = occ.discord_event_id.expect("a Discord event");
    let event = h
        .sim
        .scheduled_event(GUILD, event_id)
        .expect("event stored");
    assert_eq!(event["entity_type"], 3, "EXTERNAL");
    assert_eq!(event["status"], 1);
    assert_eq!(event["name"], "Planning");
    let start: DateTime<Utc> = event["scheduled_start_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: DateTime<Utc> = event["scheduled_end_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(start, starts);
    assert_eq!(end, starts + Span::minutes(45));
    let location = event["entity_metadata"]["location"].as_str().unwrap();
    let room_url = url::Url::parse(location).expect("location is the room URL");
    assert_eq!(room_url.host_str(), Some("meet.example.com"));
    assert!(room_url.query().is_none() && room_url.fragment().is_none());
    assert!(!location.contains("jwt"));

    // Later ticks find nothing more to announce.
    h.tick().await;
    h.clock.advance(Span::minutes(5));
    h.tick().await;
    assert_eq!(announcements(&h, CHANNEL).len(), 1);
    assert_eq!(
        h.sim
            .requests_matching("POST", "/guilds/*/scheduled-events")
            .len(),
        1
    );
    assert!(!logs().contains("jwt="), "a tokenized link reached the log");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_create_events_permission_host_is_told_and_the_announcement_still_goes_out() {
    let h = Harness::start_with(&[], |sim| sim.set_bot_permissions(GUILD, DEFAULT_EVERYONE)).await;
    let i = h
        .meet(
            ALICE,
            json!([opt("topic", "No events"), opt("when", "in 2h")]),
        )
        .await;
    let reply = h.reply_containing(&i, "Meeting id").await;
    assert!(
        reply.contains("I lack the **Create Events** permission"),
        "{reply}"
    );
    let id = meeting_id_in(&reply);
    h.tick().await;
    assert_eq!(announcements(&h, CHANNEL).len(), 1);
    assert_eq!(occurrences(&h, &id).await[0].discord_event_id, None);
    // The meeting goes on: start and end still edit the announcement.
    h.clock.advance(Span::hours(2));
    h.tick().await;
    assert!(content(&announcements(&h, CHANNEL)[0]).contains("🟢 Started"));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_button_and_link_command_refuse_before_the_window_then_hand_out_valid_personal_links()
{
    let h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let ends = starts + Span::minutes(60);
    let id = schedule(
        &h,
        ALICE,
        json!([opt("topic", "Retro"), opt("when", "15:00")]),
    )
    .await;
    h.tick().await;
    let ann = announcements(&h, CHANNEL).remove(0);
    let opens = (starts - Span::minutes(10)).timestamp();

    let early = click_join(&h, &ann, CAROL, "open").await;
    assert!(early.contains(&format!("open <t:{opens}:R>")), "{early}");
    assert!(tokens_in(&early).is_empty());
    let i = meetings(&h, BOB, "link", json!([opt("meeting", id.clone())])).await;
    let early = h.reply_containing(&i, "open").await;
    assert!(early.contains(&format!("<t:{opens}:R>")), "{early}");
    assert!(tokens_in(&early).is_empty());

    // A minute before the window: still refused.
    h.clock.set(starts - Span::minutes(11));
    let still = click_join(&h, &ann, CAROL, "open").await;
    assert!(tokens_in(&still).is_empty(), "{still}");

    h.clock.set(starts - Span::minutes(10));
    let carol = click_join(&h, &ann, CAROL, "jwt=").await;
    let claims = assert_link_for_window(&carol, starts, ends);
    assert_eq!(claims["context"]["user"]["id"], CAROL.to_string());
    assert_eq!(claims["moderator"], false);

    let i = meetings(&h, ALICE, "link", json!([opt("meeting", id.clone())])).await;
    let alice = h.reply_containing(&i, "jwt=").await;
    assert_ephemeral(&h, &i);
    let claims = assert_link_for_window(&alice, starts, ends);
    assert_eq!(claims["context"]["user"]["id"], ALICE.to_string());
    assert_eq!(claims["moderator"], true, "Alice holds the moderator role");

    // After the end plus grace there is nothing to join.
    h.clock.set(ends + Span::minutes(16));
    let late = click_join(&h, &ann, CAROL, "ended").await;
    assert!(tokens_in(&late).is_empty());
    h.finish().await;
}

/// Sets a job back to undone and unleased, as if the process died after its effects but before recording it.
async fn forget_completion(h: &Harness, occurrence: i64, kind: JobKind) {
    let job = h
        .store
        .jobs_for_occurrence(occurrence)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.kind == kind)
        .unwrap();
    assert!(job.done_at.is_some());
    use sqlx::Connection;
    let path = h
        .db_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap();
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE jobs SET done_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $1",
    )
    .bind(job.id)
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_dm_invitees_and_interested_users_exactly_once_across_ticks_restarts_and_reruns()
{
    let mut h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let ends = starts + Span::minutes(60);
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Demo"),
            opt("invite", format!("<@{BOB}> <@{DAVE}>")),
            opt("when", "15:00"),
            int_opt("remind", 10),
        ]),
    )
    .await;
    h.tick().await;
    let occ = occurrences(&h, &id).await.remove(0);
    let event = occ.discord_event_id.unwrap();
    h.sim.mark_interested(GUILD, event, CAROL).await.unwrap();
    h.sim.mark_interested(GUILD, event, BOB).await.unwrap();

    // Before the reminder time nothing is sent.
    h.clock.set(starts - Span::minutes(11));
    h.tick().await;
    assert!(h.dm_texts(BOB).is_empty());

    h.clock.set(starts - Span::minutes(10));
    let report = h.tick().await;
    assert_eq!(report.completed, 1, "{report:?}");
    for (user, moderator) in [(BOB, false), (CAROL, false), (ALICE, true)] {
        let dms = h.dm_texts(user);
        assert_eq!(dms.len(), 1, "user {user}: {dms:?}");
        let claims = assert_link_for_window(&dms[0], starts, ends);
        assert_eq!(claims["context"]["user"]["id"], user.to_string());
        assert_eq!(claims["moderator"], moderator);
    }
    assert!(h.dm_texts(DAVE).is_empty(), "Dave's DMs are closed");
    assert_eq!(starting_notes(&h, CHANNEL).len(), 1);

    h.tick().await;
    h.restart().await;
    h.tick().await;
    // The job's effects happened but its completion was lost: it runs again and must not repeat them.
    forget_completion(&h, occ.id, JobKind::Remind).await;
    let rerun = h.tick().await;
    assert_eq!(rerun.completed, 1, "the remind job ran again: {rerun:?}");
    for user in [BOB, CAROL, ALICE] {
        assert_eq!(h.dm_texts(user).len(), 1, "user {user} got a second DM");
    }
    assert_eq!(
        starting_notes(&h, CHANNEL).len(),
        1,
        "a second starting note"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_goes_active_at_start_and_completed_at_end_with_the_announcement_edited() {
    let h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Sync"),
            opt("when", "15:00"),
            int_opt("duration", 30)
        ]),
    )
    .await;
    h.tick().await;
    let occ = occurrences(&h, &id).await.remove(0);
    let event = occ.discord_event_id.unwrap();
    let msg = occ.announcement_message_id.unwrap();

    h.clock.set(starts);
    h.tick().await;
    assert_eq!(h.sim.scheduled_event(GUILD, event).unwrap()["status"], 2);
    let ann = h.sim.message(msg).unwrap();
    assert!(content(&ann).contains("🟢 Started"), "{}", content(&ann));
    assert_eq!(ann["components"][0]["components"][0]["label"], "Join");

    h.clock.set(starts + Span::minutes(30));
    h.tick().await;
    assert_eq!(h.sim.scheduled_event(GUILD, event).unwrap()["status"], 3);
    let ann = h.sim.message(msg).unwrap();
    assert!(content(&ann).contains("🏁 Ended"), "{}", content(&ann));
    assert!(
        ann["components"].as_array().is_none_or(|c| c.is_empty()),
        "no Join button after the end"
    );
    assert_eq!(announcements(&h, CHANNEL).len(), 1, "edited, not reposted");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weekly_meeting_across_the_berlin_dst_change_stays_at_0930_local_with_a_new_announcement() {
    let h = Harness::start().await;
    // Tue 23 Mar 2027 09:30 CET (UTC+1); the clocks go forward on Sun 28 Mar; Tue 30 Mar 09:30 is CEST (UTC+2).
    let first = utc(2027, 3, 23, 8, 30);
    let second = utc(2027, 3, 30, 7, 30);
    h.clock.set(utc(2027, 3, 22, 12, 0));
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Weekly"),
            opt("when", "2027-03-23 09:30"),
            opt("timezone", "Europe/Berlin"),
            // poise sends a choice as its index: once, daily, weekdays, weekly.
            int_opt("repeat", 3),
        ]),
    )
    .await;
    h.tick().await;
    assert_eq!(occurrences(&h, &id).await[0].starts_at, first);

    h.clock.set(first);
    h.tick().await;
    h.clock.set(first + Span::hours(1));
    h.tick().await;
    let occs = occurrences(&h, &id).await;
    assert_eq!(
        occs.len(),
        2,
        "the next occurrence exists once the first started"
    );
    assert_eq!(occs[1].starts_at, second, "09:30 Berlin summer time");
    assert!(occs[1].announcement_message_id.is_none());

    // Announced a day ahead.
    h.clock.set(second - Span::hours(24) - Span::minutes(1));
    h.tick().await;
    assert_eq!(announcements(&h, CHANNEL).len(), 1);
    h.clock.set(second - Span::hours(24));
    h.tick().await;
    let posted = announcements(&h, CHANNEL);
    assert_eq!(posted.len(), 2, "its own announcement");
    assert!(content(&posted[1]).contains(&format!("<t:{}:F>", second.timestamp())));
    assert!(!content(&posted[1]).contains(&format!("<t:{}:F>", first.timestamp())));
    let occs = occurrences(&h, &id).await;
    assert_ne!(occs[0].discord_event_id, occs[1].discord_event_id);
    let event = h
        .sim
        .scheduled_event(GUILD, occs[1].discord_event_id.expect("its own event"))
        .unwrap();
    let start: DateTime<Utc> = event["scheduled_start_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(start, second);
    assert_eq!(
        h.sim
            .message(occs[0].announcement_message_id.unwrap())
            .map(|m| content(&m).contains("🏁 Ended")),
        Some(true),
        "the first announcement stays about the first occurrence"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_is_refused_for_other_members_and_by_the_host_cancels_event_and_tells_dmd_invitees()
{
    let h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let id = schedule(
        &h,
        CAROL,
        json!([
            opt("topic", "Review"),
            opt("invite", format!("<@{BOB}>")),
            opt("when", "15:00"),
        ]),
    )
    .await;
    h.tick().await;
    h.clock.set(starts - Span::minutes(10));
    h.tick().await;
    assert_eq!(h.dm_texts(BOB).len(), 1);

    let i = meetings(&h, BOB, "cancel", json!([opt("meeting", id.clone())])).await;
    let refused = h.reply_containing(&i, "Only the host").await;
    assert_ephemeral(&h, &i);
    assert!(refused.contains(&format!("<@{CAROL}>")), "{refused}");
    let occ = occurrences(&h, &id).await.remove(0);
    let event = occ.discord_event_id.unwrap();
    assert_eq!(h.sim.scheduled_event(GUILD, event).unwrap()["status"], 1);

    let i = meetings(&h, CAROL, "cancel", json!([opt("meeting", id.clone())])).await;
    let done = h.reply_containing(&i, "Cancelled").await;
    assert!(done.contains("were told"), "{done}");
    assert_eq!(h.sim.scheduled_event(GUILD, event).unwrap()["status"], 4);
    let ann = h.sim.message(occ.announcement_message_id.unwrap()).unwrap();
    assert!(content(&ann).contains("❌ Cancelled"));
    assert!(ann["components"].as_array().is_none_or(|c| c.is_empty()));
    let bob = h.dm_texts(BOB);
    assert_eq!(bob.len(), 2);
    assert!(bob[1].contains("was cancelled"), "{}", bob[1]);
    assert!(tokens_in(&bob[1]).is_empty());

    // Nothing runs for it any more, and its Join button says so.
    h.clock.set(starts);
    h.tick().await;
    assert_eq!(h.sim.scheduled_event(GUILD, event).unwrap()["status"], 4);
    let i = meetings(&h, BOB, "link", json!([opt("meeting", id.clone())])).await;
    h.reply_containing(&i, "cancelled").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_is_idempotent_and_only_next_on_a_running_occurrence_refuses_and_changes_nothing() {
    let h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let id = schedule(
        &h,
        CAROL,
        json!([
            opt("topic", "Sync"),
            opt("invite", format!("<@{BOB}>")),
            opt("when", "15:00"),
            int_opt("repeat", 3),
        ]),
    )
    .await;
    h.tick().await;
    h.clock.set(starts - Span::minutes(10));
    h.tick().await;
    h.clock.set(starts + Span::minutes(1));
    h.tick().await;
    let occ = occurrences(&h, &id).await.remove(0);
    assert_eq!(occ.status, meetbot::store::OccurrenceStatus::Started);
    let event = occ.discord_event_id.unwrap();
    assert_eq!(h.dm_texts(BOB).len(), 1, "Bob's reminder");

    // only_next on the running occurrence: refused with why, nothing marked, nobody told.
    let cancel_next = json!([opt("meeting", id.clone()), bool_opt("only_next", true)]);
    let i = meetings(&h, CAROL, "cancel", cancel_next).await;
    let refused = h.reply_containing(&i, "running now").await;
    assert!(refused.contains("nothing changed"), "{refused}");
    assert_eq!(
        h.sim.scheduled_event(GUILD, event).unwrap()["status"],
        2,
        "still ACTIVE"
    );
    assert_eq!(
        h.dm_texts(BOB).len(),
        1,
        "told of a cancellation that did not happen"
    );
    let i = meetings(&h, BOB, "link", json!([opt("meeting", id.clone())])).await;
    verified_claims(&h.reply_containing(&i, "jwt=").await, h.now());

    // The whole meeting: its running occurrence's links stop at once, Bob is told once.
    let i = meetings(&h, CAROL, "cancel", json!([opt("meeting", id.clone())])).await;
    h.reply_containing(&i, "Cancelled").await;
    assert_eq!(h.dm_texts(BOB).len(), 2);
    let i = meetings(&h, BOB, "link", json!([opt("meeting", id.clone())])).await;
    h.reply_containing(&i, "was cancelled").await;

    // Again, by the host and by a moderator: nothing changes and nobody hears of it twice.
    for who in [CAROL, ALICE] {
        let i = meetings(&h, who, "cancel", json!([opt("meeting", id.clone())])).await;
        h.reply_containing(&i, "already cancelled").await;
    }
    assert_eq!(h.dm_texts(BOB).len(), 2, "a second cancel re-told Bob");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_scheduled_before_a_restart_is_announced_exactly_once_after_it() {
    let mut h = Harness::start().await;
    let id = schedule(
        &h,
        ALICE,
        json!([opt("topic", "Carry over"), opt("when", "in 3h")]),
    )
    .await;
    h.restart().await;
    h.tick().await;
    h.tick().await;
    assert_eq!(announcements(&h, CHANNEL).len(), 1);
    h.restart().await;
    h.tick().await;
    assert_eq!(announcements(&h, CHANNEL).len(), 1);
    assert!(occurrences(&h, &id).await[0]
        .announcement_message_id
        .is_some());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_due_while_the_bot_was_down_runs_late_when_useful_and_a_reminder_after_the_end_is_dropped(
) {
    let mut h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Missed"),
            opt("invite", format!("<@{BOB}>")),
            opt("when", "15:00"),
        ]),
    )
    .await;
    h.tick().await;
    let occ = occurrences(&h, &id).await.remove(0);
    let event = occ.discord_event_id.unwrap();
    // Down from before the reminder until after the end.
    if let Some(bot) = h.bot.take() {
        bot.shutdown().await.unwrap();
    }
    h.clock.set(starts + Span::minutes(70));
    h.restart().await;
    let report = h.tick().await;
    assert_eq!(report.dropped, 2, "remind and start are stale: {report:?}");
    assert!(
        h.dm_texts(BOB).is_empty(),
        "no link for a meeting that is over"
    );
    assert!(h.dm_texts(ALICE).is_empty());
    assert!(starting_notes(&h, CHANNEL).is_empty());
    assert!(occurrences(&h, &id).await[0].reminded_at.is_none());
    // The end still tidies up: the announcement says it ended and the event is closed.
    let ann = h.sim.message(occ.announcement_message_id.unwrap()).unwrap();
    assert!(content(&ann).contains("🏁 Ended"), "{}", content(&ann));
    assert_eq!(h.sim.scheduled_event(GUILD, event).unwrap()["status"], 3);

    // A second meeting whose reminder fell due during a short outage still gets it, late.
    h.clock.set(utc(2026, 12, 1, 17, 0));
    let id2 = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Late"),
            opt("invite", format!("<@{BOB}>")),
            opt("when", "18:00")
        ]),
    )
    .await;
    h.tick().await;
    h.restart().await;
    h.clock.set(utc(2026, 12, 1, 18, 5));
    h.tick().await;
    assert_eq!(
        h.dm_texts(BOB).len(),
        1,
        "the late reminder still makes sense"
    );
    assert!(occurrences(&h, &id2).await[0].reminded_at.is_some());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_sharing_one_postgres_database_never_double_announce_or_double_remind() {
    let Some((url, _schema)) = support::db::postgres_schema_via(None).await else {
        return;
    };
    let h = Harness::start_on(&url, &[], |_| {}).await;
    assert_eq!(h.store.backend_name(), "postgres");
    let starts = utc(2026, 12, 1, 15, 0);
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            schedule(
                &h,
                ALICE,
                json!([
                    opt("topic", format!("Shared {n}")),
                    opt("invite", format!("<@{BOB}>")),
                    opt("when", format!("15:{:02}", n * 5)),
                ]),
            )
            .await,
        );
    }
    let second = h.start_second_bot().await;
    // Both instances tick at the same moment, twice.
    for _ in 0..2 {
        let (a, b) = tokio::join!(h.tick(), second.tick_scheduler());
        let b = b.unwrap();
        assert!(a.completed + b.completed <= 5, "{a:?} {b:?}");
    }
    assert_eq!(announcements(&h, CHANNEL).len(), 5);
    assert_eq!(
        h.sim
            .requests_matching("POST", "/guilds/*/scheduled-events")
            .len(),
        5
    );
    for id in &ids {
        let occ = &occurrences(&h, id).await[0];
        assert!(occ.announcement_message_id.is_some());
    }

    h.clock.set(starts - Span::minutes(10));
    let _ = tokio::join!(h.tick(), second.tick_scheduler());
    let _ = tokio::join!(h.tick(), second.tick_scheduler());
    assert_eq!(h.dm_texts(BOB).len(), 1, "one reminder is due, sent once");
    h.clock.set(starts + Span::minutes(20));
    let _ = tokio::join!(h.tick(), second.tick_scheduler());
    let _ = tokio::join!(h.tick(), second.tick_scheduler());
    assert_eq!(h.dm_texts(BOB).len(), 5, "{:?}", h.dm_texts(BOB));
    assert_eq!(starting_notes(&h, CHANNEL).len(), 5);
    second.shutdown().await.unwrap();
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_list_is_ephemeral_in_start_order_and_paged_by_ten() {
    let h = Harness::start().await;
    let i = meetings(&h, BOB, "list", json!([])).await;
    h.reply_containing(&i, "No upcoming meetings").await;
    // Scheduled out of order: the list sorts by start.
    for n in (1..=12).rev() {
        schedule(
            &h,
            ALICE,
            json!([
                opt("topic", format!("Item {n:02}")),
                opt("when", format!("in {n}h"))
            ]),
        )
        .await;
    }
    let i = meetings(&h, BOB, "list", json!([])).await;
    let page1 = h.reply_containing(&i, "Upcoming meetings").await;
    assert_ephemeral(&h, &i);
    let items: Vec<&str> = page1.lines().filter(|l| l.starts_with("• ")).collect();
    assert_eq!(items.len(), 10, "{page1}");
    assert!(
        items[0].contains("Item 01") && items[9].contains("Item 10"),
        "{page1}"
    );
    assert!(page1.contains("More: `/meetings list page:2`"));

    let i = meetings(&h, BOB, "list", json!([int_opt("page", 2)])).await;
    let page2 = h.reply_containing(&i, "page 2").await;
    let items: Vec<&str> = page2.lines().filter(|l| l.starts_with("• ")).collect();
    assert_eq!(items.len(), 2, "{page2}");
    assert!(items[0].contains("Item 11") && items[1].contains("Item 12"));
    assert!(!page2.contains("More:"));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_only_the_next_occurrence_keeps_the_weekly_series_going() {
    let h = Harness::start().await;
    let first = utc(2026, 12, 1, 15, 0);
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Weekly sync"),
            opt("when", "15:00"),
            // poise sends a choice as its index: once, daily, weekdays, weekly.
            int_opt("repeat", 3),
        ]),
    )
    .await;
    h.tick().await;
    let i = meetings(
        &h,
        ALICE,
        "cancel",
        json!([opt("meeting", id.clone()), bool_opt("only_next", true)]),
    )
    .await;
    h.reply_containing(&i, "(the next occurrence only)").await;
    let occ = occurrences(&h, &id).await.remove(0);
    assert_eq!(
        h.sim
            .scheduled_event(GUILD, occ.discord_event_id.unwrap())
            .unwrap()["status"],
        4
    );

    // The week after still happens, announced a day ahead with its own message.
    h.clock.set(first + Span::days(6));
    h.tick().await;
    let occs = occurrences(&h, &id).await;
    let next = occs
        .iter()
        .find(|o| o.starts_at == first + Span::days(7))
        .expect("the following occurrence exists");
    assert!(next.announcement_message_id.is_some(), "{occs:?}");
    let posted = announcements(&h, CHANNEL);
    assert_eq!(posted.len(), 2);
    assert!(content(&posted[1]).contains(&format!("<t:{}:F>", next.starts_at.timestamp())));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_sent_before_the_join_window_carries_a_link_that_opens_with_the_window() {
    let h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Early heads-up"),
            opt("invite", format!("<@{BOB}>")),
            opt("when", "15:00"),
            int_opt("remind", 30),
        ]),
    )
    .await;
    h.tick().await;
    h.clock.set(starts - Span::minutes(30));
    h.tick().await;
    let dms = h.dm_texts(BOB);
    assert_eq!(dms.len(), 1);
    // The DM says the link works from the window's opening (10 minutes before); so must the token.
    assert_link_for_window(&dms[0], starts, starts + Span::minutes(60));
    assert_eq!(
        failed_checks(&dms[0], starts - Span::minutes(20)),
        vec!["nbf"]
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_through_the_start_the_late_announcement_reminder_and_start_run_in_order() {
    let mut h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Late start"),
            opt("invite", format!("<@{BOB}>")),
            opt("when", "15:00"),
        ]),
    )
    .await;
    if let Some(bot) = h.bot.take() {
        bot.shutdown().await.unwrap();
    }
    // Back 20 minutes into the meeting: announce, remind and start are all due at once.
    h.clock.set(starts + Span::minutes(20));
    h.restart().await;
    let report = h.tick().await;
    assert_eq!(report.completed, 3, "{report:?}");
    let occ = occurrences(&h, &id).await.remove(0);
    let ann = h.sim.message(occ.announcement_message_id.unwrap()).unwrap();
    assert!(content(&ann).contains("🟢 Started"), "{}", content(&ann));
    let event = occ
        .discord_event_id
        .expect("an event for the rest of the meeting");
    assert_eq!(
        h.sim.scheduled_event(GUILD, event).unwrap()["status"],
        2,
        "the event is live while the meeting runs"
    );
    assert_eq!(h.dm_texts(BOB).len(), 1);
    verified_claims(&h.dm_texts(BOB)[0], h.now());

    h.clock.set(starts + Span::minutes(60));
    h.tick().await;
    assert_eq!(h.sim.scheduled_event(GUILD, event).unwrap()["status"], 3);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_roles_members_cannot_be_listed_the_people_invited_by_name_still_get_their_links() {
    let h = Harness::start().await;
    let starts = utc(2026, 12, 1, 15, 0);
    let ends = starts + Span::minutes(60);
    schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Review"),
            opt("invite", format!("<@{BOB}> <@&{ROLE_TEAM}>")),
            opt("when", "15:00"),
            int_opt("remind", 10),
        ]),
    )
    .await;
    h.tick().await;
    // From now on Discord refuses to list members (the Server Members intent was switched off).
    h.sim.fail_next("GET", "/guilds/*/members", 403, 100);
    h.clock.set(starts - Span::minutes(10));
    let report = h.tick().await;
    assert_eq!(report.completed, 1, "the reminder completed: {report:?}");
    let bob = h.dm_texts(BOB);
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert_link_for_window(&bob[0], starts, ends);
    assert!(h.dm_texts(CAROL).is_empty(), "Team could not be listed");
    assert!(logs().contains("cannot expand the invited roles"));
    h.finish().await;
}

/// `/meet` as Alice on 1 Dec 2026 for a series from 2 Dec 09:30 repeating by choice `repeat`, ending by `end`.
async fn series_reply(h: &Harness, topic: &str, repeat: i64, end: Value) -> String {
    h.clock.set(utc(2026, 12, 1, 8, 0));
    let options = json!([
        opt("topic", topic),
        opt("when", "2026-12-02 09:30"),
        int_opt("repeat", repeat),
        end
    ]);
    meet_reply(h, ALICE, options).await.1
}

/// Runs the scheduler through one occurrence: its start, then its end.
async fn run_through(h: &Harness, occ: &Occurrence) {
    h.clock.set(occ.starts_at);
    h.tick().await;
    h.clock.set(occ.ends_at + Span::minutes(1));
    h.tick().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_with_times_ends_after_that_many_and_says_so_in_the_reply_and_the_list() {
    let h = Harness::start().await;
    let reply = series_reply(&h, "Sprint", 1, int_opt("times", 3)).await; // daily
    let last = utc(2026, 12, 4, 9, 30);
    assert!(
        reply.contains(&format!("3 times, the last <t:{}:D>", last.timestamp())),
        "{reply}"
    );
    let id = meeting_id_in(&reply);
    let i = meetings(&h, BOB, "list", json!([])).await;
    let list = h.reply_containing(&i, "Upcoming meetings").await;
    assert!(
        list.contains(&format!("until <t:{}:D>", last.timestamp())),
        "{list}"
    );
    h.tick().await;
    for n in 0..3 {
        let occs = occurrences(&h, &id).await;
        assert_eq!(occs.len(), n + 1, "one occurrence at a time");
        run_through(&h, &occs[n]).await;
    }
    let occs = occurrences(&h, &id).await;
    assert_eq!(
        occs.iter().map(|o| o.starts_at).collect::<Vec<_>>(),
        [utc(2026, 12, 2, 9, 30), utc(2026, 12, 3, 9, 30), last],
        "three, then no fourth"
    );
    let m = h.store.meeting(&id).await.unwrap().unwrap();
    assert_eq!(m.status, meetbot::store::MeetingStatus::Ended);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_until_a_day_ends_on_that_day_and_bad_ends_are_refused() {
    let h = Harness::start().await;
    // Weekly on Wednesdays from 2 Dec, until Wed 16 Dec: three meetings.
    let reply = series_reply(&h, "Review", 3, opt("until", "2026-12-16")).await;
    assert!(reply.contains(", until <t:"), "{reply}");
    let id = meeting_id_in(&reply);
    h.tick().await;
    for n in 0..3 {
        let occs = occurrences(&h, &id).await;
        run_through(&h, &occs[n]).await;
    }
    let occs = occurrences(&h, &id).await;
    assert_eq!(occs.len(), 3, "{occs:?}");
    assert_eq!(occs[2].starts_at, utc(2026, 12, 16, 9, 30));

    h.clock.set(utc(2026, 12, 1, 8, 0));
    for (options, needle) in [
        (
            json!([opt("when", "2026-12-02 09:30"), int_opt("times", 3)]),
            "choose a `repeat` too",
        ),
        (
            json!([
                opt("when", "2026-12-02 09:30"),
                int_opt("repeat", 1),
                int_opt("times", 3),
                opt("until", "2026-12-09")
            ]),
            "not both",
        ),
        (
            json!([
                opt("when", "2026-12-02 09:30"),
                int_opt("repeat", 1),
                opt("until", "2026-11-30")
            ]),
            "is before the first meeting",
        ),
        (
            json!([
                opt("when", "2026-12-02 09:30"),
                int_opt("repeat", 1),
                opt("until", "soon")
            ]),
            "written like 2027-03-31",
        ),
        (json!([int_opt("times", 3)]), "add `when` too"),
    ] {
        let (_, reply) = meet_reply(&h, ALICE, options).await;
        assert!(reply.contains(needle), "{needle}: {reply}");
        assert!(!reply.contains("Meeting id"), "{reply}");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn future_meetings_are_capped_per_host_and_per_server() {
    let h = Harness::start_with(
        &[
            ("MEETBOT_MEETINGS_MAX_FUTURE_PER_USER", "2"),
            ("MEETBOT_MEETINGS_MAX_FUTURE_PER_SERVER", "3"),
        ],
        |_| {},
    )
    .await;
    let at = |d: u32| json!([opt("when", format!("2026-12-{d:02} 15:00"))]);
    schedule(&h, ALICE, at(2)).await;
    let second = schedule(&h, ALICE, at(3)).await;
    let (_, refused) = meet_reply(&h, ALICE, at(4)).await;
    assert!(
        refused.contains("You already host 2 upcoming meetings here"),
        "{refused}"
    );
    // Another host still may, until the server is full.
    schedule(&h, FRANK, at(5)).await;
    let (_, refused) = meet_reply(&h, FRANK, at(6)).await;
    assert!(
        refused.contains("This server already has 3 upcoming meetings"),
        "{refused}"
    );
    // Cancelling one frees its place.
    let i = meetings(&h, ALICE, "cancel", json!([opt("meeting", second)])).await;
    h.reply_containing(&i, "ancel").await;
    schedule(&h, FRANK, at(6)).await;
    h.finish().await;
}

/// Adds `n` members who pressed Interested on `event` (ids from `base`); returns their ids.
async fn interested_crowd(h: &Harness, event: u64, base: u64, n: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    for k in 0..n {
        let id = base + k;
        h.sim.add_member(
            GUILD,
            discord_sim::UserSpec::new(id, &format!("fan{k}")),
            &[],
        );
        h.sim.mark_interested(GUILD, event, id).await.unwrap();
        ids.push(id);
    }
    ids
}

/// A meeting at 15:00 with a reminder 10 minutes before, announced, and 150 members Interested in its event.
async fn launch_with_fans() -> (Harness, Occurrence, Vec<u64>) {
    let h = Harness::start().await;
    let id = schedule(
        &h,
        ALICE,
        json!([
            opt("topic", "Launch"),
            opt("when", "15:00"),
            int_opt("remind", 10)
        ]),
    )
    .await;
    h.tick().await;
    let occ = occurrences(&h, &id).await.remove(0);
    let event = occ.discord_event_id.unwrap();
    let fans = interested_crowd(&h, event, 400_000_000_000_000_000, 150).await;
    (h, occ, fans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interested_users_come_with_their_members_in_pages_not_one_lookup_each() {
    let (h, occ, fans) = launch_with_fans().await;
    let starts = occ.starts_at;
    let lookups_before = h.sim.requests_matching("GET", "/guilds/*/members/*").len();
    h.clock.set(starts - Span::minutes(10));
    let report = h.tick().await;
    assert_eq!(report.completed, 1, "{report:?}");
    for fan in &fans {
        assert_eq!(h.dm_texts(*fan).len(), 1, "fan {fan}");
    }
    let lookups = h.sim.requests_matching("GET", "/guilds/*/members/*").len() - lookups_before;
    assert!(
        lookups <= 1,
        "{lookups} member lookups for 150 Interested users (the host's is the one allowed)"
    );
    let pages = h
        .sim
        .requests_matching("GET", "/guilds/*/scheduled-events/*/users");
    assert_eq!(pages.len(), 2, "150 users in pages of 100");
    assert!(pages.iter().all(|r| r.query.contains("with_member=true")));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_whose_lease_is_taken_over_stops_and_the_new_holder_finishes_without_doubles() {
    let (h, occ, fans) = launch_with_fans().await;
    let starts = occ.starts_at;
    h.clock.set(starts - Span::minutes(10));
    // Slow enough that the reminder is still sending when its lease is taken.
    h.sim.set_latency(Duration::from_millis(15));
    let posted = h
        .sim
        .requests_matching("POST", "/channels/*/messages")
        .len();
    let bot = h.bot();
    let tick = bot.tick_scheduler();
    let steal = async {
        h.sim
            .wait_for_requests(
                "POST",
                "/channels/*/messages",
                posted + 5,
                Duration::from_secs(20),
            )
            .await
            .expect("the reminder starts sending");
        let job = h
            .store
            .jobs_for_occurrence(occ.id)
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.kind == JobKind::Remind)
            .unwrap();
        set_lease_owner(&h, job.id, "another-process").await;
    };
    let (report, ()) = tokio::join!(tick, steal);
    let report = report.unwrap();
    assert_eq!(
        report.completed, 0,
        "the job was not finished here: {report:?}"
    );
    let sent: usize = fans.iter().map(|f| h.dm_texts(*f).len()).sum();
    assert!(
        sent < fans.len(),
        "stopped after losing the lease: {sent} sent"
    );
    // The other process died: its lease runs out, and this one takes the job up again.
    h.sim.set_latency(Duration::ZERO);
    h.clock.set(starts - Span::minutes(10) + Span::minutes(5));
    let report = h.tick().await;
    assert_eq!(report.completed, 1, "{report:?}");
    for fan in &fans {
        assert_eq!(h.dm_texts(*fan).len(), 1, "fan {fan}: exactly one DM");
    }
    h.finish().await;
}

/// Hands a job's lease to another owner, as a second process taking it over would.
async fn set_lease_owner(h: &Harness, job: i64, owner: &str) {
    use sqlx::Connection;
    let path = h
        .db_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap();
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET lease_owner = $1 WHERE id = $2")
        .bind(owner)
        .bind(job)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

/// What a modified client (or the simulator, which sends options as given) can send past every option's
/// `max_length`: each command still answers, in a reply Discord accepts (at most 2,000 characters), and the `when`
/// autocomplete offers a choice within Discord's 100 characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_far_past_the_limits_still_gets_an_answer_that_fits() {
    let h = Harness::start().await;
    let long = |c: &str| c.repeat(6_000);
    let sub = |name: &str, options: Value| json!([{ "name": name, "type": 1, "options": options }]);
    let cases = [
        (ALICE, "meet", json!([opt("when", long("x"))])),
        (
            ALICE,
            "meet",
            json!([opt("when", format!("tomorrow {}", long("9")))]),
        ),
        (
            ALICE,
            "meet",
            json!([
                opt("when", "tomorrow 9:30"),
                opt("timezone", long("Europe/"))
            ]),
        ),
        (
            OWNER,
            "meetbot",
            sub("audit", json!([opt("meeting", long("m"))])),
        ),
        (
            ALICE,
            "meetings",
            sub("link", json!([opt("meeting", long("<@1>"))])),
        ),
        // Past the registered min and max of `page`, and past what a u32 holds.
        (ALICE, "meetings", sub("list", json!([int_opt("page", 0)]))),
        (ALICE, "meetings", sub("list", json!([int_opt("page", -1)]))),
        (
            ALICE,
            "meetings",
            sub("list", json!([int_opt("page", u32::MAX.into())])),
        ),
        (
            ALICE,
            "meetings",
            sub("list", json!([int_opt("page", 9_007_199_254_740_991)])),
        ),
    ];
    for (user, name, options) in cases {
        let i = h.command(user, name, options).await;
        let text = final_reply(&h, &i).await;
        let n = text.chars().count();
        assert!((1..=2000).contains(&n), "/{name}: {n} characters: {text}");
        assert!(!text.contains("Something went wrong"), "/{name}: {text}");
    }
    let typed = json!([{ "name": "when", "type": 3, "value": long("é"), "focused": true }]);
    let choices = when_preview(&h, typed).await;
    assert_eq!(choices.len(), 1, "{choices:?}");
    for key in ["name", "value"] {
        let n = choices[0][key].as_str().unwrap().chars().count();
        assert!((1..=100).contains(&n), "choice {key}: {n} characters");
    }
    assert!(h.sim.violations().is_empty(), "{:?}", h.sim.violations());
    h.finish().await;
}
