//! serenity's own HTTP client deserializes every answer the simulator gives.

mod common;

use common::*;
use discord_sim::{SimOptions, Simulator};
use poise::serenity_prelude as serenity;
use serenity::{ChannelId, GuildId, Timestamp, UserId};

async fn http_for(sim: &Simulator) -> serenity::Http {
    let http = serenity::HttpBuilder::new(sim.bot_token())
        .proxy(sim.base_url())
        .ratelimiter_disabled(true)
        .application_id(serenity::ApplicationId::new(sim.application_id()))
        .build();
    http
}

#[tokio::test]
async fn identity_gateway_and_application_answers_deserialize() {
    let sim = Simulator::start(SimOptions::default()).await;
    let http = http_for(&sim).await;
    assert_eq!(
        http.get_current_user().await.unwrap().id.get(),
        sim.bot_user_id()
    );
    assert_eq!(http.get_gateway().await.unwrap().url, sim.gateway_url());
    assert_eq!(http.get_bot_gateway().await.unwrap().shards, 1);
    let app = http.get_current_application_info().await.unwrap();
    assert_eq!(app.id.get(), sim.application_id());
    assert!(sim.unhandled_routes().is_empty());
}

#[tokio::test]
async fn guild_role_channel_and_member_answers_deserialize() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let http = http_for(&sim).await;
    let g = GuildId::new(GUILD);
    assert_eq!(
        g.to_partial_guild(&http).await.unwrap().owner_id.get(),
        OWNER
    );
    let roles = http.get_guild_roles(g).await.unwrap();
    assert!(roles
        .iter()
        .any(|r| r.id.get() == MOD_ROLE && r.permissions.administrator()));
    assert_eq!(http.get_channels(g).await.unwrap()[0].name, "general");
    let ch = http.get_channel(ChannelId::new(CHANNEL)).await.unwrap();
    assert_eq!(ch.guild().unwrap().name, "general");
    let alice = http.get_member(g, UserId::new(ALICE)).await.unwrap();
    assert_eq!(alice.user.global_name.as_deref(), Some("Alice"));
    assert_eq!(alice.roles[0].get(), MOD_ROLE);
    let page = http
        .get_guild_members(g, Some(2), Some(OWNER))
        .await
        .unwrap();
    let ids: Vec<u64> = page.iter().map(|m| m.user.id.get()).collect();
    assert_eq!(ids, vec![ALICE, BOB]);
    let bob = UserId::new(BOB).to_user(&http).await.unwrap();
    assert_eq!(bob.name, "bob");
    let guilds = http.get_guilds(None, None).await.unwrap();
    assert_eq!(guilds[0].name, "Sim guild");
    assert!(!guilds[0].owner);
    assert!(http
        .get_user(UserId::new(42))
        .await
        .unwrap_err()
        .to_string()
        .contains("Unknown User"));
    let missing = http.get_member(g, UserId::new(42)).await.unwrap_err();
    assert!(missing.to_string().contains("Unknown Member"));
}

#[tokio::test]
async fn messages_and_dms_round_trip_through_serenity() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let http = http_for(&sim).await;
    let button = serenity::CreateButton::new("join").label("Join");
    let msg = ChannelId::new(CHANNEL)
        .send_message(
            &http,
            serenity::CreateMessage::new()
                .content("meeting")
                .components(vec![serenity::CreateActionRow::Buttons(vec![button])]),
        )
        .await
        .unwrap();
    assert_eq!(msg.content, "meeting");
    assert_eq!(msg.author.id.get(), sim.bot_user_id());
    let edited = ChannelId::new(CHANNEL)
        .edit_message(&http, msg.id, serenity::EditMessage::new().content("moved"))
        .await
        .unwrap();
    assert_eq!(edited.content, "moved");
    let fetched = http
        .get_message(ChannelId::new(CHANNEL), msg.id)
        .await
        .unwrap();
    assert_eq!(fetched.components.len(), 1);

    let dm = UserId::new(ALICE).create_dm_channel(&http).await.unwrap();
    assert_eq!(dm.recipient.id.get(), ALICE);
    dm.id.say(&http, "hello").await.unwrap();
    assert!(matches!(
        http.get_channel(dm.id).await.unwrap(),
        serenity::Channel::Private(_)
    ));
    assert_eq!(sim.dms_to(ALICE)[0]["content"], "hello");
}

#[tokio::test]
async fn scheduled_events_round_trip_through_serenity() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let http = http_for(&sim).await;
    let g = GuildId::new(GUILD);
    let start = Timestamp::parse("2030-01-01T10:00:00Z").unwrap();
    let end = Timestamp::parse("2030-01-01T11:00:00Z").unwrap();
    let create = serenity::CreateScheduledEvent::new(
        serenity::ScheduledEventType::External,
        "Standup",
        start,
    )
    .end_time(end)
    .location("https://meet.example/room");
    let ev = g.create_scheduled_event(&http, create).await.unwrap();
    assert_eq!(ev.status, serenity::ScheduledEventStatus::Scheduled);
    let edit = serenity::EditScheduledEvent::new().status(serenity::ScheduledEventStatus::Active);
    let ev = g.edit_scheduled_event(&http, ev.id, edit).await.unwrap();
    assert_eq!(ev.status, serenity::ScheduledEventStatus::Active);
    sim.mark_interested(GUILD, ev.id.get(), ALICE)
        .await
        .unwrap();
    let users = g
        .scheduled_event_users(&http, ev.id, Some(100))
        .await
        .unwrap();
    assert_eq!(users[0].user.id.get(), ALICE);
    assert_eq!(g.scheduled_events(&http, true).await.unwrap().len(), 1);
    g.delete_scheduled_event(&http, ev.id).await.unwrap();
    assert!(sim.scheduled_event(GUILD, ev.id.get()).is_none());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[tokio::test]
async fn global_commands_are_stored_with_ids() {
    let sim = Simulator::start(SimOptions::default()).await;
    let http = http_for(&sim).await;
    let cmd = serenity::CreateCommand::new("meet").description("Start a meeting");
    let stored = serenity::Command::set_global_commands(&http, vec![cmd.clone()])
        .await
        .unwrap();
    let again = serenity::Command::set_global_commands(&http, vec![cmd])
        .await
        .unwrap();
    assert_eq!(
        stored[0].id, again[0].id,
        "bulk overwrite keeps ids of unchanged names"
    );
    let listed = serenity::Command::get_global_commands(&http).await.unwrap();
    assert_eq!(listed[0].name, "meet");
}

#[tokio::test]
async fn global_429_reaches_serenity_as_an_error() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let http = http_for(&sim).await;
    sim.rate_limit_next("POST", "/channels/*/messages", 0.5, true);
    let err = ChannelId::new(CHANNEL).say(&http, "x").await.unwrap_err();
    match err {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(e)) => {
            assert_eq!(e.status_code.as_u16(), 429)
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(sim.count_429(), 1);
}
