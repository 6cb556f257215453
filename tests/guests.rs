//! `/invite` end to end: guest links for members and for people outside Discord, against the simulated Discord.

mod support;

use chrono::Duration;
use serde_json::{json, Value};
use support::*;

fn sub(name: &str, options: Value) -> Value {
    json!([{ "name": name, "type": 1, "options": options }])
}

fn user_opt(name: &str, id: u64) -> Value {
    json!({ "name": name, "type": 6, "value": id.to_string() })
}

/// The meeting id the host's `/meet` reply names.
fn meeting_id(reply: &str) -> String {
    let start = reply
        .find("Meeting id: `")
        .expect("reply names the meeting id")
        + 13;
    reply[start..].split('`').next().unwrap().to_string()
}

/// `/meet` as Alice (a moderator); returns the host reply and the stored meeting's id.
async fn alice_meets(h: &Harness, options: Value) -> (String, String) {
    let i = h.meet(ALICE, options).await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let id = meeting_id(&reply);
    (reply, id)
}

async fn invite_guest(h: &Harness, user: u64, options: Value) -> String {
    let i = h.command(user, "invite", sub("guest", options)).await;
    wait_final(h, &i).await
}

async fn invite_member(h: &Harness, user: u64, member: u64, meeting: &str) -> String {
    let i = h
        .command(
            user,
            "invite",
            sub(
                "member",
                json!([user_opt("user", member), opt("meeting", meeting)]),
            ),
        )
        .await;
    wait_final(h, &i).await
}

/// /invite answers once, by editing its deferred reply.
async fn wait_final(h: &Harness, i: &discord_sim::Interaction) -> String {
    h.reply_containing(i, "").await
}

fn assert_guest_claims(c: &Value) {
    assert_eq!(c["moderator"], false, "{c}");
    assert_eq!(c["context"]["user"]["moderator"], false, "{c}");
    assert_eq!(c["context"]["user"]["affiliation"], "member", "{c}");
    assert!(c["context"]["user"].get("lobby_bypass").is_none(), "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_invites_member_whose_guest_token_never_moderates_or_bypasses_the_lobby() {
    let h = Harness::start_with(
        &[("MEETBOT_TOKEN_LOBBY_BYPASS_FOR_MODERATORS", "true")],
        |_| {},
    )
    .await;
    let (reply, id) = alice_meets(&h, json!([opt("topic", "Sync")])).await;
    // Lobby bypass is on for moderators: the host's own token has it, so its absence below is the guest rule.
    let host = verified_claims(&reply, h.now());
    assert_eq!(host["context"]["user"]["lobby_bypass"], true);

    let answer = invite_member(&h, ALICE, FRANK, &id).await;
    assert!(
        answer.contains(&format!("Sent <@{FRANK}> a guest link")),
        "{answer}"
    );
    assert!(
        tokens_in(&answer).is_empty(),
        "the moderator must not see the member's token"
    );
    let dms = h.dm_texts(FRANK);
    assert_eq!(dms.len(), 1);
    // Frank holds the Moderators role, yet a guest link never makes him one.
    let c = verified_claims(&dms[0], h.now());
    assert_guest_claims(&c);
    assert_eq!(c["context"]["user"]["id"], FRANK.to_string());
    assert_eq!(c["room"], host["room"]);
    let expected_exp = h.now() + Duration::minutes(60 + 15);
    assert_eq!(c["exp"].as_i64(), Some(expected_exp.timestamp()));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_moderator_is_refused_with_the_roles_that_may_invite() {
    let h = Harness::start().await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "Sync")])).await;
    let answer = invite_member(&h, BOB, CAROL, &id).await;
    assert!(
        answer.contains("You may not invite guests here"),
        "{answer}"
    );
    assert!(answer.contains(&format!("<@&{ROLE_MODS}>")), "{answer}");
    let answer = invite_guest(&h, CAROL, json!([opt("name", "Ada"), opt("meeting", id)])).await;
    assert!(
        answer.contains("You may not invite guests here"),
        "{answer}"
    );
    assert!(tokens_in(&answer).is_empty());
    assert!(h.dm_texts(CAROL).is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_guest_link_carries_the_guests_name_and_expires_at_the_earliest_bound() {
    let h = Harness::start_with(&[("MEETBOT_MEETINGS_GUEST_MAX_VALIDITY", "3h")], |_| {}).await;
    let now = h.now();
    let (_, short) = alice_meets(&h, json!([opt("topic", "Talk"), int_opt("duration", 60)])).await;
    let (_, long) = alice_meets(
        &h,
        json!([opt("topic", "Workshop"), int_opt("duration", 480)]),
    )
    .await;

    // valid_for is the earliest bound.
    let answer = invite_guest(
        &h,
        ALICE,
        json!([
            opt("name", "Dr. Ada Lovelace"),
            opt("meeting", short.clone()),
            opt("email", "ada@example.org"),
            opt("valid_for", "30m")
        ]),
    )
    .await;
    let c = verified_claims(&answer, now);
    assert_guest_claims(&c);
    assert_eq!(c["context"]["user"]["name"], "Dr. Ada Lovelace");
    assert!(c["context"]["user"]["id"]
        .as_str()
        .unwrap()
        .starts_with("guest-"));
    // E-mails stay out of tokens unless token.include_email is on.
    assert!(c["context"]["user"].get("email").is_none(), "{c}");
    let exp = (now + Duration::minutes(30)).timestamp();
    assert_eq!(c["exp"].as_i64(), Some(exp));
    assert!(answer.contains(&format!("<t:{exp}:F>")), "{answer}");

    // Without valid_for, the meeting's end plus grace.
    let answer = invite_guest(
        &h,
        ALICE,
        json!([opt("name", "Grace"), opt("meeting", short)]),
    )
    .await;
    let c = verified_claims(&answer, now);
    assert_eq!(
        c["exp"].as_i64(),
        Some((now + Duration::minutes(75)).timestamp())
    );

    // A long meeting: the configured maximum.
    let answer = invite_guest(
        &h,
        ALICE,
        json!([opt("name", "Linus"), opt("meeting", long)]),
    )
    .await;
    let c = verified_claims(&answer, now);
    assert_eq!(
        c["exp"].as_i64(),
        Some((now + Duration::hours(3)).timestamp())
    );
    assert!(!logs().contains("jwt="), "a link reached the log");
    assert!(
        !logs().contains(&tokens_in(&answer)[0]),
        "a token reached the log"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_for_beyond_the_limit_or_unreadable_is_refused() {
    let h = Harness::start().await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "Talk")])).await;
    let answer = invite_guest(
        &h,
        ALICE,
        json!([
            opt("name", "Ada"),
            opt("meeting", id.clone()),
            opt("valid_for", "3days")
        ]),
    )
    .await;
    assert!(
        answer.contains("`valid_for` may be at most 1day"),
        "{answer}"
    );
    let answer = invite_guest(
        &h,
        ALICE,
        json!([
            opt("name", "Ada"),
            opt("meeting", id),
            opt("valid_for", "a while")
        ]),
    )
    .await;
    assert!(
        answer.contains("`valid_for` must be a duration"),
        "{answer}"
    );
    assert!(tokens_in(&answer).is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_link_for_an_ended_meeting_is_refused() {
    let h = Harness::start().await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "Quick"), int_opt("duration", 30)])).await;
    h.tick().await;
    h.clock.advance(Duration::minutes(31));
    h.tick().await;
    let answer = invite_guest(
        &h,
        ALICE,
        json!([opt("name", "Ada"), opt("meeting", id.clone())]),
    )
    .await;
    assert!(answer.contains("has ended"), "{answer}");
    assert!(tokens_in(&answer).is_empty());
    let answer = invite_member(&h, ALICE, CAROL, &id).await;
    assert!(answer.contains("has ended"), "{answer}");
    assert!(h.dm_texts(CAROL).is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_link_for_an_upcoming_meeting_opens_with_its_join_window() {
    let h = Harness::start().await;
    let i = h
        .meet(ALICE, json!([opt("topic", "Review"), opt("when", "in 2h")]))
        .await;
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let id = meeting_id(&reply);
    let answer = invite_guest(&h, ALICE, json!([opt("name", "Ada"), opt("meeting", id)])).await;
    let start = h.now() + Duration::hours(2);
    let opens = start - Duration::minutes(10);
    assert!(
        answer.contains(&format!(
            "opens no earlier than <t:{}:F>",
            opens.timestamp()
        )),
        "{answer}"
    );
    let tokens = tokens_in(&answer);
    let c = decode_claims(&tokens[0]);
    // nbf is the window's opening, back-dated by the configured 30 s for clock skew.
    assert_eq!(c["nbf"].as_i64(), Some(opens.timestamp() - 30));
    assert_eq!(
        c["exp"].as_i64(),
        Some((start + Duration::minutes(60 + 15)).timestamp())
    );
    // Jitsi accepts it once the window is open.
    let c = verified_claims(&answer, opens);
    assert_guest_claims(&c);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_with_closed_dms_is_reported_as_not_reached() {
    let h = Harness::start().await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "Sync")])).await;
    let answer = invite_member(&h, ALICE, DAVE, &id).await;
    assert!(answer.contains("does not accept DMs"), "{answer}");
    assert!(answer.contains("**not** delivered"), "{answer}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldowns_hold_and_release_when_the_clock_advances() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_COOLDOWN_SECONDS", "60")], |_| {}).await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "One")])).await;

    let i = h.meet(ALICE, json!([opt("topic", "Two")])).await;
    let until = (h.now() + Duration::seconds(60)).timestamp();
    let answer = h.reply_containing(&i, "again").await;
    assert!(answer.contains(&format!("<t:{until}:R>")), "{answer}");
    assert!(tokens_in(&answer).is_empty());
    // Another person is not held up by Alice's cooldown.
    let i = h.meet(FRANK, json!([opt("topic", "Frank's")])).await;
    h.reply_containing(&i, "Meeting id: `").await;

    // /invite guest sends nothing to anyone, so the cooldown does not hold it up: a moderator can hand out several
    // guest links in a row.
    for name in ["Ada", "Bea", "Cy"] {
        let answer = invite_guest(
            &h,
            ALICE,
            json!([opt("name", name), opt("meeting", id.clone())]),
        )
        .await;
        assert_eq!(tokens_in(&answer).len(), 1, "{answer}");
    }
    // /invite member sends a DM: that one is held.
    let first = invite_member(&h, ALICE, BOB, &id).await;
    assert!(
        first.contains(&format!("Sent <@{BOB}> a guest link")),
        "{first}"
    );
    let second = invite_member(&h, ALICE, CAROL, &id).await;
    assert!(second.contains("you can invite again"), "{second}");
    assert!(second.contains(&format!("<t:{until}:R>")), "{second}");
    assert!(tokens_in(&second).is_empty());
    assert!(h.dm_texts(CAROL).is_empty());

    h.clock.advance(Duration::seconds(61));
    let (_, _) = alice_meets(&h, json!([opt("topic", "Three")])).await;
    let third = invite_member(&h, ALICE, CAROL, &id).await;
    assert!(
        third.contains(&format!("Sent <@{CAROL}> a guest link")),
        "{third}"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_guest_takes_several_names_and_gives_each_its_own_link() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_INVITEE_CAP", "4")], |_| {}).await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "Panel")])).await;
    let i = h
        .command(
            ALICE,
            "invite",
            sub(
                "guest",
                json!([opt("name", "Ada, Bea ,Cy"), opt("meeting", id.clone())]),
            ),
        )
        .await;
    // A header, then the links, one a message (each is several hundred characters).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let all = loop {
        let all: Vec<String> = h
            .sim
            .interaction_responses(&i.token)
            .iter()
            .filter_map(|r| r.body["content"].as_str().map(str::to_string))
            .collect();
        if all.len() >= 4 || std::time::Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(all[0].starts_with("3 guest links to **Panel**"), "{all:?}");
    assert!(tokens_in(&all[0]).is_empty());
    let texts: Vec<&String> = all[1..].iter().collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    let mut ids = std::collections::HashSet::new();
    for (text, name) in texts.iter().zip(["Ada", "Bea", "Cy"]) {
        assert_eq!(tokens_in(text).len(), 1, "{text}");
        assert!(text.len() <= 2000, "{}", text.len());
        let c = verified_claims(text, h.now());
        assert_guest_claims(&c);
        assert_eq!(c["context"]["user"]["name"], name);
        ids.insert(c["context"]["user"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 3, "each guest has an id of their own");
    // Three of four taken: two more would pass the cap, so neither is made.
    let answer = invite_guest(
        &h,
        ALICE,
        json!([opt("name", "Dee, Eve"), opt("meeting", id.clone())]),
    )
    .await;
    assert!(answer.contains("1 more fit, you asked for 2"), "{answer}");
    assert!(tokens_in(&answer).is_empty());
    let answer = invite_guest(
        &h,
        ALICE,
        json!([opt("name", "a,b,c,d,e,f"), opt("meeting", id)]),
    )
    .await;
    assert!(answer.contains("At most 5 guests at once"), "{answer}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meet_still_works_with_a_warning_when_the_database_is_down() {
    let h = Harness::start().await;
    // The bot shares this pool: closing it is a database outage for the bot.
    h.store.close().await;
    let i = h.meet(ALICE, json!([opt("topic", "Outage")])).await;
    let reply = h.reply_containing(&i, "The database is unavailable").await;
    assert!(reply.contains("`/invite` cannot find it"), "{reply}");
    let host = verified_claims(&reply, h.now());
    // Fail closed: this process never read the server's settings, so nobody is a moderator until it can.
    assert_eq!(host["moderator"], false);
    assert!(reply.contains("member links only"), "{reply}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_of_a_guest_inviter_role_may_invite_without_becoming_a_moderator() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_GUEST_INVITER_ROLES", "Team")], |_| {}).await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "Demo")])).await;
    let answer = invite_guest(
        &h,
        CAROL,
        json!([opt("name", "Speaker"), opt("meeting", id)]),
    )
    .await;
    let c = verified_claims(&answer, h.now());
    assert_guest_claims(&c);
    assert_eq!(c["context"]["user"]["name"], "Speaker");
    // Carol's own /meet link still follows the moderator roles only.
    let i = h.meet(CAROL, json!([opt("topic", "Carol's")])).await;
    let reply = h.reply_containing(&i, "Meeting id").await;
    assert_eq!(verified_claims(&reply, h.now())["moderator"], false);
    // Bob holds neither role: the refusal names both ways in.
    let answer = invite_guest(
        &h,
        BOB,
        json!([opt("name", "X"), opt("meeting", "whatever")]),
    )
    .await;
    assert!(
        answer.contains(&format!("and members of <@&{ROLE_TEAM}>")),
        "{answer}"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_cap_counts_every_invitation_however_busy_the_audit_trail() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_INVITEE_CAP", "2")], |_| {}).await;
    let (_, id) = alice_meets(&h, json!([opt("topic", "Busy")])).await;
    let first = invite_guest(
        &h,
        ALICE,
        json!([opt("name", "Ada"), opt("meeting", id.clone())]),
    )
    .await;
    assert_eq!(tokens_in(&first).len(), 1, "{first}");
    // Many newer entries about the same meeting (moderator links handed out, say) bury the guest invitation.
    for n in 0..70 {
        h.store
            .record_audit(&meetbot::store::NewAuditEntry {
                guild_id: GUILD,
                at: h.now(),
                actor_id: ALICE,
                action: "moderator_link".into(),
                meeting_id: Some(id.clone()),
                subject: n.to_string(),
                detail: "moderator link".into(),
            })
            .await
            .unwrap();
    }
    let second = invite_guest(
        &h,
        ALICE,
        json!([opt("name", "Bea"), opt("meeting", id.clone())]),
    )
    .await;
    assert_eq!(tokens_in(&second).len(), 1, "{second}");
    let third = invite_guest(&h, ALICE, json!([opt("name", "Cy"), opt("meeting", id)])).await;
    assert!(
        third.contains("already has 2 guest invitations; the limit here is 2"),
        "{third}"
    );
    assert!(tokens_in(&third).is_empty(), "{third}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_and_zero_width_characters_cannot_spoof_the_post_the_audit_trail_or_a_guest_name() {
    let h = Harness::start().await;
    let spoofs = ['\u{202E}', '\u{2066}', '\u{200B}', '\u{FEFF}', '\u{200F}'];
    let clean = |t: &str| !t.chars().any(|c| spoofs.contains(&c));
    let (reply, id) = alice_meets(&h, json!([opt("topic", "Stand\u{202E}pu\u{200B} ot")])).await;
    assert!(clean(&reply), "{reply:?}");
    let posts = h.channel_texts(CHANNEL);
    let post = posts.last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(post.contains("Standpu ot"), "{post:?}");
    assert!(clean(&post), "{post:?}");
    let answer = invite_guest(
        &h,
        ALICE,
        json!([
            opt("name", "Ada\u{2066}\u{202E}nimda\u{FEFF}"),
            opt("meeting", id.clone())
        ]),
    )
    .await;
    assert!(clean(&answer), "{answer:?}");
    let c = verified_claims(&answer, h.now());
    assert_eq!(c["context"]["user"]["name"], "Adanimda");
    let audit = h.store.recent_audit(GUILD, Some(&id), 10).await.unwrap();
    assert!(!audit.is_empty());
    for e in audit {
        assert!(clean(&e.subject) && clean(&e.detail), "{e:?}");
    }
    h.finish().await;
}
