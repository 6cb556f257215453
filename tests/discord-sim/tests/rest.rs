//! REST behaviour: interactions' answers, DMs, members, events, faults and limits.

mod common;

use std::time::{Duration, Instant};

use common::*;
use discord_sim::{ResponseKind, SimOptions, Simulator};
use serde_json::json;

async fn with_interaction(opts: SimOptions) -> (Simulator, RawGateway, discord_sim::Interaction) {
    let sim = Simulator::start(opts).await;
    world(&sim);
    register(&sim, json!([{"name": "meet", "description": "d"}])).await;
    let (gw, _) = RawGateway::ready(&sim).await;
    let i = sim
        .invoke_command(GUILD, CHANNEL, ALICE, "meet", json!([]))
        .await
        .unwrap();
    (sim, gw, i)
}

fn callback_path(i: &discord_sim::Interaction) -> String {
    format!("/interactions/{}/{}/callback", i.id, i.token)
}

#[tokio::test]
async fn second_callback_is_40060_and_unknown_token_is_10062() {
    let (sim, _gw, i) = with_interaction(SimOptions::default()).await;
    let reply = json!({"type": 4, "data": {"content": "hello"}});
    let (status, _, _) = call(&sim, "POST", &callback_path(&i), Some(reply.clone())).await;
    assert_eq!(status, 204);
    let (status, _, body) = call(&sim, "POST", &callback_path(&i), Some(reply.clone())).await;
    assert_eq!((status, body["code"].clone()), (400, json!(40060)));
    let (status, _, body) = call(
        &sim,
        "POST",
        &format!("/interactions/{}/bogus/callback", i.id),
        Some(reply),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (404, json!(10062)));
    assert_eq!(sim.channel_messages(CHANNEL)[0]["content"], "hello");
    assert_eq!(sim.interaction_responses(&i.token).len(), 1);
}

#[tokio::test]
async fn callback_after_the_deadline_is_10062() {
    let opts = SimOptions {
        interaction_deadline: Duration::ZERO,
        ..Default::default()
    };
    let (sim, _gw, i) = with_interaction(opts).await;
    let (status, _, body) = call(&sim, "POST", &callback_path(&i), Some(json!({"type": 5}))).await;
    assert_eq!((status, body["code"].clone()), (404, json!(10062)));
    assert!(sim.interaction_responses(&i.token).is_empty());
}

#[tokio::test]
async fn original_edits_and_followups_are_recorded_in_order() {
    let (sim, _gw, i) = with_interaction(SimOptions::default()).await;
    let app = sim.application_id();
    let original = format!("/webhooks/{app}/{}/messages/@original", i.token);
    let (status, _, body) = call(&sim, "GET", &original, None).await;
    assert_eq!((status, body["code"].clone()), (404, json!(10008)));
    let (status, _, _) = call(
        &sim,
        "POST",
        &format!("/webhooks/{app}/{}", i.token),
        Some(json!({"content": "early"})),
    )
    .await;
    assert_eq!(status, 404, "no follow-up before the first response");

    call(
        &sim,
        "POST",
        &callback_path(&i),
        Some(json!({"type": 5, "data": {"flags": 64}})),
    )
    .await;
    let (status, _, msg) = call(&sim, "PATCH", &original, Some(json!({"content": "done"}))).await;
    assert_eq!(status, 200);
    assert_eq!(msg["content"], "done");
    assert_eq!(msg["flags"], 64);
    let (_, _, fetched) = call(&sim, "GET", &original, None).await;
    assert_eq!(fetched["id"], msg["id"]);
    let (status, _, follow) = call(
        &sim,
        "POST",
        &format!("/webhooks/{app}/{}", i.token),
        Some(json!({"content": "more"})),
    )
    .await;
    assert_eq!(status, 200);
    let follow_path = format!(
        "/webhooks/{app}/{}/messages/{}",
        i.token,
        follow["id"].as_str().unwrap()
    );
    let (status, _, edited) = call(
        &sim,
        "PATCH",
        &follow_path,
        Some(json!({"content": "more!"})),
    )
    .await;
    assert_eq!((status, edited["content"].clone()), (200, json!("more!")));
    let (status, _, _) = call(&sim, "DELETE", &original, None).await;
    assert_eq!(status, 204);
    let kinds: Vec<ResponseKind> = sim
        .interaction_responses(&i.token)
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            ResponseKind::Callback,
            ResponseKind::EditOriginal,
            ResponseKind::FollowUp,
            ResponseKind::EditFollowUp,
            ResponseKind::DeleteOriginal
        ]
    );
    let (status, _, body) = call(
        &sim,
        "GET",
        &format!("/webhooks/{app}/not-a-token/messages/@original"),
        None,
    )
    .await;
    assert_eq!((status, body["code"].clone()), (401, json!(50027)));
}

#[tokio::test]
async fn deferral_with_content_is_a_violation() {
    let (sim, _gw, i) = with_interaction(SimOptions::default()).await;
    let (status, _, body) = call(
        &sim,
        "POST",
        &callback_path(&i),
        Some(json!({"type": 5, "data": {"content": "x"}})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!(50035)));
    assert_eq!(sim.violations().len(), 1);
}

#[tokio::test]
async fn dm_channel_is_reused_and_closed_dms_answer_50007() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let (_, _, a1) = call(
        &sim,
        "POST",
        "/users/@me/channels",
        Some(json!({"recipient_id": ALICE.to_string()})),
    )
    .await;
    let (_, _, a2) = call(
        &sim,
        "POST",
        "/users/@me/channels",
        Some(json!({"recipient_id": ALICE.to_string()})),
    )
    .await;
    assert_eq!(a1["id"], a2["id"]);
    assert_eq!(a1["type"], 1);
    assert_eq!(a1["recipients"][0]["id"], ALICE.to_string());
    let (status, _, body) = call(
        &sim,
        "POST",
        "/users/@me/channels",
        Some(json!({"recipient_id": "42"})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!(50033)));

    let path = format!("/channels/{}/messages", a1["id"].as_str().unwrap());
    let (status, _, msg) = call(&sim, "POST", &path, Some(json!({"content": "hi"}))).await;
    assert_eq!(status, 200);
    assert_eq!(msg["author"]["id"], sim.bot_user_id().to_string());
    assert_eq!(sim.dms_to(ALICE).len(), 1);

    let (_, _, b) = call(
        &sim,
        "POST",
        "/users/@me/channels",
        Some(json!({"recipient_id": BOB.to_string()})),
    )
    .await;
    let (status, _, body) = call(
        &sim,
        "POST",
        &format!("/channels/{}/messages", b["id"].as_str().unwrap()),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"code": 50007, "message": "Cannot send messages to this user"})
    );
    assert!(sim.dms_to(BOB).is_empty());
}

#[tokio::test]
async fn members_are_paged_by_id_with_lenient_query() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let (status, _, page) = call(
        &sim,
        "GET",
        &format!("/guilds/{GUILD}/members?&limit=2"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["user"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&page), vec![OWNER.to_string(), ALICE.to_string()]);
    let (_, _, next) = call(
        &sim,
        "GET",
        &format!("/guilds/{GUILD}/members?&limit=2&after={ALICE}"),
        None,
    )
    .await;
    assert_eq!(ids(&next), vec![BOB.to_string(), CAROL.to_string()]);
    let (status, _, _) = call(
        &sim,
        "GET",
        &format!("/guilds/{GUILD}/members?limit=1001"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = call(&sim, "GET", &format!("/guilds/{GUILD}/members/42"), None).await;
    assert_eq!(
        (status, body),
        (404, json!({"message": "Unknown Member", "code": 10007}))
    );
    let (_, _, alice) = call(
        &sim,
        "GET",
        &format!("/guilds/{GUILD}/members/{ALICE}"),
        None,
    )
    .await;
    assert_eq!(alice["roles"], json!([MOD_ROLE.to_string()]));
}

#[tokio::test]
async fn scheduled_event_rules_and_status_transitions() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let events = format!("/guilds/{GUILD}/scheduled-events");
    let mut body = json!({"name": "Standup", "privacy_level": 2, "entity_type": 3,
        "scheduled_start_time": "2030-01-01T10:00:00Z", "scheduled_end_time": "2030-01-01T11:00:00Z"});
    let (status, _, err) = call(&sim, "POST", &events, Some(body.clone())).await;
    assert_eq!(
        (status, err["code"].clone()),
        (400, json!(50035)),
        "EXTERNAL needs a location"
    );
    body["entity_metadata"] = json!({"location": "https://meet.example/room"});
    let (status, _, ev) = call(&sim, "POST", &events, Some(body.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(ev["status"], 1);
    let one = format!("{events}/{}", ev["id"].as_str().unwrap());
    let (status, _, _) = call(&sim, "PATCH", &one, Some(json!({"status": 3}))).await;
    assert_eq!(status, 400, "SCHEDULED cannot jump to COMPLETED");
    let (_, _, active) = call(&sim, "PATCH", &one, Some(json!({"status": 2}))).await;
    assert_eq!(active["status"], 2);
    let (_, _, done) = call(&sim, "PATCH", &one, Some(json!({"status": 3}))).await;
    assert_eq!(done["status"], 3);
    let (status, _, _) = call(&sim, "PATCH", &one, Some(json!({"name": "again"}))).await;
    assert_eq!(status, 400, "a completed event is final");
    assert_eq!(sim.violations().len(), 3);

    sim.set_bot_permissions(GUILD, discord_sim::DEFAULT_EVERYONE);
    let (status, _, err) = call(&sim, "POST", &events, Some(body)).await;
    assert_eq!((status, err["code"].clone()), (403, json!(50013)));
}

#[tokio::test]
async fn interested_users_are_paged() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let body = json!({"name": "Standup", "privacy_level": 2, "entity_type": 3,
        "scheduled_start_time": "2030-01-01T10:00:00Z", "scheduled_end_time": "2030-01-01T11:00:00Z",
        "entity_metadata": {"location": "here"}});
    let (_, _, ev) = call(
        &sim,
        "POST",
        &format!("/guilds/{GUILD}/scheduled-events"),
        Some(body),
    )
    .await;
    let eid: u64 = ev["id"].as_str().unwrap().parse().unwrap();
    for u in [CAROL, ALICE, BOB] {
        sim.mark_interested(GUILD, eid, u).await.unwrap();
    }
    let users = format!("/guilds/{GUILD}/scheduled-events/{eid}/users");
    let (_, _, page) = call(
        &sim,
        "GET",
        &format!("{users}?limit=2&with_member=true"),
        None,
    )
    .await;
    let ids: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"]["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(ALICE.to_string()), json!(BOB.to_string())]);
    assert!(page[0]["member"]["roles"].is_array());
    let (_, _, rest) = call(&sim, "GET", &format!("{users}?limit=2&after={BOB}"), None).await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
    let (status, _, _) = call(&sim, "GET", &format!("{users}?limit=101"), None).await;
    assert_eq!(status, 400);
    assert_eq!(sim.scheduled_event(GUILD, eid).unwrap()["user_count"], 3);
}

#[tokio::test]
async fn global_window_answers_429_global_and_exempts_webhooks() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    sim.enforce_global_rate(3);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, headers, body) = call(&sim, "GET", "/users/@me", None).await;
        if status == 429 {
            assert_eq!(headers["x-ratelimit-global"], "true");
            assert_eq!(headers["x-ratelimit-scope"], "global");
            assert!(headers.contains_key("retry-after"));
            assert_eq!(body["global"], true);
            assert!(body["retry_after"].as_f64().unwrap() > 0.0);
        }
        statuses.push(status);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    assert_eq!(sim.count_429(), 2);
    let app = sim.application_id();
    let (status, _, _) = call(
        &sim,
        "GET",
        &format!("/webhooks/{app}/none/messages/@original"),
        None,
    )
    .await;
    assert_eq!(status, 401, "webhooks bypass the global window");
    sim.enforce_global_rate(0);
    assert_eq!(call(&sim, "GET", "/users/@me", None).await.0, 200);
}

#[tokio::test]
async fn fail_next_answers_the_status_count_times() {
    let sim = Simulator::start(SimOptions::default()).await;
    sim.fail_next("GET", "/gateway", 502, 2);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(call(&sim, "GET", "/gateway", None).await.0);
    }
    assert_eq!(statuses, vec![502, 502, 200]);
    assert_eq!(sim.requests_matching("GET", "/gateway").len(), 3);
    let (_, _, gw) = call(&sim, "GET", "/gateway/bot", None).await;
    assert_eq!(gw["url"], sim.gateway_url());
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let sim = Simulator::start(SimOptions::default()).await;
    sim.set_latency(Duration::from_millis(60));
    let t = Instant::now();
    call(&sim, "GET", "/users/@me", None).await;
    assert!(t.elapsed() >= Duration::from_millis(60));
    let r = &sim.requests()[0];
    assert!(r.answered_at.duration_since(r.received_at) >= Duration::from_millis(60));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn unknown_routes_are_recorded_and_answered_404_code_0() {
    let sim = Simulator::start(SimOptions::default()).await;
    let (status, _, body) = call(&sim, "GET", "/voice/regions", None).await;
    assert_eq!((status, body["code"].clone()), (404, json!(0)));
    assert_eq!(
        sim.unhandled_routes(),
        vec!["GET /voice/regions".to_string()]
    );
    assert_eq!(sim.requests()[0].status, 404);
}

#[tokio::test]
async fn over_long_message_is_refused_50035_and_recorded() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let path = format!("/channels/{CHANNEL}/messages");
    let (status, _, body) = call(
        &sim,
        "POST",
        &path,
        Some(json!({"content": "x".repeat(2001)})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!(50035)));
    assert!(sim.violations()[0].contains("2001"));
    assert!(sim.channel_messages(CHANNEL).is_empty());
    let (status, _, msg) = call(&sim, "POST", &path, Some(json!({"content": "ok"}))).await;
    assert_eq!(status, 200);
    let mid = msg["id"].as_str().unwrap();
    let (_, _, edited) = call(
        &sim,
        "PATCH",
        &format!("{path}/{mid}"),
        Some(json!({"content": "edited"})),
    )
    .await;
    assert_eq!(edited["content"], "edited");
    assert!(!edited["edited_timestamp"].is_null());
}

#[tokio::test]
async fn wait_for_request_sees_requests_as_they_arrive() {
    let sim = Simulator::start(SimOptions::default()).await;
    let waiter = sim.wait_for_request(|r| r.path == "/users/@me", WAIT);
    let fire = call(&sim, "GET", "/users/@me", None);
    let (found, _) = tokio::join!(waiter, fire);
    assert_eq!(found.unwrap().status, 200);
    let miss = sim
        .wait_for_request(|r| r.path == "/never", Duration::from_millis(50))
        .await;
    assert!(miss.is_err());
}

#[tokio::test]
async fn requests_without_the_bot_token_are_401_except_interaction_routes() {
    let sim = Simulator::start(SimOptions::default()).await;
    let url = format!("{}/api/v10/users/@me", sim.base_url());
    let client = reqwest::Client::new();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let wrong = client
        .get(&url)
        .header("authorization", "Bot other")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let app = sim.application_id();
    let webhook = format!(
        "{}/api/v10/webhooks/{app}/none/messages/@original",
        sim.base_url()
    );
    assert_eq!(client.get(&webhook).send().await.unwrap().status(), 401);
    let body: serde_json::Value = client
        .get(&webhook)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["code"], 50027,
        "judged by its token, not by Authorization"
    );
}

#[tokio::test]
async fn unpaced_burst_over_the_global_limit_gets_429s_counted() {
    let sim = Simulator::start(SimOptions::default()).await;
    sim.enforce_global_rate(50);
    sim.set_latency(Duration::from_millis(20));
    let burst = (0..60).map(|_| call(&sim, "GET", "/users/@me", None));
    let statuses: Vec<u16> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok + refused, 60);
    assert!(refused > 0, "60 requests at once exceed 50/s");
    assert!(ok >= 50, "the first 50 in the window are admitted");
    assert_eq!(sim.count_429(), refused as u64);
}

#[tokio::test]
async fn an_enforced_nonce_returns_the_existing_message_and_makes_no_second_one() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let path = format!("/channels/{CHANNEL}/messages");
    let body = json!({"content": "once", "nonce": "mb1234", "enforce_nonce": true});
    let (s1, _, first) = call(&sim, "POST", &path, Some(body.clone())).await;
    let (s2, _, again) = call(&sim, "POST", &path, Some(body.clone())).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["nonce"], "mb1234");
    assert_eq!(sim.channel_messages(CHANNEL).len(), 1);
    // Without enforce_nonce, or with another nonce, Discord makes a new message.
    let loose = json!({"content": "twice", "nonce": "mb1234"});
    call(&sim, "POST", &path, Some(loose)).await;
    let other = json!({"content": "other", "nonce": "mb9999", "enforce_nonce": true});
    call(&sim, "POST", &path, Some(other)).await;
    assert_eq!(sim.channel_messages(CHANNEL).len(), 3);
    let long = json!({"content": "x", "nonce": "n".repeat(26), "enforce_nonce": true});
    assert_eq!(call(&sim, "POST", &path, Some(long)).await.0, 400);
}

#[tokio::test]
async fn fail_after_next_carries_the_request_out_and_answers_the_error() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let path = format!("/channels/{CHANNEL}/messages");
    sim.fail_after_next("POST", "/channels/*/messages", 502, 1);
    let (status, _, _) = call(&sim, "POST", &path, Some(json!({"content": "made"}))).await;
    assert_eq!(status, 502);
    assert_eq!(sim.channel_messages(CHANNEL).len(), 1, "created anyway");
    let (status, _, _) = call(&sim, "POST", &path, Some(json!({"content": "next"}))).await;
    assert_eq!(status, 200);
}
