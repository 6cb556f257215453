//! `/meet` end to end: the real bot against the simulated Discord.

mod support;

use discord_sim::{Interaction, ResponseKind, RoleSpec, UserSpec};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

// ---- helpers ----------------------------------------------------------------------------------

/// The messages in #general that everyone sees: without the ephemeral flag (64), which the simulator's
/// stored interaction replies carry.
fn general(h: &Harness) -> Vec<Value> {
    h.channel_texts(CHANNEL)
        .into_iter()
        .filter(|m| m["flags"].as_u64().unwrap_or(0) & 64 == 0)
        .collect()
}

/// The `count`th announcement the bot posted in #general (waits until it exists).
async fn wait_announcement(h: &Harness, count: usize) -> Value {
    h.sim
        .wait_for_requests(
            "POST",
            &format!("/channels/{CHANNEL}/messages"),
            count,
            WAIT,
        )
        .await
        .expect("the announcement is posted");
    general(h)
        .into_iter()
        .nth(count - 1)
        .expect("announcement stored")
}

/// The body of the `n`th message the bot sent to a channel (the stored message drops `allowed_mentions`).
fn sent_body(h: &Harness, channel: &str, n: usize) -> Value {
    h.sim
        .requests_matching("POST", &format!("/channels/{channel}/messages"))[n]
        .body
        .clone()
        .expect("a JSON body")
}

fn join_custom_id(announcement: &Value) -> String {
    announcement["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("a Join button")
        .to_string()
}

fn message_id(message: &Value) -> u64 {
    message["id"].as_str().unwrap().parse().unwrap()
}

/// Clicks the announcement's button (or any `custom_id` on it) as `user`.
async fn click(h: &Harness, announcement: &Value, user: u64, custom_id: &str) -> Interaction {
    h.sim
        .click_button(message_id(announcement), CHANNEL, user, custom_id)
        .await
        .expect("dispatch the click")
}

/// Whether the interaction's first response was ephemeral (flag 64), as a deferral or a message.
fn first_response_is_ephemeral(h: &Harness, i: &Interaction) -> bool {
    let responses = h.sim.interaction_responses(&i.token);
    let first = responses.first().expect("a response");
    assert_eq!(first.kind, ResponseKind::Callback);
    first.body["data"]["flags"]
        .as_u64()
        .is_some_and(|f| f & 64 != 0)
}

/// Every text the bot gave to an interaction (callback, edits, follow-ups).
fn all_response_texts(h: &Harness, i: &Interaction) -> Vec<String> {
    h.sim
        .interaction_responses(&i.token)
        .iter()
        .filter_map(|r| {
            r.body["content"]
                .as_str()
                .or_else(|| r.body["data"]["content"].as_str())
                .map(str::to_string)
        })
        .collect()
}

/// The text with every token replaced, so a failing assertion never prints one.
fn redact(text: &str) -> String {
    tokens_in(text).iter().fold(text.to_string(), |t, token| {
        t.replace(token.as_str(), "<token>")
    })
}

/// Asserts that no token found in `texts` (nor its signature alone) appears in the captured logs.
fn assert_tokens_not_logged(texts: &[String]) -> usize {
    let logs = logs();
    let mut n = 0;
    for t in texts.iter().flat_map(|t| tokens_in(t)) {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!logs.contains(&t), "a token was logged");
        assert!(!logs.contains(signature), "a token's signature was logged");
        n += 1;
    }
    n
}

/// No request opened a DM channel or posted a message anywhere.
fn assert_nothing_sent(h: &Harness) {
    assert!(h
        .sim
        .requests_matching("POST", "/users/@me/channels")
        .is_empty());
    assert!(h
        .sim
        .requests_matching("POST", "/channels/*/messages")
        .is_empty());
}

// ---- the caller's own token -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_with_moderator_role_gets_moderator_token_and_invitee_gets_own_member_link() {
    let h = Harness::start().await;
    let i = h
        .meet(
            ALICE,
            json!([opt("topic", "Stand-up"), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 1 of 1")
        .await;
    let host = verified_claims(&reply, h.now());
    assert_eq!(host["context"]["user"]["id"], ALICE.to_string());
    assert_eq!(host["moderator"], true);
    assert_eq!(host["context"]["user"]["affiliation"], "owner");

    let dms = h.dm_texts(BOB);
    assert_eq!(dms.len(), 1);
    let bob = verified_claims(&dms[0], h.now());
    assert_eq!(bob["context"]["user"]["id"], BOB.to_string());
    assert_eq!(bob["context"]["user"]["name"], "Bob");
    assert_eq!(bob["moderator"], false);
    assert_eq!(bob["room"], host["room"]);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_with_moderator_role_gets_moderator_in_every_claim_form() {
    let h = Harness::start().await;
    let i = h.meet(ALICE, json!([opt("topic", "Planning")])).await;
    let reply = h.reply_containing(&i, "jwt=").await;
    assert!(first_response_is_ephemeral(&h, &i));
    assert!(reply.contains("a **moderator**"), "{}", redact(&reply));
    let c = verified_claims(&reply, h.now());
    assert_eq!(c["moderator"], true);
    assert_eq!(c["context"]["user"]["moderator"], true);
    assert_eq!(c["context"]["user"]["affiliation"], "owner");
    assert_eq!(c["context"]["user"]["id"], ALICE.to_string());
    assert_eq!(c["context"]["user"]["name"], "Alice");
    assert!(c["context"]["user"]["avatar"]
        .as_str()
        .is_some_and(|a| a.starts_with("https://cdn.discordapp.com/")));
    assert!(c["room"].as_str().unwrap().starts_with("planning"));
    assert_tokens_not_logged(&[reply]);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_without_moderator_role_gets_member_token_in_every_claim_form() {
    let h = Harness::start().await;
    let i = h.meet(BOB, json!([])).await;
    let reply = h.reply_containing(&i, "jwt=").await;
    assert!(reply.contains("a participant"), "{}", redact(&reply));
    let c = verified_claims(&reply, h.now());
    assert_eq!(c["moderator"], false);
    assert_eq!(c["context"]["user"]["moderator"], false);
    assert_eq!(c["context"]["user"]["affiliation"], "member");
    assert_eq!(c["context"]["user"]["id"], BOB.to_string());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrator_without_moderator_role_is_moderator_by_default() {
    let h = Harness::start().await;
    let i = h.meet(ERIN, json!([])).await;
    let reply = h.reply_containing(&i, "jwt=").await;
    let c = verified_claims(&reply, h.now());
    assert_eq!(c["moderator"], true);
    assert_eq!(c["context"]["user"]["affiliation"], "owner");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrator_is_not_moderator_when_administrators_are_not_moderators() {
    let h = Harness::start_with(
        &[("MEETBOT_DISCORD_ADMINISTRATORS_ARE_MODERATORS", "false")],
        |_| {},
    )
    .await;
    let i = h
        .meet(ERIN, json!([opt("invite", format!("<@{FRANK}>"))]))
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 1 of 1")
        .await;
    let c = verified_claims(&reply, h.now());
    assert_eq!(c["moderator"], false);
    assert_eq!(c["context"]["user"]["affiliation"], "member");
    // The moderator role still counts.
    let frank = verified_claims(&h.dm_texts(FRANK)[0], h.now());
    assert_eq!(frank["moderator"], true);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_roles_refuse_other_members_with_the_roles_named_and_admit_the_rest() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_HOST_ROLES", "Team")], |_| {}).await;
    let refused = h
        .meet(BOB, json!([opt("invite", format!("<@{CAROL}>"))]))
        .await;
    let text = h
        .reply_containing(&refused, "You may not start meetings here")
        .await;
    // Named as a role mention, which Discord shows as the role's name.
    assert!(
        text.contains(&format!("<@&{ROLE_TEAM}>")),
        "{}",
        redact(&text)
    );
    assert!(tokens_in(&text).is_empty());
    assert!(first_response_is_ephemeral(&h, &refused));
    assert_nothing_sent(&h);

    // A member of a host role may; so may a moderator who is not in it.
    let carol = h.meet(CAROL, json!([])).await;
    verified_claims(&h.reply_containing(&carol, "jwt=").await, h.now());
    let alice = h.meet(ALICE, json!([])).await;
    verified_claims(&h.reply_containing(&alice, "jwt=").await, h.now());
    assert!(h.dm_texts(CAROL).is_empty());
    h.finish().await;
}

// ---- invitations ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invitee_gets_one_dm_with_own_identity_and_own_moderator_decision() {
    let h = Harness::start().await;
    // The caller, a bot and a duplicate are mentioned too: none of them gets a DM.
    let invite =
        format!("<@{FRANK}> <@{CAROL}> <@!{BOB}> <@{ALICE}> <@{OTHER_BOT}> <@{CAROL}>,<@{FRANK}>");
    let i = h
        .meet(ALICE, json!([opt("topic", "Retro"), opt("invite", invite)]))
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 3 of 3")
        .await;
    let host = verified_claims(&reply, h.now());

    let frank = h.dm_texts(FRANK);
    let carol = h.dm_texts(CAROL);
    let bob = h.dm_texts(BOB);
    assert_eq!((frank.len(), carol.len(), bob.len()), (1, 1, 1));
    assert!(h.dm_texts(ALICE).is_empty());
    assert!(h.dm_texts(OTHER_BOT).is_empty());

    let f = verified_claims(&frank[0], h.now());
    assert_eq!(f["context"]["user"]["id"], FRANK.to_string());
    assert_eq!(f["context"]["user"]["name"], "frank");
    assert_eq!(f["moderator"], true);
    assert_eq!(f["context"]["user"]["affiliation"], "owner");
    assert!(frank[0].contains("a **moderator**"));

    let c = verified_claims(&carol[0], h.now());
    assert_eq!(c["context"]["user"]["id"], CAROL.to_string());
    assert_eq!(c["context"]["user"]["name"], "carol");
    assert_eq!(
        c["context"]["user"]["avatar"],
        format!("https://cdn.discordapp.com/avatars/{CAROL}/0123456789abcdef0123456789abcdef.png")
    );
    assert_eq!(c["moderator"], false);
    assert_eq!(c["context"]["user"]["affiliation"], "member");
    assert!(carol[0].contains("a participant"));

    let b = verified_claims(&bob[0], h.now());
    assert_eq!(b["context"]["user"]["id"], BOB.to_string());
    assert_eq!(b["context"]["user"]["name"], "Bob");
    assert_eq!(b["moderator"], false);

    for claims in [&f, &c, &b] {
        assert_eq!(claims["room"], host["room"]);
        assert!(claims["context"]["user"]["id"].is_string());
    }
    // One channel opened and one message sent per invitee.
    assert_eq!(
        h.sim.requests_matching("POST", "/users/@me/channels").len(),
        3
    );
    let dm_posts = h
        .sim
        .requests_matching("POST", "/channels/*/messages")
        .into_iter()
        .filter(|r| !r.path.contains(&CHANNEL.to_string()))
        .count();
    assert_eq!(dm_posts, 3);
    assert_eq!(
        assert_tokens_not_logged(&[reply, frank[0].clone(), carol[0].clone(), bob[0].clone()]),
        4
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_mention_expands_to_members_without_bots_the_caller_or_duplicates() {
    let h = Harness::start().await;
    // Frank (the caller) and the helper bot are in Team; Carol is also mentioned by name.
    let i = h
        .meet(
            FRANK,
            json!([opt("invite", format!("<@&{ROLE_TEAM}> <@{CAROL}>"))]),
        )
        .await;
    // Team without Frank and the bot: Carol and Dave (whose DMs are closed).
    let reply = h
        .reply_containing(&i, "Delivered personal links to 1 of 2")
        .await;
    assert!(
        reply.contains(&format!("<@{DAVE}> (DMs closed)")),
        "{}",
        redact(&reply)
    );
    assert_eq!(h.dm_texts(CAROL).len(), 1);
    assert!(h.dm_texts(FRANK).is_empty());
    assert!(h.dm_texts(OTHER_BOT).is_empty());
    assert!(h.dm_texts(BOB).is_empty() && h.dm_texts(ALICE).is_empty());
    let opened: Vec<String> = h
        .sim
        .requests_matching("POST", "/users/@me/channels")
        .iter()
        .map(|r| {
            r.body.as_ref().unwrap()["recipient_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(opened.len(), 2, "{opened:?}");
    assert!(opened.contains(&CAROL.to_string()) && opened.contains(&DAVE.to_string()));
    let c = verified_claims(&h.dm_texts(CAROL)[0], h.now());
    assert_eq!(c["moderator"], false);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitee_cap_refuses_with_a_clear_message_and_sends_no_dm() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_INVITEE_CAP", "2")], |_| {}).await;
    let i = h
        .meet(
            ALICE,
            json!([opt("invite", format!("<@{BOB}> <@{CAROL}> <@{FRANK}>"))]),
        )
        .await;
    let text = h.reply_containing(&i, "the limit here is 2").await;
    assert!(tokens_in(&text).is_empty(), "{}", redact(&text));
    assert!(first_response_is_ephemeral(&h, &i));
    assert_nothing_sent(&h);

    // A role that expands past the cap is refused the same way.
    let i = h
        .meet(
            ALICE,
            json!([opt("invite", format!("<@&{ROLE_TEAM}> <@{BOB}>"))]),
        )
        .await;
    h.reply_containing(&i, "the limit here is 2").await;
    assert_nothing_sent(&h);

    // Exactly at the cap is fine.
    let i = h
        .meet(
            ALICE,
            json!([
                opt("invite", format!("<@{BOB}> <@{CAROL}>")),
                bool_opt("private", true)
            ]),
        )
        .await;
    h.reply_containing(&i, "Delivered personal links to 2 of 2")
        .await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitee_with_closed_dms_is_reported_and_can_still_join_through_the_button() {
    let h = Harness::start().await;
    let i = h
        .meet(ALICE, json!([opt("invite", format!("<@{DAVE}> <@{BOB}>"))]))
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 1 of 2")
        .await;
    assert!(
        reply.contains(&format!("<@{DAVE}> (DMs closed)")),
        "{}",
        redact(&reply)
    );
    assert!(reply.contains("Join"), "{}", redact(&reply));
    assert!(h.dm_texts(DAVE).is_empty());
    // 50007 is terminal: exactly one attempt at Dave's DM.
    let dave_channel = h
        .sim
        .requests_matching("POST", "/channels/*/messages")
        .into_iter()
        .filter(|r| r.status == 403)
        .count();
    assert_eq!(dave_channel, 1);

    let post = wait_announcement(&h, 1).await;
    let c = click(&h, &post, DAVE, &join_custom_id(&post)).await;
    let link = h.reply_containing(&c, "jwt=").await;
    assert!(first_response_is_ephemeral(&h, &c));
    let claims = verified_claims(&link, h.now());
    assert_eq!(claims["context"]["user"]["id"], DAVE.to_string());
    assert_eq!(claims["moderator"], false);
    assert_eq!(claims["room"], verified_claims(&reply, h.now())["room"]);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentioned_user_who_is_not_in_the_server_is_reported_as_not_a_member() {
    let h = Harness::start().await;
    let i = h
        .meet(
            ALICE,
            json!([opt("invite", format!("<@{STRANGER}> <@{BOB}>"))]),
        )
        .await;
    let reply = h.reply_containing(&i, "Delivered personal links").await;
    assert!(
        reply.contains(&format!("<@{STRANGER}> (not a member of this server)")),
        "{}",
        redact(&reply)
    );
    assert!(
        reply.contains("Delivered personal links to 1 of 2"),
        "{}",
        redact(&reply)
    );
    assert!(h.dm_texts(STRANGER).is_empty());
    assert_eq!(h.dm_texts(BOB).len(), 1);

    // Only a stranger invited: still told, not silently dropped.
    let i = h
        .meet(ALICE, json!([opt("invite", format!("<@{STRANGER}>"))]))
        .await;
    let reply = h.reply_containing(&i, "not a member of this server").await;
    assert!(
        reply.contains(&format!("<@{STRANGER}>")),
        "{}",
        redact(&reply)
    );
    assert!(h.dm_texts(STRANGER).is_empty());
    h.finish().await;
}

// ---- the Join button ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_button_gives_each_clicker_their_own_link_with_their_own_role() {
    let h = Harness::start().await;
    let i = h
        .meet(
            BOB,
            json!([
                opt("topic", "Open call"),
                opt("invite", format!("<@{CAROL}>"))
            ]),
        )
        .await;
    let host_reply = h.reply_containing(&i, "Delivered").await;
    let room = verified_claims(&host_reply, h.now())["room"].clone();

    let post = wait_announcement(&h, 1).await;
    let text = post["content"].as_str().unwrap();
    assert!(text.contains("Open call"), "{}", redact(text));
    let public = serde_json::to_string(&post).unwrap();
    assert!(
        !public.contains("jwt") && !public.contains("https://"),
        "{}",
        redact(&public)
    );
    let custom_id = join_custom_id(&post);

    let mut seen = Vec::new();
    for (user, moderator) in [(FRANK, true), (DAVE, false), (ERIN, true), (BOB, false)] {
        let c = click(&h, &post, user, &custom_id).await;
        let text = h.reply_containing(&c, "jwt=").await;
        assert!(first_response_is_ephemeral(&h, &c), "click by {user}");
        let claims = verified_claims(&text, h.now());
        assert_eq!(claims["context"]["user"]["id"], user.to_string());
        assert_eq!(claims["moderator"], moderator, "click by {user}");
        assert_eq!(claims["room"], room);
        seen.push(text);
    }
    // Four different tokens, none of them in the channel or the logs.
    let tokens: std::collections::HashSet<String> =
        seen.iter().flat_map(|t| tokens_in(t)).collect();
    assert_eq!(tokens.len(), 4);
    for m in general(&h) {
        let s = serde_json::to_string(&m).unwrap();
        assert!(tokens.iter().all(|t| !s.contains(t.as_str())));
    }
    assert_eq!(assert_tokens_not_logged(&seen), 4);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_tampered_join_button_is_refused_without_a_link() {
    let h = Harness::start().await;
    let i = h.meet(ALICE, json!([opt("topic", "Board")])).await;
    h.reply_containing(&i, "jwt=").await;
    let post = wait_announcement(&h, 1).await;
    let real = join_custom_id(&post);
    let (body, mac) = real.rsplit_once(':').unwrap();
    let (prefix_room, ends) = body.rsplit_once(':').unwrap();
    let flipped_mac: String = mac
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let forgeries = [
        format!(
            "{prefix_room}:{}:{mac}",
            ends.parse::<i64>().unwrap() + 86_400
        ),
        format!("mj2:secret-room:{ends}:{mac}"),
        format!("{body}:{flipped_mac}"),
        "mj2:secret-room:4102444800:0000000000000000".to_string(),
        "mj2:".to_string(),
    ];
    for forged in &forgeries {
        let c = click(&h, &post, BOB, forged).await;
        let text = h.reply_containing(&c, "not valid").await;
        assert!(tokens_in(&text).is_empty(), "{forged}: {}", redact(&text));
        assert!(first_response_is_ephemeral(&h, &c));
    }
    // The genuine button still works.
    let c = click(&h, &post, BOB, &real).await;
    verified_claims(&h.reply_containing(&c, "jwt=").await, h.now());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_button_copied_into_another_server_or_of_the_old_format_is_refused_with_why() {
    const OTHER_GUILD: u64 = 100_000_000_000_000_901;
    const OTHER_CHANNEL: u64 = 100_000_000_000_000_902;
    let h = Harness::start_with(&[], |sim| {
        sim.add_guild(OTHER_GUILD, "Elsewhere", OWNER);
        sim.add_text_channel(OTHER_GUILD, OTHER_CHANNEL, "lobby");
        sim.add_member(OTHER_GUILD, discord_sim::UserSpec::new(BOB, "bob"), &[]);
    })
    .await;
    let i = h.meet(ALICE, json!([opt("topic", "Board")])).await;
    h.reply_containing(&i, "jwt=").await;
    let post = wait_announcement(&h, 1).await;
    let real = join_custom_id(&post);
    let id: u64 = post["id"].as_str().unwrap().parse().unwrap();
    // The same id, clicked in another server (a bot message carrying it there).
    let c = h
        .sim
        .click_button(id, OTHER_CHANNEL, BOB, &real)
        .await
        .expect("click");
    let text = h.reply_containing(&c, "not valid").await;
    assert!(tokens_in(&text).is_empty());
    // A button of the first format (no server under the signature) says what to do instead.
    let (_, rest) = real.split_once(':').unwrap();
    let c = click(&h, &post, BOB, &format!("mj1:{rest}")).await;
    let text = h.reply_containing(&c, "older version").await;
    assert!(tokens_in(&text).is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_click_after_the_end_plus_grace_says_the_meeting_ended() {
    let h = Harness::start().await;
    let i = h.meet(ALICE, json!([int_opt("duration", 30)])).await;
    h.reply_containing(&i, "jwt=").await;
    let post = wait_announcement(&h, 1).await;
    let id = join_custom_id(&post);

    // Within the grace period (15 minutes after the end) the button still serves a link that is valid now.
    h.clock
        .set(t0() + chrono::Duration::minutes(30 + 15) - chrono::Duration::seconds(1));
    let c = click(&h, &post, BOB, &id).await;
    let text = h.reply_containing(&c, "jwt=").await;
    let claims = verified_claims(&text, h.now());
    assert_eq!(
        claims["exp"].as_i64().unwrap(),
        (t0() + chrono::Duration::minutes(45)).timestamp()
    );

    h.clock.set(t0() + chrono::Duration::minutes(30 + 15));
    let c = click(&h, &post, BOB, &id).await;
    let text = h.reply_containing(&c, "has ended").await;
    assert!(tokens_in(&text).is_empty(), "{}", redact(&text));
    h.finish().await;
}

// ---- what gets pinged and posted ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_in_the_topic_ping_no_one_and_only_invitees_are_pinged() {
    let h = Harness::start().await;
    let topic = format!("@everyone @here <@&{ROLE_TEAM}> <@{ERIN}> sync");
    let i = h
        .meet(
            ALICE,
            json!([opt("topic", topic), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    h.reply_containing(&i, "Delivered personal links to 1 of 1")
        .await;
    let post = wait_announcement(&h, 1).await;
    let sent = sent_body(&h, &CHANNEL.to_string(), 0);
    let am = &sent["allowed_mentions"];
    assert_eq!(am["parse"], json!([]));
    assert_eq!(am["users"], json!([BOB.to_string()]));
    assert!(am["roles"].as_array().is_none_or(|r| r.is_empty()), "{am}");
    // The topic is shown as text, not as live mentions.
    let content = post["content"].as_str().unwrap();
    assert!(
        !content.contains(&format!("<@&{ROLE_TEAM}>")),
        "{}",
        redact(content)
    );
    assert!(
        !content.contains(&format!("<@{ERIN}>")),
        "{}",
        redact(content)
    );
    // The DM cannot ping either.
    let dm_channel = h.sim.dms_to(BOB)[0]["channel_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sent_body(&h, &dm_channel, 0)["allowed_mentions"]["parse"],
        json!([])
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_meeting_posts_nothing_in_the_channel() {
    let h = Harness::start().await;
    let i = h
        .meet(
            ALICE,
            json!([
                opt("topic", "1:1"),
                opt("invite", format!("<@{BOB}> <@{DAVE}>")),
                bool_opt("private", true)
            ]),
        )
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 1 of 2")
        .await;
    // Without a Join button, the host is told how Dave can get in instead.
    assert!(reply.contains("private"), "{}", redact(&reply));
    assert_eq!(h.dm_texts(BOB).len(), 1);
    assert!(general(&h).is_empty());
    assert!(h
        .sim
        .requests_matching("POST", &format!("/channels/{CHANNEL}/messages"))
        .is_empty());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_get_an_ephemeral_explanation_nothing_is_sent_and_the_bot_keeps_serving() {
    let h = Harness::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!([opt("topic", "x".repeat(101))]), "101 characters"),
        (json!([int_opt("duration", 0)]), "you asked for 0"),
        (json!([int_opt("duration", 10000)]), "you asked for 10000"),
        (
            json!([opt("invite", "bob and carol please")]),
            "not a mention",
        ),
        (
            json!([opt("invite", format!("<@{BOB}> @everyone"))]),
            "cannot be invited",
        ),
        (
            json!([opt("invite", format!("<@&{GUILD}>"))]),
            "cannot be invited",
        ),
        (
            json!([opt("invite", "<@&200000000000000999>")]),
            "is not a role of this server",
        ),
    ];
    for (options, expected) in cases {
        let i = h.meet(ALICE, options.clone()).await;
        let text = h.reply_containing(&i, expected).await;
        assert!(first_response_is_ephemeral(&h, &i), "{options}");
        assert!(tokens_in(&text).is_empty(), "{options}: {}", redact(&text));
        // Every answer is an edit of the ephemeral deferral: nothing public.
        assert!(h
            .sim
            .interaction_responses(&i.token)
            .iter()
            .all(|r| r.kind != ResponseKind::FollowUp));
    }
    assert_nothing_sent(&h);

    let i = h
        .meet(ALICE, json!([opt("invite", format!("<@{BOB}>"))]))
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 1 of 1")
        .await;
    verified_claims(&reply, h.now());
    assert_eq!(h.dm_texts(BOB).len(), 1);
    assert!(!logs().contains("command failed"));
    h.finish().await;
}

// ---- faults during the fan-out ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_during_the_fan_out_deliver_every_dm_exactly_once() {
    let h = Harness::start().await;
    // Private: every message POST below is a DM, so the faults hit the fan-out only.
    h.sim
        .rate_limit_next("POST", "/users/@me/channels", 0.3, false);
    h.sim
        .rate_limit_next("POST", "/channels/*/messages", 0.5, true);
    h.sim.fail_next("POST", "/channels/*/messages", 500, 1);
    h.sim
        .rate_limit_next("POST", "/channels/*/messages", 0.2, false);
    h.sim.fail_next("POST", "/users/@me/channels", 502, 1);
    let invitees = [BOB, CAROL, FRANK, ERIN];
    let invite: Vec<String> = invitees.iter().map(|u| format!("<@{u}>")).collect();
    let i = h
        .meet(
            ALICE,
            json!([opt("invite", invite.join(" ")), bool_opt("private", true)]),
        )
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 4 of 4")
        .await;
    assert!(!reply.contains("Not reached"), "{}", redact(&reply));
    // The faults did fire.
    assert!(h.sim.count_429() >= 3, "{} 429s", h.sim.count_429());
    let statuses: Vec<u16> = h.sim.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&500) && statuses.contains(&502));

    let mut texts = vec![reply];
    for u in invitees {
        let dms = h.sim.dms_to(u);
        assert_eq!(dms.len(), 1, "DMs to {u}");
        let channel = dms[0]["channel_id"].as_str().unwrap();
        let ok_posts = h
            .sim
            .requests_matching("POST", &format!("/channels/{channel}/messages"))
            .iter()
            .filter(|r| r.status == 200)
            .count();
        assert_eq!(ok_posts, 1, "successful posts to {u}'s DM channel");
        let text = dms[0]["content"].as_str().unwrap().to_string();
        assert_eq!(
            verified_claims(&text, h.now())["context"]["user"]["id"],
            u.to_string()
        );
        texts.push(text);
    }
    assert_eq!(assert_tokens_not_logged(&texts), 5);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_seen_in_any_scenario_step_appears_in_the_logs() {
    let h = Harness::start().await;
    // Faults make the REST client log retries: those lines must not carry bodies either.
    h.sim.fail_next("POST", "/channels/*/messages", 500, 1);
    let i = h
        .meet(
            ERIN,
            json!([
                opt("topic", "Audit"),
                opt("invite", format!("<@&{ROLE_TEAM}> <@{BOB}>"))
            ]),
        )
        .await;
    let reply = h.reply_containing(&i, "Delivered personal links to").await;
    let post = wait_announcement(&h, 1).await;
    let c = click(&h, &post, DAVE, &join_custom_id(&post)).await;
    h.reply_containing(&c, "jwt=").await;

    let mut texts = all_response_texts(&h, &i);
    texts.extend(all_response_texts(&h, &c));
    for u in [BOB, CAROL, FRANK] {
        texts.extend(h.dm_texts(u));
    }
    for t in &texts {
        for token in tokens_in(t) {
            // Every token the scenario saw is one Jitsi accepts for its room.
            verified_claims(&format!("jwt={token}"), h.now());
        }
    }
    assert!(reply.contains("jwt="));
    // Host, three DMs (Carol, Frank, Bob), Dave's click: at least five distinct tokens were checked.
    let n = assert_tokens_not_logged(&texts);
    assert!(n >= 5, "only {n} tokens seen");
    assert!(logs().contains("meeting started"), "log capture works");
    h.finish().await;
}

// ---- shutdown ---------------------------------------------------------------------------------

/// A role with many members, for a fan-out long enough to interrupt.
const ROLE_CROWD: u64 = 200_000_000_000_000_010;
const CROWD_FIRST: u64 = 300_000_000_000_001_000;
const CROWD: u64 = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_the_fan_out_reports_unsent_dms_by_user_id_and_does_not_panic() {
    let mut h = Harness::start_with(&[("MEETBOT_DISCORD_DM_CONCURRENCY", "2")], |sim| {
        sim.add_role(GUILD, RoleSpec::new(ROLE_CROWD, "Crowd", 0, 1));
        for n in 0..CROWD {
            sim.add_member(
                GUILD,
                UserSpec::new(CROWD_FIRST + n, &format!("crowd{n}")),
                &[ROLE_CROWD],
            );
        }
    })
    .await;
    h.sim.set_latency(Duration::from_millis(60));
    let i = h
        .meet(
            ALICE,
            json!([
                opt("invite", format!("<@&{ROLE_CROWD}>")),
                bool_opt("private", true)
            ]),
        )
        .await;
    // Wait until the fan-out is under way (a first DM went out), then stop the bot.
    h.sim
        .wait_for_request(
            |r| r.method == "POST" && r.path.starts_with("/channels/") && r.status == 200,
            WAIT,
        )
        .await
        .expect("a first DM");
    let bot = h.bot.take().unwrap();
    bot.shutdown()
        .await
        .expect("clean shutdown during a fan-out");

    let reply = h
        .latest_content(&i)
        .expect("the host got a final answer before the bot stopped");
    assert!(
        reply.contains("Delivered personal links to"),
        "{}",
        redact(&reply)
    );
    let delivered: Vec<u64> = (0..CROWD)
        .map(|n| CROWD_FIRST + n)
        .filter(|u| !h.sim.dms_to(*u).is_empty())
        .collect();
    let unsent: Vec<u64> = (0..CROWD)
        .map(|n| CROWD_FIRST + n)
        .filter(|u| h.sim.dms_to(*u).is_empty())
        .collect();
    assert!(!delivered.is_empty(), "the fan-out had started");
    assert!(
        !unsent.is_empty(),
        "shutdown came before the end of the fan-out"
    );
    assert!(
        reply.contains(&format!(
            "Delivered personal links to {} of {CROWD}",
            delivered.len()
        )),
        "{}",
        redact(&reply)
    );
    assert!(reply.contains("not sent"), "{}", redact(&reply));
    // No one got two DMs, and everyone not reached is named to the host (the list may be shortened) and logged.
    for u in &delivered {
        assert_eq!(h.sim.dms_to(*u).len(), 1);
    }
    let logs = logs();
    for u in &unsent {
        assert!(
            logs.lines()
                .any(|l| l.contains("DM not sent") && l.contains(&u.to_string())),
            "no log line says the DM to {u} was not sent"
        );
    }
    assert!(
        reply.contains(&format!("<@{}> (not sent", unsent[0])),
        "{}",
        redact(&reply)
    );
    let mut texts = vec![reply];
    for u in &delivered {
        texts.extend(h.dm_texts(*u));
    }
    assert_tokens_not_logged(&texts);
    assert!(h.sim.unhandled_routes().is_empty());
    assert!(h.sim.violations().is_empty(), "{:#?}", h.sim.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_connects_with_the_guilds_intent_only_and_still_expands_invited_roles() {
    let h = Harness::start().await;
    const GUILDS: u64 = 1;
    let intents: Vec<u64> = h.sim.identifies().iter().map(|i| i.intents).collect();
    assert!(!intents.is_empty());
    assert!(
        intents.iter().all(|i| *i == GUILDS),
        "intents requested: {intents:?}"
    );
    // Role expansion goes through REST, so it works without the privileged gateway intent.
    let i = h
        .meet(ALICE, json!([opt("invite", format!("<@&{ROLE_TEAM}>"))]))
        .await;
    h.reply_containing(&i, "Delivered personal links to 2 of 3")
        .await;
    assert_eq!(h.dm_texts(CAROL).len(), 1);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_channel_the_caller_cannot_write_in_meet_refuses_to_announce_unless_private() {
    // A read-only server: @everyone may read but not send; only administrators may.
    let h = Harness::start_with(&[], |sim| {
        sim.add_role(
            GUILD,
            discord_sim::RoleSpec::new(GUILD, "@everyone", 1 << 10, 0),
        );
    })
    .await;
    let i = h
        .meet(
            BOB,
            json!([
                opt("topic", "Town hall"),
                opt("invite", format!("<@{CAROL}>"))
            ]),
        )
        .await;
    h.reply_containing(&i, "You cannot post in this channel")
        .await;
    assert!(h
        .channel_texts(CHANNEL)
        .iter()
        .all(|m| m["flags"].as_u64().unwrap_or(0) & 64 != 0));
    assert!(
        h.dm_texts(CAROL).is_empty(),
        "nothing is sent when the meeting is refused"
    );

    let i = h
        .meet(
            BOB,
            json!([
                opt("invite", format!("<@{CAROL}>")),
                bool_opt("private", true)
            ]),
        )
        .await;
    h.reply_containing(&i, "Delivered personal links to 1 of 1")
        .await;
    let i = h.meet(ERIN, json!([opt("topic", "Admin sync")])).await;
    h.reply_containing(&i, "Your meeting").await;
    assert!(h
        .channel_texts(CHANNEL)
        .iter()
        .any(|m| m["content"].as_str().unwrap_or("").contains("Admin sync")));
    h.finish().await;
}

// ---- delivery under load: role listings and answers within Discord's deadline ------------------

/// A role of 1,500 members in a server of 3,000, the cap at 50: the invite is refused with the count after the first
/// page of the member list, and repeating it within the cache's time asks Discord nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_over_the_cap_stops_listing_at_once_and_a_repeat_is_served_from_the_cache() {
    const BIG: u64 = 200_000_000_000_000_050;
    let h = Harness::start_with(&[], |sim| {
        sim.add_role(GUILD, RoleSpec::new(BIG, "Everyone-ish", 0, 1));
        for i in 0..3_000u64 {
            let roles: &[u64] = if i % 2 == 0 { &[BIG] } else { &[] };
            sim.add_member(
                GUILD,
                UserSpec::new(500_000_000_000_000_000 + i, &format!("m{i}")),
                roles,
            );
        }
    })
    .await;
    let listings = |h: &Harness| h.sim.requests_matching("GET", "/guilds/*/members").len();
    let i = h
        .meet(ALICE, json!([opt("invite", format!("<@&{BIG}>"))]))
        .await;
    let text = h.reply_containing(&i, "the limit here is 50").await;
    assert!(text.contains("51 people or more"), "{text}");
    assert_eq!(
        listings(&h),
        1,
        "one page of 1,000 holds more than 50 of the role"
    );
    assert_nothing_sent(&h);

    let i = h
        .meet(ALICE, json!([opt("invite", format!("<@&{BIG}>"))]))
        .await;
    h.reply_containing(&i, "the limit here is 50").await;
    assert_eq!(listings(&h), 1, "the repeat came from the cache");
    h.finish().await;
}

/// Discord pausing the message route for 6 s (a 429 on the audit post) must not hold a moderator's Join click past
/// the 3-second deadline: the click is answered, and the audit line follows once Discord lets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_click_is_answered_within_the_deadline_while_its_audit_post_waits_out_a_429() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_COOLDOWN_SECONDS", "0")], |_| {}).await;
    h.set_audit_channel(OWNER, EVENTS_CHANNEL).await;
    let i = h.meet(BOB, json!([opt("topic", "Open call")])).await;
    h.reply_containing(&i, "jwt=").await;
    let post = wait_announcement(&h, 1).await;
    h.sim.rate_limit_next(
        "POST",
        &format!("/channels/{EVENTS_CHANNEL}/messages"),
        6.0,
        false,
    );
    let c = click(&h, &post, FRANK, &join_custom_id(&post)).await;
    let text = h.reply_containing(&c, "jwt=").await;
    assert_eq!(verified_claims(&text, h.now())["moderator"], true);
    let answers = h.sim.interaction_responses(&c.token);
    assert!(
        !answers.is_empty(),
        "the click was answered within the deadline"
    );
    h.sim
        .wait_for_request(
            |r| {
                r.method == "POST"
                    && r.path == format!("/channels/{EVENTS_CHANNEL}/messages")
                    && r.body.as_ref().is_some_and(|b| {
                        b["content"]
                            .as_str()
                            .is_some_and(|t| t.contains("the Join button"))
                    })
            },
            Duration::from_secs(15),
        )
        .await
        .expect("the audit line is posted after the pause");
    h.finish().await;
}
