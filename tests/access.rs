//! Who may see and join a meeting, end to end: a private meeting and a meeting in a channel only some members can
//! see stay out of reach — `/meetings list`, the meeting autocomplete, `/meetings link`, `/invite`, the Join buttons
//! and a reminder's Interested users — for everyone the access rule does not admit, and never leak its topic.

mod support;

use chrono::Duration as Span;
use discord_sim::{Interaction, Overwrite};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const VIEW_CHANNEL: u64 = 1 << 10;

/// #events hidden from `@everyone`, open to Team (Carol, Dave, Frank) and the bot.
fn team_only_events_channel(sim: &discord_sim::Simulator) {
    sim.set_overwrite(EVENTS_CHANNEL, Overwrite::role(GUILD, 0, VIEW_CHANNEL));
    sim.set_overwrite(EVENTS_CHANNEL, Overwrite::role(ROLE_TEAM, VIEW_CHANNEL, 0));
    // The bot posts there.
    sim.set_overwrite(
        EVENTS_CHANNEL,
        Overwrite::member(sim.bot_user_id(), VIEW_CHANNEL, 0),
    );
}

async fn schedule(h: &Harness, user: u64, options: Value) -> String {
    let i = h.meet(user, options).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let start = reply.find("Meeting id: `").unwrap() + "Meeting id: `".len();
    reply[start..].split('`').next().unwrap().to_string()
}

fn sub(name: &str, options: Value) -> Value {
    json!([{ "name": name, "type": 1, "options": options }])
}

/// The final answer to `/<command> <sub>` as `user`.
async fn answer(h: &Harness, user: u64, command: &str, name: &str, options: Value) -> String {
    let i = h.command(user, command, sub(name, options)).await;
    final_reply(h, &i).await
}

async fn final_reply(h: &Harness, i: &Interaction) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(c) = h.latest_content(i) {
            return c;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reply");
        let _ = h
            .sim
            .wait_for_request(|r| r.path.contains(&i.token), Duration::from_millis(200))
            .await;
    }
}

/// The choices the meeting autocomplete of `/meetings link` offers `user` for `typed`.
async fn meeting_choices(h: &Harness, user: u64, typed: &str) -> Vec<Value> {
    let typed = json!([{ "name": "meeting", "type": 3, "value": typed, "focused": true }]);
    h.autocomplete_choices(user, "meetings", sub("link", typed))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_meeting_stays_unknown_to_members_it_does_not_invite_everywhere_they_could_ask() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_GUEST_INVITER_ROLES", "Team")], |_| {}).await;
    let id = schedule(
        &h,
        FRANK,
        json!([
            opt("topic", "Layoffs"),
            opt("invite", format!("<@{CAROL}>")),
            bool_opt("private", true),
            opt("when", "10:05"),
        ]),
    )
    .await;
    h.tick().await;

    // Bob is no one to this meeting; Dave is in Team (a guest-inviter role) but not invited.
    for outsider in [BOB, DAVE] {
        let list = answer(&h, outsider, "meetings", "list", json!([])).await;
        assert!(!list.contains("Layoffs") && !list.contains(&id), "{list}");
        assert!(
            meeting_choices(&h, outsider, "").await.is_empty(),
            "autocomplete offered a private meeting"
        );
        assert!(meeting_choices(&h, outsider, "Lay").await.is_empty());
        let link = answer(
            &h,
            outsider,
            "meetings",
            "link",
            json!([opt("meeting", id.clone())]),
        )
        .await;
        assert!(link.contains("I know no such meeting"), "{link}");
        assert!(!link.contains("Layoffs"), "{link}");
    }
    let invite_self = answer(
        &h,
        DAVE,
        "invite",
        "member",
        json!([
            json!({ "name": "user", "type": 6, "value": DAVE.to_string() }),
            opt("meeting", id.clone()),
        ]),
    )
    .await;
    assert!(
        invite_self.contains("I know no such meeting"),
        "{invite_self}"
    );
    let guest = answer(
        &h,
        DAVE,
        "invite",
        "guest",
        json!([opt("name", "Mallory"), opt("meeting", id.clone())]),
    )
    .await;
    assert!(guest.contains("I know no such meeting"), "{guest}");
    assert!(h.dm_texts(DAVE).is_empty(), "Dave got a link");

    // Those it admits still see it: the invitee, the host, a moderator.
    for insider in [CAROL, FRANK, ALICE] {
        let list = answer(&h, insider, "meetings", "list", json!([])).await;
        assert!(list.contains("Layoffs"), "user {insider}: {list}");
        let choices = meeting_choices(&h, insider, "Lay").await;
        assert_eq!(choices.len(), 1, "user {insider}: {choices:?}");
        assert_eq!(choices[0]["value"], id);
    }
    let link = answer(
        &h,
        CAROL,
        "meetings",
        "link",
        json!([opt("meeting", id.clone())]),
    )
    .await;
    verified_claims(&link, h.now());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_in_a_channel_only_a_team_sees_is_hidden_from_the_rest_of_the_server() {
    let h = Harness::start_with(&[], team_only_events_channel).await;
    let id = schedule(
        &h,
        CAROL,
        json!([
            opt("topic", "Team retro"),
            opt("when", "10:30"),
            json!({ "name": "channel", "type": 7, "value": EVENTS_CHANNEL.to_string() }),
            bool_opt("event", true),
            int_opt("remind", 5),
        ]),
    )
    .await;
    h.tick().await;
    let occ = h.store.occurrences(&id).await.unwrap().remove(0);
    let event = occ.discord_event_id.expect("the host asked for an event");
    // Bob cannot see #events; Interested on the server-wide event must not get him in.
    h.sim.mark_interested(GUILD, event, BOB).await.unwrap();
    h.sim.mark_interested(GUILD, event, DAVE).await.unwrap();
    h.sim.mark_interested(GUILD, event, ALICE).await.unwrap();
    h.clock.set(occ.starts_at - Span::minutes(6));

    let list = answer(&h, BOB, "meetings", "list", json!([])).await;
    assert!(!list.contains("Team retro"), "{list}");
    assert!(meeting_choices(&h, BOB, "retro").await.is_empty());
    let link = answer(
        &h,
        BOB,
        "meetings",
        "link",
        json!([opt("meeting", id.clone())]),
    )
    .await;
    assert!(link.contains("I know no such meeting"), "{link}");

    // Dave (Team) sees the channel: the meeting is his to list and join.
    let list = answer(&h, DAVE, "meetings", "list", json!([])).await;
    assert!(list.contains("Team retro"), "{list}");
    let link = answer(
        &h,
        DAVE,
        "meetings",
        "link",
        json!([opt("meeting", id.clone())]),
    )
    .await;
    verified_claims(&link, h.now());

    h.clock.set(occ.starts_at - Span::minutes(5));
    h.tick().await;
    assert_eq!(h.dm_texts(CAROL).len(), 1, "the host is reminded");
    assert!(
        h.dm_texts(BOB).is_empty(),
        "an Interested user who cannot see the channel got a link"
    );
    assert_eq!(
        h.dm_texts(ALICE).len(),
        1,
        "a moderator who is Interested gets a link"
    );
    h.finish().await;
}
