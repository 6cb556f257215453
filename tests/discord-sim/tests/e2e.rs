//! The real serenity + poise client driven end to end against the simulator.

use std::sync::Arc;
use std::time::Duration;

use discord_sim::{RoleSpec, SimOptions, Simulator, UserSpec, ADMINISTRATOR};
use poise::serenity_prelude as serenity;
use serde_json::json;

const GUILD: u64 = 100_000_000_000_000_001;
const CHANNEL: u64 = 100_000_000_000_000_002;
const MOD_ROLE: u64 = 100_000_000_000_000_003;
const OWNER: u64 = 200_000_000_000_000_001;
const ALICE: u64 = 200_000_000_000_000_002;
const BOB_CLOSED_DMS: u64 = 200_000_000_000_000_003;
const WAIT: Duration = Duration::from_secs(4);

struct Data;
type Error = Box<dyn std::error::Error + Send + Sync>;
type Context<'a> = poise::ApplicationContext<'a, Data, Error>;

/// Defers ephemerally, then edits the reply to echo the option with a button.
#[poise::command(slash_command)]
async fn ping(
    ctx: Context<'_>,
    #[description = "Text to echo"] text: Option<String>,
) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    let is_mod = ctx
        .author_member()
        .await
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.administrator());
    let content = format!("pong {} (admin: {is_mod})", text.unwrap_or_default());
    let button = serenity::CreateButton::new("ping-again").label("Again");
    let edit = serenity::EditInteractionResponse::new()
        .content(content)
        .components(vec![serenity::CreateActionRow::Buttons(vec![button])]);
    ctx.interaction.edit_response(ctx.http(), edit).await?;
    Ok(())
}

/// DMs the chosen user and reports the outcome in the deferred reply.
#[poise::command(slash_command)]
async fn notify(
    ctx: Context<'_>,
    #[description = "Who to DM"] user: serenity::User,
) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    let dm = user.id.create_dm_channel(ctx.http()).await?;
    let outcome = match dm.id.say(ctx.http(), "You are invited").await {
        Ok(_) => "sent".to_string(),
        Err(serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(e))) => {
            format!("failed {}", e.error.code)
        }
        Err(e) => return Err(e.into()),
    };
    let edit = serenity::EditInteractionResponse::new().content(outcome);
    ctx.interaction.edit_response(ctx.http(), edit).await?;
    Ok(())
}

async fn complete_room(_ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let choices = ["alpha", "beta", "bravo", "gamma"]
        .into_iter()
        .filter(|r| r.starts_with(partial))
        .map(|r| serenity::AutocompleteChoice::new(r, r))
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Picks a room with autocomplete and answers immediately.
#[poise::command(slash_command)]
async fn pick(
    ctx: Context<'_>,
    #[description = "Room"]
    #[autocomplete = "complete_room"]
    room: String,
) -> Result<(), Error> {
    poise::say_reply(poise::Context::Application(ctx), format!("picked {room}")).await?;
    Ok(())
}

/// Asks the gateway for the guild's members; the chunk handler reports the count.
#[poise::command(slash_command)]
async fn count(ctx: Context<'_>) -> Result<(), Error> {
    let guild = ctx.interaction.guild_id.ok_or("no guild")?;
    ctx.serenity_context().shard.chunk_guild(
        guild,
        None,
        false,
        serenity::ChunkGuildFilter::None,
        None,
    );
    poise::say_reply(poise::Context::Application(ctx), "counting").await?;
    Ok(())
}

async fn on_event(ctx: &serenity::Context, event: &serenity::FullEvent) -> Result<(), Error> {
    if let serenity::FullEvent::InteractionCreate {
        interaction: serenity::Interaction::Component(c),
    } = event
    {
        let msg = serenity::CreateInteractionResponseMessage::new()
            .content(format!("clicked {}", c.data.custom_id))
            .components(vec![]);
        c.create_response(ctx, serenity::CreateInteractionResponse::UpdateMessage(msg))
            .await?;
    }
    if let serenity::FullEvent::GuildMembersChunk { chunk } = event {
        let cached = ctx
            .cache
            .guild(chunk.guild_id)
            .map_or(0, |g| g.members.len());
        let text = format!("chunk {} members, cache {cached}", chunk.members.len());
        serenity::ChannelId::new(CHANNEL).say(ctx, text).await?;
    }
    Ok(())
}

fn world(sim: &Simulator) {
    sim.add_guild(GUILD, "Sim guild", OWNER);
    sim.add_role(
        GUILD,
        RoleSpec::new(MOD_ROLE, "Moderator", ADMINISTRATOR, 1),
    );
    sim.add_text_channel(GUILD, CHANNEL, "general");
    sim.add_member(GUILD, UserSpec::new(OWNER, "owner"), &[]);
    sim.add_member(
        GUILD,
        UserSpec::new(ALICE, "alice").global_name("Alice"),
        &[MOD_ROLE],
    );
    sim.add_member(GUILD, UserSpec::new(BOB_CLOSED_DMS, "bob"), &[]);
    sim.close_dms(BOB_CLOSED_DMS);
}

struct Bot {
    shard_manager: Arc<serenity::ShardManager>,
    http: Arc<serenity::Http>,
    run: tokio::task::JoinHandle<Result<(), serenity::Error>>,
}

async fn start_bot(sim: &Simulator, token: &str) -> Bot {
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: vec![ping(), notify(), pick(), count()],
            initialize_owners: false,
            event_handler: |fw, event| Box::pin(on_event(fw.serenity_context, event)),
            ..Default::default()
        })
        .setup(|ctx, _ready, framework| {
            Box::pin(async move {
                let guild = serenity::GuildId::new(GUILD);
                poise::builtins::register_in_guild(ctx, &framework.options().commands, guild)
                    .await?;
                Ok(Data)
            })
        })
        .build();
    let http = serenity::HttpBuilder::new(token)
        .proxy(sim.base_url())
        .ratelimiter_disabled(true)
        .build();
    let mut client =
        serenity::ClientBuilder::new_with_http(http, serenity::GatewayIntents::non_privileged())
            .framework(framework)
            .await
            .expect("client builds");
    let shard_manager = client.shard_manager.clone();
    let http = client.http.clone();
    let run = tokio::spawn(async move { client.start().await });
    Bot {
        shard_manager,
        http,
        run,
    }
}

async fn ready_sim() -> (Simulator, Bot) {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let bot = start_bot(&sim, "sim-bot-token").await;
    sim.wait_for_requests("PUT", "/applications/*/guilds/*/commands", 1, WAIT)
        .await
        .expect("bot registers its commands");
    (sim, bot)
}

async fn stop(sim: &Simulator, bot: Bot) {
    bot.shard_manager.shutdown_all().await;
    let result = tokio::time::timeout(WAIT, bot.run)
        .await
        .expect("client stops")
        .expect("task joins");
    assert!(result.is_ok(), "client ended with {result:?}");
    sim.wait_for_disconnect(WAIT).await.expect("gateway closed");
    assert_eq!(
        sim.gateway_close_frames(),
        1,
        "the client said goodbye with a close frame"
    );
}

#[tokio::test]
async fn bot_registers_guild_commands_with_options_at_startup() {
    let (sim, bot) = ready_sim().await;
    let ident = sim.identifies();
    assert_eq!(ident.len(), 1);
    assert!(ident[0].token_accepted);
    assert_eq!(
        ident[0].intents,
        serenity::GatewayIntents::non_privileged().bits()
    );
    let put = &sim.requests_matching("PUT", "/applications/*/guilds/*/commands")[0];
    assert_eq!(
        put.path,
        format!(
            "/applications/{}/guilds/{GUILD}/commands",
            sim.application_id()
        )
    );
    assert_eq!(put.header("authorization"), Some("Bot sim-bot-token"));
    assert_eq!(put.status, 200);
    let names: Vec<_> = sim
        .registered_commands(Some(GUILD))
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![
            json!("ping"),
            json!("notify"),
            json!("pick"),
            json!("count")
        ]
    );
    assert_eq!(put.body.as_ref().unwrap()[0]["options"][0]["name"], "text");
    stop(&sim, bot).await;
    assert!(
        sim.unhandled_routes().is_empty(),
        "{:?}",
        sim.unhandled_routes()
    );
}

#[tokio::test]
async fn command_defers_ephemerally_then_edits_and_button_click_updates_message() {
    let (sim, bot) = ready_sim().await;
    let i = sim
        .invoke_command(
            GUILD,
            CHANNEL,
            ALICE,
            "ping",
            json!([{"name": "text", "type": 3, "value": "hi"}]),
        )
        .await
        .unwrap();
    sim.wait_for_request(
        |r| r.method == "PATCH" && r.path.ends_with("/messages/@original"),
        WAIT,
    )
    .await
    .expect("reply edited");
    let responses = sim.interaction_responses(&i.token);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].body["type"], 5);
    assert_eq!(responses[0].body["data"]["flags"], 64);
    assert_eq!(responses[1].kind, discord_sim::ResponseKind::EditOriginal);
    assert_eq!(responses[1].body["content"], "pong hi (admin: true)");

    let original = sim.original_message_id(&i.token).expect("original exists");
    let msg = sim.message(original).unwrap();
    assert_eq!(msg["flags"], 64, "ephemeral, no longer loading");
    assert_eq!(
        msg["components"][0]["components"][0]["custom_id"],
        "ping-again"
    );

    let click = sim
        .click_button(original, CHANNEL, ALICE, "ping-again")
        .await
        .unwrap();
    sim.wait_for_request(
        |r| r.path.starts_with(&format!("/interactions/{}/", click.id)),
        WAIT,
    )
    .await
    .expect("click answered");
    let answers = sim.interaction_responses(&click.token);
    assert_eq!(answers[0].body["type"], 7);
    assert_eq!(
        sim.message(original).unwrap()["content"],
        "clicked ping-again"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    stop(&sim, bot).await;
    assert!(
        sim.unhandled_routes().is_empty(),
        "{:?}",
        sim.unhandled_routes()
    );
}

#[tokio::test]
async fn member_without_admin_role_is_not_admin_in_interaction() {
    let (sim, bot) = ready_sim().await;
    let i = sim
        .invoke_command(GUILD, CHANNEL, BOB_CLOSED_DMS, "ping", json!([]))
        .await
        .unwrap();
    sim.wait_for_request(
        |r| r.method == "PATCH" && r.path.ends_with("/@original"),
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(
        sim.interaction_responses(&i.token)[1].body["content"],
        "pong  (admin: false)"
    );
    stop(&sim, bot).await;
}

#[tokio::test]
async fn dm_to_user_with_closed_dms_is_refused_with_50007() {
    let (sim, bot) = ready_sim().await;
    let opts = |u: u64| json!([{"name": "user", "type": 6, "value": u.to_string()}]);
    let ok = sim
        .invoke_command(GUILD, CHANNEL, OWNER, "notify", opts(ALICE))
        .await
        .unwrap();
    sim.wait_for_request(|r| r.method == "PATCH" && r.path.contains(&ok.token), WAIT)
        .await
        .unwrap();
    assert_eq!(
        sim.interaction_responses(&ok.token)[1].body["content"],
        "sent"
    );
    assert_eq!(sim.dms_to(ALICE)[0]["content"], "You are invited");

    let refused = sim
        .invoke_command(GUILD, CHANNEL, OWNER, "notify", opts(BOB_CLOSED_DMS))
        .await
        .unwrap();
    sim.wait_for_request(
        |r| r.method == "PATCH" && r.path.contains(&refused.token),
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(
        sim.interaction_responses(&refused.token)[1].body["content"],
        "failed 50007"
    );
    assert!(sim.dms_to(BOB_CLOSED_DMS).is_empty());
    let posts = sim.requests_matching("POST", "/channels/*/messages");
    assert_eq!(
        posts.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 403]
    );
    let dm_opens = sim.requests_matching("POST", "/users/@me/channels");
    assert_eq!(dm_opens.len(), 2);
    stop(&sim, bot).await;
}

#[tokio::test]
async fn forced_rate_limit_answers_429_with_retry_after_then_recovers() {
    let (sim, bot) = ready_sim().await;
    sim.rate_limit_next("GET", "/guilds/*", 2.5, false);
    let client = reqwest::Client::new();
    let url = format!("{}/api/v10/guilds/{GUILD}", sim.base_url());
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 429);
    assert_eq!(first.headers()["retry-after"], "3");
    assert_eq!(first.headers()["x-ratelimit-global"], "false");
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": 2.5, "global": false})
    );
    // The same route through serenity now succeeds: the fault was used up.
    let guild = bot
        .http
        .get_guild(serenity::GuildId::new(GUILD))
        .await
        .unwrap();
    assert_eq!(guild.name, "Sim guild");
    assert_eq!(sim.count_429(), 1);
    stop(&sim, bot).await;
}

#[tokio::test]
async fn autocomplete_offers_matching_choices_then_command_answers() {
    let (sim, bot) = ready_sim().await;
    let typed = json!([{"name": "room", "type": 3, "value": "b", "focused": true}]);
    let ac = sim
        .autocomplete(GUILD, CHANNEL, ALICE, "pick", typed)
        .await
        .unwrap();
    sim.wait_for_request(|r| r.path.contains(&ac.token), WAIT)
        .await
        .unwrap();
    let answer = &sim.interaction_responses(&ac.token)[0].body;
    assert_eq!(answer["type"], 8);
    let names: Vec<_> = answer["data"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("beta"), json!("bravo")]);

    let chosen = json!([{"name": "room", "type": 3, "value": "bravo"}]);
    let run = sim
        .invoke_command(GUILD, CHANNEL, ALICE, "pick", chosen)
        .await
        .unwrap();
    sim.wait_for_request(|r| r.path.contains(&run.token), WAIT)
        .await
        .unwrap();
    let reply = &sim.interaction_responses(&run.token)[0].body;
    assert_eq!(reply["type"], 4);
    assert_eq!(reply["data"]["content"], "picked bravo");
    stop(&sim, bot).await;
}

#[tokio::test]
async fn requested_member_chunk_fills_serenity_cache() {
    let (sim, bot) = ready_sim().await;
    sim.invoke_command(GUILD, CHANNEL, OWNER, "count", json!([]))
        .await
        .unwrap();
    let post = sim
        .wait_for_request(
            |r| r.method == "POST" && r.path == format!("/channels/{CHANNEL}/messages"),
            WAIT,
        )
        .await
        .unwrap();
    // GUILD_CREATE carried only the bot; the chunk brings all four members.
    assert_eq!(post.body.unwrap()["content"], "chunk 4 members, cache 4");
    stop(&sim, bot).await;
}

#[tokio::test]
async fn client_with_wrong_token_is_closed_with_4004() {
    let sim = Simulator::start(SimOptions::default()).await;
    world(&sim);
    let bot = start_bot(&sim, "not-the-token").await;
    let result = tokio::time::timeout(WAIT, bot.run)
        .await
        .expect("client gives up")
        .unwrap();
    assert!(result.is_err());
    let ident = sim.identifies();
    assert_eq!(ident.len(), 1);
    assert!(!ident[0].token_accepted);
    // The gateway lookup must succeed even with a bad token, or serenity would leave loopback.
    assert_eq!(sim.requests_matching("GET", "/gateway")[0].status, 200);
    assert!(sim.requests_matching("PUT", "**").is_empty());
}
