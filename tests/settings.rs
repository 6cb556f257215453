//! `/meetbot settings` and `/meetbot audit` end to end: per-server policy without editing the bot's files, and the
//! audit trail, against the simulated Discord.

mod support;

use chrono::Duration;
use serde_json::{json, Value};
use support::*;

/// `/meetbot settings <name> …options`.
fn setting(name: &str, options: Value) -> Value {
    json!([{ "name": "settings", "type": 2, "options": [{ "name": name, "type": 1, "options": options }] }])
}

fn role_opt(id: u64) -> Value {
    json!({ "name": "role", "type": 8, "value": id.to_string() })
}

fn channel_opt(id: u64) -> Value {
    json!({ "name": "channel", "type": 7, "value": id.to_string() })
}

/// `action` choices, in the order the command declares them.
const ADD: i64 = 0;
const CLEAR: i64 = 2;

async fn set(h: &Harness, user: u64, name: &str, options: Value) -> String {
    let i = h.command(user, "meetbot", setting(name, options)).await;
    h.reply_containing(&i, "").await
}

/// `/meet` as `user`; returns the host's token claims.
async fn host_claims(h: &Harness, user: u64, topic: &str) -> Value {
    let i = h.meet(user, json!([opt("topic", topic)])).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    verified_claims(&reply, h.now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_without_manage_server_cannot_change_settings() {
    let h = Harness::start().await;
    // Registered so Discord shows it only to members with Manage Server (permission bit 1 << 5).
    let cmds = h.sim.registered_commands(Some(GUILD));
    let meetbot = cmds
        .iter()
        .find(|c| c["name"] == "meetbot")
        .expect("meetbot registered");
    assert_eq!(meetbot["default_member_permissions"], "32");

    // Alice moderates meetings but cannot manage the server: refused server-side too.
    for who in [BOB, ALICE] {
        let answer = set(&h, who, "cooldown", json!([int_opt("seconds", 600)])).await;
        assert!(
            answer.contains("needs the **Manage Server** permission"),
            "{answer}"
        );
    }
    assert_eq!(
        h.store.setting(GUILD, "cooldown_seconds").await.unwrap(),
        None
    );
    h.finish().await;
}

/// What the settings changed in `settings_take_effect_at_once_and_survive_a_restart` make of `/meet`.
async fn settings_hold(h: &Harness) {
    let carol = host_claims(h, CAROL, "after").await;
    assert_eq!(carol["moderator"], true, "Team is a moderator role now");
    assert_eq!(carol["context"]["user"]["lobby_bypass"], true);
    assert_eq!(
        carol["exp"].as_i64(),
        Some((h.now() + Duration::minutes(30 + 15)).timestamp()),
        "the server's default duration"
    );
    assert_eq!(host_claims(h, ERIN, "after").await["moderator"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_take_effect_at_once_and_survive_a_restart() {
    let mut h = Harness::start().await;
    assert_eq!(host_claims(&h, CAROL, "before").await["moderator"], false);
    assert_eq!(host_claims(&h, ERIN, "before").await["moderator"], true);

    let answer = set(
        &h,
        OWNER,
        "moderator-roles",
        json!([int_opt("action", ADD), role_opt(ROLE_TEAM)]),
    )
    .await;
    assert!(
        answer.contains(&format!("Was: <@&{ROLE_MODS}> (the file's default)")),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("Now: <@&{ROLE_MODS}>, <@&{ROLE_TEAM}>")),
        "{answer}"
    );
    let answer = set(
        &h,
        OWNER,
        "admins-are-moderators",
        json!([bool_opt("value", false)]),
    )
    .await;
    assert!(
        answer.contains("Was: on (the file's default)\nNow: off"),
        "{answer}"
    );
    let answer = set(
        &h,
        OWNER,
        "default-duration",
        json!([int_opt("minutes", 30)]),
    )
    .await;
    assert!(
        answer.contains("Was: 60 minutes (the file's default)\nNow: 30 minutes"),
        "{answer}"
    );
    let answer = set(&h, OWNER, "lobby-bypass", json!([bool_opt("value", true)])).await;
    assert!(answer.contains("Now: on"), "{answer}");

    settings_hold(&h).await;
    h.restart().await;
    settings_hold(&h).await;

    // Cleared: no moderator roles at all on this server, whatever the file says.
    let answer = set(
        &h,
        OWNER,
        "moderator-roles",
        json!([int_opt("action", CLEAR)]),
    )
    .await;
    assert!(answer.contains("Now: (none)"), "{answer}");
    assert_eq!(host_claims(&h, ALICE, "cleared").await["moderator"], false);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_values_are_refused_with_a_clear_message_and_change_nothing() {
    let h = Harness::start().await;
    let answer = set(
        &h,
        OWNER,
        "default-duration",
        json!([int_opt("minutes", 10_000)]),
    )
    .await;
    assert!(answer.contains("must be from 5 to 480 minutes"), "{answer}");
    // Shorter than /meet itself accepts would make every /meet without `duration` fail.
    let answer = set(
        &h,
        OWNER,
        "default-duration",
        json!([int_opt("minutes", 4)]),
    )
    .await;
    assert!(answer.contains("must be from 5 to 480 minutes"), "{answer}");
    let answer = set(
        &h,
        OWNER,
        "default-timezone",
        json!([opt("zone", "Mars/Olympus")]),
    )
    .await;
    assert!(answer.contains("Nothing was changed"), "{answer}");
    let answer = set(
        &h,
        OWNER,
        "moderator-roles",
        json!([int_opt("action", ADD), role_opt(GUILD)]),
    )
    .await;
    assert!(
        answer.contains("`@everyone` cannot be used here"),
        "{answer}"
    );
    let answer = set(&h, OWNER, "invitee-cap", json!([int_opt("count", 0)])).await;
    assert!(answer.contains("must be from 1 to 1000 people"), "{answer}");
    assert!(h.store.settings(GUILD).await.unwrap().is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitee_cap_and_cooldown_set_on_the_server_limit_meet() {
    let h = Harness::start().await;
    set(&h, OWNER, "invitee-cap", json!([int_opt("count", 1)])).await;
    let i = h
        .meet(
            ALICE,
            json!([opt("invite", format!("<@{BOB}> <@{CAROL}>"))]),
        )
        .await;
    let answer = h.reply_containing(&i, "the limit here is 1").await;
    assert!(tokens_in(&answer).is_empty());
    assert!(h.dm_texts(BOB).is_empty() && h.dm_texts(CAROL).is_empty());

    // Guests count against the cap too: one per meeting here.
    let i = h.meet(ALICE, json!([opt("topic", "capped")])).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let id = reply[reply.find("Meeting id: `").unwrap() + 13..]
        .split('`')
        .next()
        .unwrap()
        .to_string();
    let guest = |name: &str| json!([{ "name": "guest", "type": 1, "options": [opt("name", name), opt("meeting", id.clone())] }]);
    let i = h.command(ALICE, "invite", guest("Ada")).await;
    assert_eq!(
        tokens_in(&h.reply_containing(&i, "Guest link").await).len(),
        1
    );
    let i = h.command(ALICE, "invite", guest("Bea")).await;
    let answer = h.reply_containing(&i, "the limit here is 1").await;
    assert!(tokens_in(&answer).is_empty());

    // The refused /meet cost no cooldown; the next one starts it.
    set(&h, OWNER, "cooldown", json!([int_opt("seconds", 120)])).await;
    host_claims(&h, ALICE, "first").await;
    let i = h.meet(ALICE, json!([opt("topic", "second")])).await;
    let until = (h.now() + Duration::seconds(120)).timestamp();
    h.reply_containing(&i, &format!("again <t:{until}:R>"))
        .await;
    h.clock.advance(Duration::seconds(120));
    host_claims(&h, ALICE, "third").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_channel_receives_each_event_without_a_token() {
    let h = Harness::start().await;
    let answer = set(
        &h,
        OWNER,
        "audit-channel",
        json!([channel_opt(EVENTS_CHANNEL)]),
    )
    .await;
    assert!(
        answer.contains(&format!("Now: <#{EVENTS_CHANNEL}>")),
        "{answer}"
    );

    let i = h.meet(ALICE, json!([opt("topic", "Sync")])).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let start = reply.find("Meeting id: `").unwrap() + 13;
    let id = reply[start..].split('`').next().unwrap().to_string();
    let i = h
        .command(
            ALICE,
            "invite",
            json!([{ "name": "member", "type": 1, "options": [
                { "name": "user", "type": 6, "value": CAROL.to_string() }, opt("meeting", id.clone())
            ] }]),
        )
        .await;
    h.reply_containing(&i, "Sent").await;
    let i = h
        .command(
            ALICE,
            "invite",
            json!([{ "name": "guest", "type": 1, "options": [opt("name", "Ada"), opt("meeting", id.clone())] }]),
        )
        .await;
    h.reply_containing(&i, "Guest link").await;
    // Audit lines go out through their own lane, after the answers.
    h.sim
        .wait_for_requests(
            "POST",
            &format!("/channels/{EVENTS_CHANNEL}/messages"),
            4,
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("four audit lines");

    let posted: Vec<String> = h
        .channel_texts(EVENTS_CHANNEL)
        .iter()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect();
    let expect = [
        "changed the audit channel".to_string(),
        format!("issued a moderator link to <@{ALICE}> via /meet"),
        format!("invited <@{CAROL}> as a guest to **Sync**"),
        "made a guest link for **Ada**".to_string(),
    ];
    assert_eq!(posted.len(), expect.len(), "{posted:#?}");
    for (text, want) in posted.iter().zip(&expect) {
        assert!(text.contains(want), "{text:?} should say {want:?}");
        assert!(
            !text.contains("jwt") && !text.contains("eyJ"),
            "a token leaked: {text}"
        );
    }
    assert!(posted[3].contains(&format!("meeting `{id}`")));

    // Moderators read the trail back, newest first.
    let i = h
        .command(
            ALICE,
            "meetbot",
            json!([{ "name": "audit", "type": 1, "options": [] }]),
        )
        .await;
    let trail = h.reply_containing(&i, "Audit trail").await;
    assert!(trail.len() <= 2000);
    let guest = trail.find("made a guest link").expect("guest entry");
    let member = trail.find("as a guest to").expect("member entry");
    let setting = trail
        .find("changed the audit channel")
        .expect("setting entry");
    assert!(guest < member && member < setting, "{trail}");
    assert!(tokens_in(&trail).is_empty());
    // Plain members may not read it.
    let i = h
        .command(
            BOB,
            "meetbot",
            json!([{ "name": "audit", "type": 1, "options": [] }]),
        )
        .await;
    h.reply_containing(&i, "The audit trail is for moderators")
        .await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_meetings_follow_the_servers_channel_window_and_zone() {
    let h = Harness::start().await;
    set(
        &h,
        OWNER,
        "announcement-channel",
        json!([channel_opt(EVENTS_CHANNEL)]),
    )
    .await;
    set(&h, OWNER, "join-window", json!([int_opt("minutes", 30)])).await;
    set(&h, OWNER, "remind-lead", json!([int_opt("minutes", 5)])).await;
    let answer = set(
        &h,
        OWNER,
        "default-timezone",
        json!([opt("zone", "Asia/Tokyo")]),
    )
    .await;
    assert!(
        answer.contains("Was: UTC (the file's default)\nNow: Asia/Tokyo"),
        "{answer}"
    );
    set(
        &h,
        OWNER,
        "audit-channel",
        json!([channel_opt(EVENTS_CHANNEL)]),
    )
    .await;

    let show = h
        .command(OWNER, "meetbot", setting("show", json!([])))
        .await;
    let show = h
        .reply_containing(&show, "meetbot settings on this server")
        .await;
    assert!(show.contains("• join window: 30 minutes ✎"), "{show}");
    assert!(show.contains("• invitee cap: 50 people\n"), "{show}");

    // 10:00 UTC is 19:00 in Tokyo: "20:00" without a zone means Tokyo's, one hour ahead.
    let i = h
        .meet(ALICE, json!([opt("topic", "Plan"), opt("when", "20:00")]))
        .await;
    let reply = h.reply_containing(&i, "Meeting id").await;
    let start = h.now() + Duration::hours(1);
    assert!(
        reply.contains(&format!("<t:{}:F>", start.timestamp())),
        "{reply}"
    );
    assert!(
        reply.contains(&format!("announcement goes to <#{EVENTS_CHANNEL}>")),
        "{reply}"
    );
    assert!(reply.contains("5 minutes before"), "{reply}");
    assert!(reply.contains("Links open 30 minutes before"), "{reply}");
    let id = reply[reply.find("Meeting id: `").unwrap() + 13..]
        .split('`')
        .next()
        .unwrap()
        .to_string();

    // Inside the server's 30-minute window (the file says 10) Alice's own link opens, and is audited.
    h.clock.advance(Duration::minutes(35));
    let i = h
        .command(
            ALICE,
            "meetings",
            json!([{ "name": "link", "type": 1, "options": [opt("meeting", id)] }]),
        )
        .await;
    let link = h.reply_containing(&i, "Your personal link").await;
    assert_eq!(verified_claims(&link, h.now())["moderator"], true);
    let line = format!("issued a moderator link to <@{ALICE}> via /meetings link");
    let posted = h.channel_texts_once(EVENTS_CHANNEL, &line).await;
    assert!(posted.iter().any(|t| t.contains(&line)), "{posted:#?}");
    assert!(posted.iter().all(|t| !t.contains("jwt")), "{posted:#?}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_links_for_moderators_are_audited_without_a_token() {
    let h = Harness::start().await;
    set(
        &h,
        OWNER,
        "audit-channel",
        json!([channel_opt(EVENTS_CHANNEL)]),
    )
    .await;
    let i = h
        .meet(
            BOB,
            json!([
                opt("topic", "Retro"),
                opt("when", "in 1h"),
                opt("invite", format!("<@{FRANK}> <@{CAROL}>")),
                int_opt("remind", 10)
            ]),
        )
        .await;
    h.reply_containing(&i, "Meeting id").await;
    h.tick().await;
    h.clock.advance(Duration::minutes(50));
    h.tick().await;
    assert_eq!(h.dm_texts(FRANK).len(), 1, "Frank got his reminder");
    let posted: Vec<String> = h
        .channel_texts(EVENTS_CHANNEL)
        .iter()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect();
    let reminders: Vec<&String> = posted
        .iter()
        .filter(|t| t.contains("via a reminder DM"))
        .collect();
    // Frank moderates; Carol and Bob (the host) get member links, which are not audited.
    assert_eq!(reminders.len(), 1, "{posted:#?}");
    assert!(reminders[0].contains(&format!("moderator link to <@{FRANK}>")));
    assert!(posted.iter().all(|t| !t.contains("jwt")), "{posted:#?}");
    h.finish().await;
}
