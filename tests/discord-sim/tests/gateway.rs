//! The gateway protocol, spoken by hand.

mod common;

use common::*;
use discord_sim::{SimOptions, Simulator, ALL_PERMISSIONS};
use serde_json::json;

#[tokio::test]
async fn hello_identify_ready_then_guild_create_with_increasing_sequence() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let mut gw = RawGateway::connect(&sim).await;
    let hello = gw.identify(&format!("Bot {}", sim.bot_token()), 513).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 41_250);
    let ready = gw.recv().await.unwrap();
    assert_eq!(ready["t"], "READY");
    assert_eq!(ready["s"], 1);
    assert_eq!(ready["d"]["user"]["id"], sim.bot_user_id().to_string());
    assert_eq!(
        ready["d"]["application"]["id"],
        sim.application_id().to_string()
    );
    assert_eq!(
        ready["d"]["guilds"],
        json!([{"id": GUILD.to_string(), "unavailable": true}])
    );
    let create = gw.recv().await.unwrap();
    assert_eq!(create["t"], "GUILD_CREATE");
    assert_eq!(create["s"], 2);
    assert_eq!(create["d"]["roles"].as_array().unwrap().len(), 2);
    assert_eq!(create["d"]["channels"][0]["id"], CHANNEL.to_string());
    assert_eq!(sim.identifies()[0].intents, 513);
    assert!(sim.identifies()[0].token_accepted);
}

#[tokio::test]
async fn guild_create_lists_only_bot_and_voice_members_unless_configured() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let (mut gw, _) = RawGateway::ready(&sim).await;
    let create = gw.dispatch("GUILD_CREATE").await;
    let mut ids: Vec<String> = create["d"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![CAROL.to_string(), sim.bot_user_id().to_string()]);
    assert_eq!(create["d"]["member_count"], 5);

    let all = Simulator::start(SimOptions {
        guild_create_all_members: true,
        ..Default::default()
    })
    .await;
    world(&all);
    let (mut gw, _) = RawGateway::ready(&all).await;
    let create = gw.dispatch("GUILD_CREATE").await;
    assert_eq!(create["d"]["members"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn wrong_token_is_closed_with_4004() {
    let sim = Simulator::start(SimOptions::default()).await;
    let mut gw = RawGateway::connect(&sim).await;
    gw.identify("Bot wrong", 1).await;
    assert_eq!(gw.recv().await, Err(4004));
    assert!(!sim.identifies()[0].token_accepted);
}

#[tokio::test]
async fn heartbeat_is_acked_and_resume_gets_invalid_session() {
    let sim = Simulator::start(SimOptions::default()).await;
    let (mut gw, _) = RawGateway::ready(&sim).await;
    gw.send(json!({"op": 1, "d": 1})).await;
    assert_eq!(gw.recv().await.unwrap()["op"], 11);
    gw.send(json!({"op": 6, "d": {"token": "x", "session_id": "y", "seq": 1}}))
        .await;
    assert_eq!(gw.recv().await.unwrap(), json!({"op": 9, "d": false}));
}

#[tokio::test]
async fn request_guild_members_answers_chunk_with_not_found() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let (mut gw, _) = RawGateway::ready(&sim).await;
    gw.dispatch("GUILD_CREATE").await;
    gw.send(json!({"op": 8, "d": {"guild_id": GUILD.to_string(), "query": "", "limit": 0, "nonce": "n1"}}))
        .await;
    let chunk = gw.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["members"].as_array().unwrap().len(), 5);
    assert_eq!(chunk["d"]["chunk_count"], 1);
    assert_eq!(chunk["d"]["nonce"], "n1");
    gw.send(json!({"op": 8, "d": {"guild_id": GUILD.to_string(), "user_ids": [ALICE.to_string(), "42"]}}))
        .await;
    let chunk = gw.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["members"][0]["user"]["username"], "alice");
    assert_eq!(chunk["d"]["not_found"], json!(["42"]));
}

#[tokio::test]
async fn command_interaction_carries_member_permissions_and_resolved_options() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let registered = register(
        &sim,
        json!([{"name": "meet", "description": "d", "options": [
            {"type": 1, "name": "invite", "description": "d", "options": [
                {"type": 6, "name": "who", "description": "d"},
                {"type": 8, "name": "role", "description": "d"},
                {"type": 7, "name": "where", "description": "d"}
            ]}
        ]}]),
    )
    .await;
    let (mut gw, _) = RawGateway::ready(&sim).await;
    let options = json!([{"type": 1, "name": "invite", "options": [
        {"type": 6, "name": "who", "value": BOB.to_string()},
        {"type": 8, "name": "role", "value": MOD_ROLE.to_string()},
        {"type": 7, "name": "where", "value": CHANNEL.to_string()}
    ]}]);
    let i = sim
        .invoke_command(GUILD, CHANNEL, ALICE, "meet", options.clone())
        .await
        .unwrap();
    let ev = gw.dispatch("INTERACTION_CREATE").await["d"].clone();
    assert_eq!(ev["id"], i.id.to_string());
    assert_eq!(ev["token"], i.token);
    assert_eq!(ev["type"], 2);
    assert_eq!(ev["data"]["id"], registered[0]["id"]);
    assert_eq!(ev["data"]["options"], options);
    assert_eq!(ev["member"]["user"]["id"], ALICE.to_string());
    assert_eq!(ev["member"]["roles"], json!([MOD_ROLE.to_string()]));
    assert_eq!(ev["member"]["permissions"], ALL_PERMISSIONS.to_string());
    assert_eq!(
        ev["data"]["resolved"]["users"][BOB.to_string()]["username"],
        "bob"
    );
    assert!(ev["data"]["resolved"]["members"][BOB.to_string()]["roles"].is_array());
    assert_eq!(
        ev["data"]["resolved"]["roles"][MOD_ROLE.to_string()]["name"],
        "Moderator"
    );
    assert_eq!(
        ev["data"]["resolved"]["channels"][CHANNEL.to_string()]["name"],
        "general"
    );
    for key in [
        "app_permissions",
        "locale",
        "guild_locale",
        "entitlements",
        "attachment_size_limit",
        "version",
        "context",
    ] {
        assert!(!ev[key].is_null(), "{key} missing");
    }

    let plain = sim
        .invoke_command(GUILD, CHANNEL, BOB, "meet", json!([]))
        .await
        .unwrap();
    let ev = gw.dispatch("INTERACTION_CREATE").await["d"].clone();
    assert_eq!(ev["token"], plain.token);
    assert_eq!(
        ev["member"]["permissions"],
        discord_sim::DEFAULT_EVERYONE.to_string()
    );
    assert!(sim
        .invoke_command(GUILD, CHANNEL, BOB, "nope", json!([]))
        .await
        .is_err());
}

#[tokio::test]
async fn interaction_needs_a_connected_client() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    register(&sim, json!([{"name": "meet", "description": "d"}])).await;
    let err = sim
        .invoke_command(GUILD, CHANNEL, ALICE, "meet", json!([]))
        .await
        .unwrap_err();
    assert!(matches!(err, discord_sim::SimError::NotConnected));
}

#[tokio::test]
async fn marking_interest_dispatches_user_add() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let (mut gw, _) = RawGateway::ready(&sim).await;
    let body = json!({"name": "Standup", "privacy_level": 2, "entity_type": 3,
        "scheduled_start_time": "2030-01-01T10:00:00Z", "scheduled_end_time": "2030-01-01T11:00:00Z",
        "entity_metadata": {"location": "https://meet.example/room"}});
    let (status, _, ev) = call(
        &sim,
        "POST",
        &format!("/guilds/{GUILD}/scheduled-events"),
        Some(body),
    )
    .await;
    assert_eq!(status, 200);
    let created = gw.dispatch("GUILD_SCHEDULED_EVENT_CREATE").await;
    assert_eq!(created["d"]["id"], ev["id"]);
    serde_json::from_value::<poise::serenity_prelude::ScheduledEvent>(created["d"].clone())
        .expect("serenity reads GUILD_SCHEDULED_EVENT_CREATE");
    let event_id: u64 = ev["id"].as_str().unwrap().parse().unwrap();
    sim.mark_interested(GUILD, event_id, ALICE).await.unwrap();
    let add = gw.dispatch("GUILD_SCHEDULED_EVENT_USER_ADD").await;
    assert_eq!(add["d"]["user_id"], ALICE.to_string());
    let typed: poise::serenity_prelude::GuildScheduledEventUserAddEvent =
        serde_json::from_value(add["d"].clone()).expect("serenity reads USER_ADD");
    assert_eq!(typed.scheduled_event_id.get(), event_id);
    assert_eq!(add["d"]["guild_scheduled_event_id"], ev["id"]);
    sim.unmark_interested(GUILD, event_id, ALICE).await.unwrap();
    let remove = gw.dispatch("GUILD_SCHEDULED_EVENT_USER_REMOVE").await;
    assert_eq!(remove["d"]["user_id"], ALICE.to_string());
    assert_eq!(
        sim.scheduled_event(GUILD, event_id).unwrap()["user_count"],
        0
    );
}

#[tokio::test]
async fn scheduled_event_dispatches_need_their_intent() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let (mut without, _) = RawGateway::ready_with_intents(&sim, 1).await;
    let (mut with, _) = RawGateway::ready(&sim).await;
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
    with.dispatch("GUILD_SCHEDULED_EVENT_CREATE").await;
    // A heartbeat's ACK is the next thing the intent-less client sees: no event came first.
    without.send(json!({"op": 1, "d": null})).await;
    loop {
        let v = without.recv().await.unwrap();
        assert_ne!(v["t"], "GUILD_SCHEDULED_EVENT_CREATE", "{}", ev["id"]);
        if v["op"] == 11 {
            break;
        }
    }
}

#[tokio::test]
async fn member_and_role_changes_are_dispatched_in_serenity_shape() {
    use poise::serenity_prelude as serenity;
    use serde_json::from_value;
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let intents = discord_sim::INTENT_GUILDS | discord_sim::INTENT_GUILD_MEMBERS;
    let (mut gw, ready) = RawGateway::ready_with_intents(&sim, intents).await;
    from_value::<serenity::Ready>(ready["d"].clone()).expect("READY deserializes");
    let create = gw.dispatch("GUILD_CREATE").await;
    from_value::<serenity::Guild>(create["d"].clone()).expect("GUILD_CREATE deserializes");

    sim.add_member(GUILD, discord_sim::UserSpec::new(42, "dave"), &[]);
    let add = gw.dispatch("GUILD_MEMBER_ADD").await;
    let add: serenity::GuildMemberAddEvent = from_value(add["d"].clone()).unwrap();
    assert_eq!(
        (add.member.user.id.get(), add.member.guild_id.get()),
        (42, GUILD)
    );

    sim.set_member_roles(GUILD, 42, &[MOD_ROLE]).unwrap();
    let update = gw.dispatch("GUILD_MEMBER_UPDATE").await;
    let update: serenity::GuildMemberUpdateEvent = from_value(update["d"].clone()).unwrap();
    assert_eq!(update.roles, vec![serenity::RoleId::new(MOD_ROLE)]);

    sim.add_role(GUILD, discord_sim::RoleSpec::new(77, "Guests", 0, 2));
    let role = gw.dispatch("GUILD_ROLE_CREATE").await;
    let role: serenity::GuildRoleCreateEvent = from_value(role["d"].clone()).unwrap();
    assert_eq!(role.role.name, "Guests");

    sim.remove_member(GUILD, 42).unwrap();
    let remove = gw.dispatch("GUILD_MEMBER_REMOVE").await;
    let remove: serenity::GuildMemberRemoveEvent = from_value(remove["d"].clone()).unwrap();
    assert_eq!(remove.user.id.get(), 42);
    let (status, _, _) = call(&sim, "GET", &format!("/guilds/{GUILD}/members/42"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn members_events_are_withheld_without_the_privileged_intent() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let (mut gw, _) = RawGateway::ready_with_intents(&sim, discord_sim::INTENT_GUILDS).await;
    gw.dispatch("GUILD_CREATE").await;
    sim.add_member(GUILD, discord_sim::UserSpec::new(42, "dave"), &[]);
    gw.send(json!({"op": 1, "d": null})).await;
    let next = gw.recv().await.unwrap();
    assert_eq!(next["op"], 11, "no GUILD_MEMBER_ADD before the ACK: {next}");
}

#[tokio::test]
async fn interactions_follow_the_shard_and_reach_every_session_on_it() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    register(&sim, json!([{"name": "meet", "description": "d"}])).await;
    let token = format!("Bot {}", sim.bot_token());
    let shard_of_guild = (GUILD >> 22) % 2;
    let mut clients = Vec::new();
    for shard in [shard_of_guild, shard_of_guild, 1 - shard_of_guild] {
        let mut gw = RawGateway::connect(&sim).await;
        gw.recv().await.unwrap();
        gw.send(json!({"op": 2, "d": {"token": token, "intents": 1, "shard": [shard, 2]}}))
            .await;
        let ready = gw.dispatch("READY").await;
        assert_eq!(ready["d"]["shard"], json!([shard, 2]));
        clients.push(gw);
    }
    let i = sim
        .invoke_command(GUILD, CHANNEL, ALICE, "meet", json!([]))
        .await
        .unwrap();
    for gw in clients.iter_mut().take(2) {
        assert_eq!(
            gw.dispatch("INTERACTION_CREATE").await["d"]["token"],
            i.token
        );
    }
    let other = &mut clients[2];
    other.send(json!({"op": 1, "d": null})).await;
    assert_eq!(
        other.recv().await.unwrap()["op"],
        11,
        "the other shard gets nothing"
    );
}
