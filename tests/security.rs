//! Security review scenarios: nothing the bot says to a person pings anyone, whatever they typed.

mod support;

use chrono::Duration as Span;
use discord_sim::{Interaction, RoleSpec, UserSpec};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

/// The `allowed_mentions` of every response the bot gave to an interaction that carries text (callback messages
/// and edits of the original reply); deferrals carry no text and are skipped.
fn allowed_mentions_of_texts(h: &Harness, i: &Interaction) -> Vec<Value> {
    h.sim
        .interaction_responses(&i.token)
        .iter()
        .filter_map(|r| {
            if r.body["content"].is_string() {
                Some(r.body["allowed_mentions"].clone())
            } else if r.body["data"]["content"].is_string() {
                Some(r.body["data"]["allowed_mentions"].clone())
            } else {
                None
            }
        })
        .collect()
}

/// Whether an `allowed_mentions` object lets nobody be pinged: present, parsing nothing, listing nobody.
fn pings_nobody(am: &Value) -> bool {
    let empty = |k: &str| am[k].as_array().is_none_or(|a| a.is_empty());
    am.is_object()
        && am["parse"].as_array().is_some_and(|a| a.is_empty())
        && empty("users")
        && empty("roles")
}

fn assert_all_ping_nobody(h: &Harness, i: &Interaction) {
    let ams = allowed_mentions_of_texts(h, i);
    assert!(!ams.is_empty(), "the bot answered with text");
    for am in &ams {
        assert!(
            pings_nobody(am),
            "a reply may ping: allowed_mentions = {am}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_reply_echoing_a_topic_with_everyone_and_mentions_pings_nobody() {
    let h = Harness::start().await;
    let i = h
        .meet(
            BOB,
            json!([
                opt(
                    "topic",
                    format!("@everyone <@&{ROLE_TEAM}> <@{CAROL}> party")
                ),
                bool_opt("private", true)
            ]),
        )
        .await;
    let text = h.reply_containing(&i, "party").await;
    assert!(text.contains("@everyone"), "the topic is echoed back");
    assert_all_ping_nobody(&h, &i);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_echoing_an_unknown_role_mention_pings_nobody() {
    let h = Harness::start().await;
    let i = h
        .meet(BOB, json!([opt("invite", "<@&999999999999999999>")]))
        .await;
    h.reply_containing(&i, "is not a role of this server").await;
    assert_all_ping_nobody(&h, &i);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_click_reply_pings_nobody() {
    let h = Harness::start().await;
    let i = h.meet(BOB, json!([opt("topic", "@everyone come")])).await;
    h.reply_containing(&i, "come").await;
    h.sim
        .wait_for_requests("POST", &format!("/channels/{CHANNEL}/messages"), 1, WAIT)
        .await
        .expect("the announcement is posted");
    let post = h
        .channel_texts(CHANNEL)
        .into_iter()
        .find(|m| m["flags"].as_u64().unwrap_or(0) & 64 == 0)
        .expect("announcement");
    let custom_id = post["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("a Join button")
        .to_string();
    let message_id: u64 = post["id"].as_str().unwrap().parse().unwrap();
    let c = h
        .sim
        .click_button(message_id, CHANNEL, DAVE, &custom_id)
        .await
        .expect("dispatch the click");
    h.reply_containing(&c, "jwt=").await;
    assert_all_ping_nobody(&h, &c);
    h.finish().await;
}

/// A role with one member when the meeting is scheduled.
const ROLE_SMALL: u64 = 200_000_000_000_000_050;
/// People who join the role after the meeting was scheduled.
const LATECOMERS: [u64; 5] = [
    300_000_000_000_000_051,
    300_000_000_000_000_052,
    300_000_000_000_000_053,
    300_000_000_000_000_054,
    300_000_000_000_000_055,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_dms_stay_within_the_invitee_cap_when_an_invited_role_grew_after_scheduling() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_INVITEE_CAP", "2")], |sim| {
        sim.add_role(GUILD, RoleSpec::new(ROLE_SMALL, "Small", 0, 1));
        sim.set_member_roles(GUILD, BOB, &[ROLE_SMALL])
            .expect("Bob is a member");
    })
    .await;
    let i = h
        .meet(
            ALICE,
            json!([
                opt("topic", "Daily"),
                opt("invite", format!("<@&{ROLE_SMALL}>")),
                opt("when", "15:00"),
                int_opt("repeat", 1), // poise sends a choice as its index: daily
                int_opt("remind", 10),
            ]),
        )
        .await;
    h.reply_containing(&i, "Meeting id: `").await;
    h.tick().await;
    // Within the cap when scheduled; the role then grows far beyond it.
    for (n, user) in LATECOMERS.iter().enumerate() {
        h.sim.add_member(
            GUILD,
            UserSpec::new(*user, &format!("late{n}")),
            &[ROLE_SMALL],
        );
    }
    let starts = t0().date_naive().and_hms_opt(15, 0, 0).unwrap().and_utc();
    h.clock.set(starts - Span::minutes(10));
    let report = h.tick().await;
    assert_eq!(report.completed, 1, "{report:?}");
    let invitees_reached = std::iter::once(BOB)
        .chain(LATECOMERS)
        .filter(|u| !h.dm_texts(*u).is_empty())
        .count();
    assert_eq!(invitees_reached, 2, "the cap is 2");
    assert_eq!(h.dm_texts(ALICE).len(), 1, "the host still gets a link");
    assert!(logs().contains("more invitees than the cap"));
    h.finish().await;
}

/// The `@everyone` role of the test server without Send Messages: members may use commands but not write.
fn read_only_server(sim: &discord_sim::Simulator) {
    const VIEW_CHANNEL: u64 = 1 << 10;
    const READ_HISTORY: u64 = 1 << 16;
    const USE_COMMANDS: u64 = 1 << 31;
    sim.add_role(
        GUILD,
        RoleSpec::new(
            GUILD,
            "@everyone",
            VIEW_CHANNEL | READ_HISTORY | USE_COMMANDS,
            0,
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_into_a_channel_the_host_cannot_write_in_is_refused_and_posts_nothing() {
    let h = Harness::start_with(&[], read_only_server).await;
    let i = h
        .meet(
            BOB,
            json!([
                opt("topic", "Takeover"),
                opt("when", "15:00"),
                json!({ "name": "channel", "type": 7, "value": EVENTS_CHANNEL.to_string() }),
            ]),
        )
        .await;
    let text = h.reply_containing(&i, "cannot post in").await;
    assert!(text.contains(&format!("<#{EVENTS_CHANNEL}>")), "{text}");
    h.tick().await;
    assert!(h.channel_texts(EVENTS_CHANNEL).is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_into_a_channel_the_host_can_write_in_still_announces_there() {
    let h = Harness::start().await;
    let i = h
        .meet(
            BOB,
            json!([
                opt("topic", "Planned"),
                opt("when", "15:00"),
                json!({ "name": "channel", "type": 7, "value": EVENTS_CHANNEL.to_string() }),
            ]),
        )
        .await;
    h.reply_containing(&i, "Meeting id: `").await;
    h.tick().await;
    let posts = h.channel_texts(EVENTS_CHANNEL);
    assert_eq!(posts.len(), 1, "one announcement in #events");
    assert!(posts[0]["content"].as_str().unwrap().contains("Planned"));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_here_in_a_channel_the_host_cannot_write_in_is_refused_as_an_immediate_meet_is()
{
    let h = Harness::start_with(&[], read_only_server).await;
    let i = h
        .meet(
            BOB,
            json!([
                opt("topic", "Takeover"),
                opt("invite", format!("<@&{ROLE_TEAM}>")),
                opt("when", "in 10m"),
            ]),
        )
        .await;
    let text = h.reply_containing(&i, "cannot post in this channel").await;
    assert!(text.contains("private: true"), "{text}");
    h.tick().await;
    let announced = h
        .channel_texts(CHANNEL)
        .iter()
        .any(|m| m["content"].as_str().is_some_and(|c| c.starts_with("📅")));
    assert!(!announced, "a read-only channel got an announcement");
    assert!(h
        .store
        .upcoming(GUILD, h.now(), 10, 0)
        .await
        .unwrap()
        .is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_into_a_channel_the_bot_cannot_post_in_is_refused_before_anything_is_saved() {
    const SEND_MESSAGES: u64 = 1 << 11;
    let h = Harness::start_with(&[], |sim| {
        sim.set_overwrite(
            EVENTS_CHANNEL,
            discord_sim::Overwrite::member(sim.bot_user_id(), 0, SEND_MESSAGES),
        );
    })
    .await;
    let i = h
        .meet(
            BOB,
            json!([
                opt("topic", "Planned"),
                opt("when", "15:00"),
                json!({ "name": "channel", "type": 7, "value": EVENTS_CHANNEL.to_string() }),
            ]),
        )
        .await;
    let text = h.reply_containing(&i, "I cannot post in").await;
    assert!(text.contains(&format!("<#{EVENTS_CHANNEL}>")), "{text}");
    assert!(h
        .store
        .upcoming(GUILD, h.now(), 10, 0)
        .await
        .unwrap()
        .is_empty());
    h.finish().await;
}

/// The latest immediate-meeting announcement in #general: its message id and its Join button's custom_id. The post
/// may land just after the host's reply, so this waits for it.
async fn immediate_join_button(h: &Harness) -> (u64, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let found = h.channel_texts(CHANNEL).iter().rev().find_map(|m| {
            let custom_id = m["components"][0]["components"][0]["custom_id"].as_str()?;
            if !custom_id.starts_with("mj2:") {
                return None;
            }
            let id: u64 = m["id"].as_str()?.parse().ok()?;
            Some((id, custom_id.to_string()))
        });
        if let Some(button) = found {
            return button;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "an announcement with a Join button"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Clicks that Join button as `user`; the final answer.
async fn click_immediate_join(h: &Harness, (id, custom_id): &(u64, String), user: u64) -> String {
    let i = h
        .sim
        .click_button(*id, CHANNEL, user, custom_id)
        .await
        .expect("click");
    h.reply_containing(&i, "database is unavailable").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_join_uses_the_servers_last_settings_or_member_links_only_never_the_files(
) {
    let mut h = Harness::start().await;
    // The file makes Moderators (Alice) moderators; this server took that away.
    h.store
        .set_setting(GUILD, "moderator_roles", &json!([]), OWNER, h.now())
        .await
        .unwrap();
    let i = h.meet(BOB, json!([opt("topic", "Outage")])).await;
    h.reply_containing(&i, "Meeting id").await;

    // Read once: the same button is clicked again after the restart.
    let button = immediate_join_button(&h).await;
    h.store.close().await;
    let text = click_immediate_join(&h, &button, ALICE).await;
    assert!(text.contains("as I last read them"), "{text}");
    assert_eq!(
        verified_claims(&text, h.now())["moderator"],
        false,
        "the file's moderator roles came back"
    );

    // After a restart nothing was read yet: nobody is a moderator until the database answers.
    h.restart().await;
    h.store.close().await;
    let text = click_immediate_join(&h, &button, ALICE).await;
    assert!(text.contains("member links only"), "{text}");
    assert_eq!(verified_claims(&text, h.now())["moderator"], false);
    h.finish().await;
}

/// The allowed_mentions of the immediate announcement `user`'s `/meet` inviting Team posted in #general.
async fn announced_role_pings(h: &Harness, user: u64) -> (String, Value) {
    let i = h
        .meet(user, json!([opt("invite", format!("<@&{ROLE_TEAM}>"))]))
        .await;
    h.reply_containing(&i, "Delivered").await;
    let post = h
        .channel_texts(CHANNEL)
        .into_iter()
        .rev()
        .find(|m| m["components"][0]["components"][0]["custom_id"].is_string())
        .expect("an announcement");
    let roles = h
        .sim
        .requests_matching("POST", "/channels/*/messages")
        .into_iter()
        .rev()
        .find_map(|r| {
            let body = r.body?;
            body["components"][0]["components"][0]["custom_id"]
                .is_string()
                .then(|| body["allowed_mentions"]["roles"].clone())
        })
        .expect("the announcement request");
    (post["content"].as_str().unwrap().to_string(), roles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmentionable_role_is_named_but_pinged_only_for_a_caller_with_mention_everyone() {
    let h = Harness::start().await;
    // Bob has no Mention Everyone and Team is not mentionable: named, not pinged.
    let (content, roles) = announced_role_pings(&h, BOB).await;
    assert!(content.contains(&format!("<@&{ROLE_TEAM}>")), "{content}");
    assert_eq!(
        roles,
        json!([]),
        "Bob pinged a role he could not ping himself"
    );
    // The owner holds every permission: the role is pinged.
    let (_, roles) = announced_role_pings(&h, OWNER).await;
    assert_eq!(roles, json!([ROLE_TEAM.to_string()]));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mentionable_role_is_pinged_for_anyone() {
    let h = Harness::start_with(&[], |sim| {
        sim.add_role(GUILD, RoleSpec::new(ROLE_TEAM, "Team", 0, 2).mentionable());
    })
    .await;
    let (_, roles) = announced_role_pings(&h, BOB).await;
    assert_eq!(roles, json!([ROLE_TEAM.to_string()]));
    h.finish().await;
}

fn sub(name: &str, options: Value) -> Value {
    json!([{ "name": name, "type": 1, "options": options }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_every_command_answers_with_a_clear_ephemeral_message() {
    let h = Harness::start().await;
    // The bot shares this pool: closing it is a database outage for the bot.
    h.store.close().await;
    let unavailable = "database is unavailable";
    let cases: Vec<(u64, &str, Value, &str)> = vec![
        (
            ALICE,
            "meet",
            json!([opt("topic", "Later"), opt("when", "15:00")]),
            unavailable,
        ),
        (ALICE, "meetings", sub("list", json!([])), unavailable),
        (
            ALICE,
            "meetings",
            sub("cancel", json!([opt("meeting", "abc")])),
            unavailable,
        ),
        (
            ALICE,
            "meetings",
            sub("link", json!([opt("meeting", "abc")])),
            unavailable,
        ),
        (
            ALICE,
            "invite",
            sub(
                "guest",
                json!([opt("name", "Guest"), opt("meeting", "abc")]),
            ),
            unavailable,
        ),
        (
            ALICE,
            "invite",
            sub(
                "member",
                json!([
                    json!({ "name": "user", "type": 6, "value": BOB.to_string() }),
                    opt("meeting", "abc")
                ]),
            ),
            unavailable,
        ),
        (OWNER, "meetbot", sub("audit", json!([])), unavailable),
    ];
    for (user, name, options, needle) in cases {
        let i = h.command(user, name, options).await;
        let text = h.reply_containing(&i, needle).await;
        assert!(
            !text.contains("Something went wrong"),
            "/{name}: a generic error instead of the reason: {text}"
        );
        let first = &h.sim.interaction_responses(&i.token)[0];
        assert_eq!(
            first.body["data"]["flags"].as_u64().unwrap_or(0) & 64,
            64,
            "/{name} answered publicly"
        );
    }
    // Autocomplete of a meeting says so too, with a choice Discord accepts (a value of 1 to 100 characters).
    let a = h
        .sim
        .autocomplete(
            GUILD,
            CHANNEL,
            ALICE,
            "meetings",
            json!([{ "name": "cancel", "type": 1, "options": [
                { "name": "meeting", "type": 3, "value": "ab", "focused": true }
            ] }]),
        )
        .await
        .expect("autocomplete");
    h.sim
        .wait_for_request(
            |r| r.path.contains(&a.token) && r.path.ends_with("/callback"),
            WAIT,
        )
        .await
        .expect("an autocomplete answer");
    let choices = h.sim.interaction_responses(&a.token)[0].body["data"]["choices"].clone();
    let first = &choices[0];
    assert!(
        first["name"].as_str().unwrap().contains(unavailable),
        "{choices}"
    );
    let value = first["value"].as_str().unwrap();
    assert!(
        (1..=100).contains(&value.chars().count()),
        "Discord rejects a choice value of {} characters",
        value.chars().count()
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_announcement_cannot_be_posted_the_host_is_told_and_not_sent_to_a_missing_join_button(
) {
    let h = Harness::start().await;
    // The bot may not write in #general: Discord answers 403 Missing Permissions.
    h.sim
        .fail_next("POST", &format!("/channels/{CHANNEL}/messages"), 403, 1);
    let i = h
        .meet(
            ALICE,
            json!([opt("topic", "Quiet"), opt("invite", format!("<@{DAVE}>"))]),
        )
        .await;
    let text = h.reply_containing(&i, "Delivered personal links").await;
    assert!(
        text.contains("could not post the announcement"),
        "{}",
        text.replace(&tokens_in(&text)[0], "<token>")
    );
    assert!(!text.contains("use the **Join** button"), "there is none");
    // Without invitees the host hears of it too.
    h.sim
        .fail_next("POST", &format!("/channels/{CHANNEL}/messages"), 403, 1);
    let i = h.meet(ALICE, json!([opt("topic", "Alone")])).await;
    h.reply_containing(&i, "could not post the announcement")
        .await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inviting_a_member_with_closed_dms_keeps_the_cooldown_so_it_cannot_be_looped() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_COOLDOWN_SECONDS", "60")], |_| {}).await;
    let i = h.meet(ALICE, json!([opt("topic", "Sync")])).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let start = reply.find("Meeting id: `").unwrap() + "Meeting id: `".len();
    let id = reply[start..].split('`').next().unwrap().to_string();
    let invite = |meeting: String| {
        sub(
            "member",
            json!([
                json!({ "name": "user", "type": 6, "value": DAVE.to_string() }),
                opt("meeting", meeting)
            ]),
        )
    };
    let first = h.command(ALICE, "invite", invite(id.clone())).await;
    h.reply_containing(&first, "does not accept DMs").await;
    let attempts = h.sim.requests_matching("POST", "/users/@me/channels").len();
    let second = h.command(ALICE, "invite", invite(id)).await;
    h.reply_containing(&second, "you can invite again").await;
    assert_eq!(
        h.sim.requests_matching("POST", "/users/@me/channels").len(),
        attempts,
        "no second DM attempt"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interaction_tokens_never_reach_the_log_even_at_debug_level() {
    let h = Harness::start().await;
    let i = h
        .meet(
            ALICE,
            json!([opt("topic", "Logged"), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    h.reply_containing(&i, "Delivered").await;
    let logs = logs();
    assert!(logs.contains("meeting started"), "log capture works");
    assert!(
        !logs.contains(&i.token),
        "the interaction token (which can answer as the bot for 15 minutes) was logged"
    );
    h.finish().await;
}
