//! Connecting to Discord: the poise framework, the gateway client, registration, and graceful shutdown.

use super::custom_ids::{self, JoinSigner};
use super::executor::DiscordExecutor;
use super::http::{Lane, Pacer, RestClient, RestError};
use super::inflight::InFlight;
use super::registration::{self, Synced};
use super::{buttons, commands, identify, Data, Error};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, RegisterOnStart};
use crate::jitsi::Minter;
use crate::schedule::runner::{Scheduler, SchedulerOptions};
use crate::secret::Secret;
use crate::store::{BudgetOptions, DbClock, Store};
use poise::serenity_prelude as serenity;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the offset to the database's clock is measured again.
const CLOCK_REFRESH: Duration = Duration::from_secs(60);

/// Why the bot could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// No DISCORD_TOKEN.
    #[error("DISCORD_TOKEN is not set; create a bot in the Discord Developer Portal (Application → Bot → Reset Token) and put its token in .env")]
    NoToken,
    /// Discord refused the token.
    #[error("Discord refused DISCORD_TOKEN (it may have been reset); copy a fresh one from the Developer Portal")]
    BadToken,
    /// The gateway asked for a privileged intent the application does not have.
    #[error("Discord refused the gateway intents the bot asked for; check Bot → Privileged Gateway Intents in the Developer Portal")]
    DisallowedIntents,
    /// The signing key cannot be used.
    #[error("the Jitsi signing key cannot be used: {0}")]
    Jitsi(String),
    /// Our REST client could not be built.
    #[error("cannot set up the Discord REST client: {0}")]
    Rest(String),
    /// Discord (or the configured API base) did not answer.
    #[error("cannot reach Discord at {base}: {cause}")]
    Unreachable {
        /// The REST base URL.
        base: String,
        /// What went wrong.
        cause: String,
    },
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Store(String),
    /// The master key does not fit the database (missing or wrong `MEETBOT_MASTER_KEY`).
    #[error("{0}")]
    MasterKey(String),
    /// The HTTP listener could not be started (`http.listen`).
    #[error("cannot start the HTTP listener (http.listen): {0}")]
    Http(String),
    /// Anything else from serenity.
    #[error("Discord connection failed: {0}")]
    Serenity(String),
}

/// Intents: only what the features need — Guilds (roles and channels for the cache), nothing privileged. Role
/// members are listed over REST, which needs the Server Members switch in the Developer Portal but not the
/// gateway intent, so the bot never receives the member events it has no use for.
pub fn intents(_config: &Config) -> serenity::GatewayIntents {
    serenity::GatewayIntents::GUILDS
}

fn build_http(config: &Config, token: &Secret) -> serenity::Http {
    let mut b = serenity::HttpBuilder::new(token.expose());
    if let Some(base) = &config.discord.api_base {
        // serenity honours a proxy only with its own limiter off; our RestClient paces what we send.
        b = b
            .proxy(base.as_str().trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    b.build()
}

/// A running bot.
pub struct BotHandle {
    shutdown_tx: watch::Sender<bool>,
    shard_manager: Arc<serenity::ShardManager>,
    task: tokio::task::JoinHandle<Result<(), BotError>>,
    inflight: Arc<InFlight>,
    scheduler: Arc<Scheduler>,
    scheduler_task: Option<tokio::task::JoinHandle<()>>,
    store: Store,
    listener: Option<super::listener::Listener>,
    live: super::live::LiveService,
    live_task: tokio::task::JoinHandle<()>,
    shards: (std::ops::RangeInclusive<u32>, u32),
}

/// How to start the bot; tests pass a manual clock and tick the scheduler themselves.
pub struct StartOptions {
    /// The time source.
    pub clock: SharedClock,
    /// Run the scheduler loop in the background (tests call [`BotHandle::tick_scheduler`] instead).
    pub run_scheduler: bool,
    /// An already opened store (tests); `None` opens the configured database.
    pub store: Option<Store>,
    /// Read the time off the database's clock (through `clock`, see [`DbClock`](crate::store::DbClock)), so every
    /// process judges leases, due times and cooldowns alike whatever its own clock says. Tests that drive a manual
    /// clock for every process at once turn it off.
    pub database_clock: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            run_scheduler: true,
            store: None,
            database_clock: true,
        }
    }
}

impl BotHandle {
    /// Stops taking new work, lets in-flight deliveries finish (DMs not yet started are reported as not sent),
    /// then closes the gateway.
    pub async fn shutdown(self) -> Result<(), BotError> {
        let _ = self.shutdown_tx.send(true);
        if !self.inflight.wait_idle(Duration::from_secs(20)).await {
            tracing::warn!(
                "shutting down with commands still running; their unsent DMs are logged above"
            );
        }
        if let Some(t) = self.scheduler_task {
            // Claimed-but-unstarted jobs are released by the loop; running ones finish.
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
        self.shard_manager.shutdown_all().await;
        if let Some(l) = self.listener {
            // The listener saw the shutdown signal; requests under way get a moment to finish.
            let _ = tokio::time::timeout(Duration::from_secs(5), l.task).await;
        }
        // Live edits already queued go out (paced); what does not make it is redone by the next start's sweep.
        self.live.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.live_task).await;
        self.store.close().await;
        match tokio::time::timeout(Duration::from_secs(10), self.task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(BotError::Serenity(e.to_string())),
            Err(_) => Ok(()),
        }
    }

    /// Runs one scheduler tick now (tests drive time with a manual clock).
    pub async fn tick_scheduler(
        &self,
    ) -> Result<crate::schedule::runner::TickReport, crate::store::StoreError> {
        self.scheduler.tick().await
    }

    /// Sweeps the store for live steps due without an event and (with `recover`) every live post, as the
    /// background loop does; tests drive it with a manual clock. Returns how many occurrences were queued.
    pub async fn sweep_live(&self, recover: bool) -> Result<usize, crate::store::StoreError> {
        self.live.sweep(recover).await
    }

    /// How many occurrences have a live update waiting to go out.
    pub fn live_waiting(&self) -> usize {
        self.live.waiting()
    }

    /// Where the HTTP listener listens, when one is configured.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.as_ref().map(|l| l.addr)
    }

    /// The gateway shards this process runs, and the total over all processes.
    pub fn shards(&self) -> (std::ops::RangeInclusive<u32>, u32) {
        self.shards.clone()
    }

    /// The name this process's scheduler holds job leases under.
    pub fn scheduler_owner(&self) -> &str {
        self.scheduler.owner()
    }

    /// The database the bot uses.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until the client stops on its own (an error, or the gateway closing for good).
    pub async fn wait(&mut self) -> Result<(), BotError> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(BotError::Serenity(e.to_string())),
        }
    }
}

/// Starts the bot in the background with the system clock.
pub async fn start(config: Config) -> Result<BotHandle, BotError> {
    start_with(config, StartOptions::default()).await
}

/// Starts the bot in the background; the clock is passed in so tests can set the time.
pub async fn start_with(config: Config, opts: StartOptions) -> Result<BotHandle, BotError> {
    let clock = opts.clock;
    let token = config.discord.token.clone().ok_or(BotError::NoToken)?;
    crate::config::check_discord_token_shape(token.expose()).map_err(|_| BotError::BadToken)?;
    let minter = Minter::new(config.jitsi.clone()).map_err(|e| BotError::Jitsi(e.to_string()))?;
    let rest = RestClient::new(
        &config.discord.api_base_str(),
        token.clone(),
        config.discord.requests_per_second,
    )
    .map_err(|e| BotError::Rest(e.to_string()))?;
    // Ask for the gateway ourselves first: serenity, when its own lookup fails, silently falls back to Discord's
    // public gateway, which is wrong with a proxy base and hides a bad token or base URL behind endless retries.
    let gateway = match rest
        .request(reqwest::Method::GET, "/gateway/bot", None)
        .await
    {
        Ok(v) => v,
        Err(RestError::Unauthorized) => return Err(BotError::BadToken),
        Err(e) => {
            return Err(BotError::Unreachable {
                base: config.discord.api_base_str(),
                cause: e.to_string(),
            })
        }
    };
    let recommended = gateway["shards"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1);
    let max_concurrency = gateway["session_start_limit"]["max_concurrency"]
        .as_u64()
        .unwrap_or(1);
    let (shards, total_shards) = config.discord.shards.resolve(recommended);
    if total_shards < recommended {
        tracing::warn!(
            total_shards,
            recommended,
            "fewer shards than Discord recommends; Discord refuses too few shards (close code 4011)"
        );
    }
    // serenity identifies this process's shards five seconds apart; across processes they take turns (identify.rs).
    tracing::info!(
        first = shards.start(),
        last = shards.end(),
        total_shards,
        recommended,
        max_concurrency,
        "gateway shards of this process"
    );
    let store = match opts.store {
        Some(s) => s,
        None => Store::open(config.storage.database_url.expose())
            .await
            .map_err(|e| BotError::Store(e.to_string()))?,
    };
    let clock: SharedClock = if opts.database_clock {
        DbClock::start(store.clone(), clock, CLOCK_REFRESH)
            .await
            .map_err(|e| BotError::Store(e.to_string()))?
    } else {
        clock
    };
    // On PostgreSQL every process of this bot token draws its global slots from one budget in the database.
    let rest = if store.backend_name() == "postgres" {
        let pace = config.discord.requests_per_second;
        let budget = store.global_budget(
            &crate::store::bucket_for_token(token.expose()),
            BudgetOptions::new(pace),
        );
        RestClient::with_pacer(
            &config.discord.api_base_str(),
            token.clone(),
            Arc::new(Pacer::shared(pace, budget)),
        )
        .map_err(|e| BotError::Rest(e.to_string()))?
    } else {
        rest
    };
    let rest = rest.with_dm_store(store.clone(), clock.clone());
    // A missing or wrong master key while sealed data exists stops the start: never a plaintext fallback.
    let tenants =
        crate::tenant::Tenants::start(store.clone(), config.master_key.clone(), clock.clone())
            .await
            .map_err(|e| BotError::MasterKey(e.to_string()))?;
    let fetcher = crate::fetch::SafeFetcher::new(config.fetch.clone())
        .map_err(|e| BotError::Http(e.to_string()))?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut stop = shutdown_rx.clone();
    let inflight = Arc::new(InFlight::default());
    let config = Arc::new(config);
    let minter = Arc::new(minter);
    let minters = Arc::new(super::minters::ServerMinters {
        default: minter.clone(),
        tenants: Arc::new(tenants),
        has_default: config.default_jitsi,
    });
    let rest = Arc::new(rest);
    let executor = DiscordExecutor::new(
        // Scheduled work takes the slots that commands leave.
        Arc::new(rest.in_lane(Lane::Bulk)),
        store.clone(),
        minters.clone(),
        config.clone(),
        clock.clone(),
        shutdown_rx.clone(),
    );
    let scheduler = Arc::new(Scheduler::new(
        store.clone(),
        Arc::new(executor),
        clock.clone(),
        Scheduler::unique_owner(),
        SchedulerOptions {
            lease: config.scheduler.lease,
            max_sleep: config.scheduler.poll,
            concurrency: config.discord.dm_concurrency.max(1),
            ..Default::default()
        },
    ));
    let readiness = crate::web::Readiness::new();
    // What the listener learns from Jitsi reaches the posts and the Discord events through the live service.
    let (live, live_task) = super::live::LiveService::start(
        super::live::LiveDiscord::new(
            &rest,
            store.clone(),
            config.clone(),
            clock.clone(),
            crate::meeting::live::LiveTimings::default(),
        ),
        super::live::EDIT_WINDOW,
    );
    let listener = super::listener::start(
        &config,
        &store,
        &clock,
        &readiness,
        Arc::new(live.clone()),
        shutdown_rx.clone(),
    )
    .await
    .map_err(|e| BotError::Http(e.to_string()))?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let scheduler_task = opts
        .run_scheduler
        .then(|| tokio::spawn(scheduler.clone().run(shutdown_rx.clone(), wake.clone())));
    if opts.run_scheduler {
        // Background upkeep beside the scheduler: expired cooldowns, stale DM channels, and what retention says.
        let housekeeping = crate::store::Housekeeping {
            audit_retention: config.storage.audit_retention,
            delivery_retention: config.storage.delivery_retention,
            job_retention: config.storage.job_retention,
            ..Default::default()
        };
        tokio::spawn(crate::store::run_housekeeping(
            store.clone(),
            clock.clone(),
            housekeeping,
            shutdown_rx.clone(),
        ));
        // Live steps due without an event (nobody came, a lost `destroyed`), and edits a restart lost.
        tokio::spawn(live.clone().run(shutdown_rx.clone()));
    }
    let shutdown_rx_for_latency = shutdown_rx.clone();
    let data = Data {
        config: config.clone(),
        minter,
        minters,
        fetcher,
        rest,
        clock,
        shutdown: shutdown_rx,
        join_signer: JoinSigner::new(&token),
        inflight: inflight.clone(),
        store: store.clone(),
        scheduler_wake: wake,
        readiness,
        cooldowns: Arc::new(store.clone()),
    };
    let register = config.discord.register_on_start;
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: commands::all(),
            on_error: |err| Box::pin(on_error(err)),
            event_handler: |fctx, event| Box::pin(on_event(fctx, event)),
            pre_command: |ctx| {
                Box::pin(async move {
                    tracing::debug!(command = %ctx.command().qualified_name, user = ctx.author().id.get(), "command");
                })
            },
            post_command: |ctx| {
                Box::pin(async move {
                    let outcome = ctx
                        .invocation_data::<crate::metrics::CommandOutcome>()
                        .await
                        .map(|o| *o)
                        .unwrap_or(crate::metrics::CommandOutcome::Ok);
                    crate::metrics::command(command_label(&ctx.command().qualified_name), outcome);
                })
            },
            initialize_owners: false,
            // poise lets user mentions ping by default; error replies echo the user's input, so ping nobody.
            allowed_mentions: Some(serenity::CreateAllowedMentions::new()),
            ..Default::default()
        })
        .initialize_owners(false)
        .setup(move |_sctx, ready, framework| {
            Box::pin(async move {
                tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
                let scope = match register {
                    RegisterOnStart::Off => None,
                    RegisterOnStart::Global => Some(None),
                    RegisterOnStart::Guild(g) => Some(Some(g)),
                };
                if let Some(guild) = scope {
                    let desired = serde_json::to_value(poise::builtins::create_application_commands(
                        &framework.options().commands,
                    ))?;
                    let desired = desired.as_array().cloned().unwrap_or_default();
                    match registration::sync(&data.rest, ready.application.id.get(), guild, &desired).await {
                        Ok(Synced::Unchanged) => {
                            tracing::info!(?guild, "slash commands already registered as they are")
                        }
                        Ok(Synced::Written(n)) => tracing::info!(?guild, n, "registered the slash commands"),
                        // The commands registered before still work; the next start tries again.
                        Err(e) => tracing::warn!(error = %e, ?guild, "could not register the slash commands"),
                    }
                }
                Ok(data)
            })
        })
        .build();

    let http = build_http(&config, &token);
    let mut client = serenity::ClientBuilder::new_with_http(http, intents(&config))
        .cache_settings(super::cache::settings())
        .framework(framework)
        .await
        .map_err(|e| BotError::Serenity(e.to_string()))?;
    let shard_manager = client.shard_manager.clone();
    tokio::spawn(report_gateway_latency(
        shard_manager.clone(),
        shutdown_rx_for_latency,
    ));
    let shard_range = shards.clone();
    // Processes sharing PostgreSQL identify in turn; on SQLite this process is the only one.
    let identify_turn = (store.backend_name() == "postgres").then(|| {
        (
            store.clone(),
            crate::store::bucket_for_token(token.expose()),
            max_concurrency,
        )
    });
    let manager = shard_manager.clone();
    let task = tokio::spawn(async move {
        if let Some((store, bot, max_concurrency)) = identify_turn {
            let turn = tokio::select! {
                t = identify::take(&store, &bot, &shard_range, max_concurrency) => t,
                // Stopped while waiting for the turn: nothing was started, nothing to stop.
                _ = stop.wait_for(|s| *s) => return Ok(()),
            };
            if let Some(turn) = turn {
                let n = shard_range.end() - shard_range.start() + 1;
                tokio::spawn(identify::hold_until_identified(turn, manager, n, stop));
            }
        }
        let started = if shard_range == (0..=total_shards - 1) {
            client.start_shards(total_shards).await
        } else {
            // serenity 0.12 takes the range's end as the last shard to run (`start_connection` boots
            // `end - start + 1` shards), not one past it: `0..4` would run five shards, the fifth also run by the
            // next process.
            client
                .start_shard_range(*shard_range.start()..*shard_range.end(), total_shards)
                .await
        };
        started.map_err(|e| match e {
            serenity::Error::Gateway(serenity::GatewayError::InvalidAuthentication) => {
                BotError::BadToken
            }
            serenity::Error::Gateway(serenity::GatewayError::DisallowedGatewayIntents) => {
                BotError::DisallowedIntents
            }
            other => BotError::Serenity(other.to_string()),
        })
    });
    Ok(BotHandle {
        shutdown_tx,
        shard_manager,
        task,
        inflight,
        scheduler,
        scheduler_task,
        store,
        listener,
        live,
        live_task,
        shards: (shards, total_shards),
    })
}

/// The registered name of a command as a metric label: names come from the bot's own command table (made once,
/// kept for the process), never from input; anything else is `other`.
fn command_label(qualified: &str) -> crate::metrics::CommandName {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    // poise fills in subcommands' qualified names only when the framework is built: join the names here.
    fn walk(prefix: &str, cmd: &poise::Command<Data, Error>, out: &mut Vec<&'static str>) {
        let name = if prefix.is_empty() {
            cmd.name.to_string()
        } else {
            format!("{prefix} {}", cmd.name)
        };
        for sub in &cmd.subcommands {
            walk(&name, sub, out);
        }
        out.push(Box::leak(name.into_boxed_str()));
    }
    let names = NAMES.get_or_init(|| {
        let mut out = Vec::new();
        for cmd in commands::all() {
            walk("", &cmd, &mut out);
        }
        out
    });
    let name = names
        .iter()
        .find(|n| **n == qualified)
        .copied()
        .unwrap_or("other");
    crate::metrics::CommandName::new(name)
}

/// How often the gateway's heartbeat latency is copied into the metrics.
const LATENCY_EVERY: Duration = Duration::from_secs(15);

/// Copies each shard's heartbeat latency into `meetbot_gateway_latency_seconds` until shutdown.
async fn report_gateway_latency(
    manager: Arc<serenity::ShardManager>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(LATENCY_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        let runners = manager.runners.lock().await;
        for (id, info) in runners.iter() {
            if let Some(latency) = info.latency {
                crate::metrics::set_gateway_latency(id.0, latency);
            }
        }
    }
}

/// `meetbot run`: serves until SIGINT/SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let mut bot = start(config).await?;
    tokio::select! {
        r = bot.wait() => {
            r?;
            Ok(())
        }
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            bot.shutdown().await?;
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `meetbot register`: bulk-overwrites the commands, globally or in one guild, without a gateway connection.
pub async fn register(config: &Config, guild: Option<u64>) -> anyhow::Result<usize> {
    let token = config.discord.token.clone().ok_or(BotError::NoToken)?;
    let http = build_http(config, &token);
    let app = http
        .get_current_application_info()
        .await
        .map_err(|e| match e {
            serenity::Error::Http(ref h)
                if h.status_code() == Some(serenity::StatusCode::UNAUTHORIZED) =>
            {
                anyhow::Error::from(BotError::BadToken)
            }
            other => anyhow::anyhow!(
                "cannot reach Discord at {}: {other}",
                config.discord.api_base_str()
            ),
        })?;
    http.set_application_id(app.id);
    let cmds = commands::all();
    let create = poise::builtins::create_application_commands(&cmds);
    let n = create.len();
    match guild {
        Some(g) => {
            serenity::GuildId::new(g)
                .set_commands(&http, create)
                .await?;
        }
        None => {
            serenity::Command::set_global_commands(&http, create).await?;
        }
    }
    Ok(n)
}

async fn on_event(
    fctx: poise::FrameworkContext<'_, Data, Error>,
    event: &serenity::FullEvent,
) -> Result<(), Error> {
    // serenity has stored the event in its cache by now; keep only what meetbot reads of it.
    super::cache::trim(&fctx.serenity_context.cache, event);
    match event {
        serenity::FullEvent::Ready { .. } | serenity::FullEvent::Resume { .. } => {
            fctx.user_data.readiness.set_gateway_connected(true);
        }
        serenity::FullEvent::ShardStageUpdate { event } => {
            fctx.user_data
                .readiness
                .set_gateway_connected(event.new == serenity::ConnectionStage::Connected);
        }
        _ => {}
    }
    if let serenity::FullEvent::InteractionCreate {
        interaction: serenity::Interaction::Modal(submit),
    } = event
    {
        let _guard = fctx.user_data.inflight.enter();
        commands::on_modal_submit(fctx.serenity_context, fctx.user_data, submit).await?;
    }
    if let serenity::FullEvent::InteractionCreate {
        interaction: serenity::Interaction::Component(click),
    } = event
    {
        let data = fctx.user_data;
        if JoinSigner::is_join(&click.data.custom_id) {
            let _guard = data.inflight.enter();
            buttons::on_immediate_click(fctx.serenity_context, data, click).await?;
        } else if let Some(meeting) = custom_ids::scheduled_meeting(&click.data.custom_id) {
            let _guard = data.inflight.enter();
            buttons::on_scheduled_click(fctx.serenity_context, data, click, meeting).await?;
        }
    }
    Ok(())
}

/// One place for every framework error: log the cause with structured fields; tell the person a clear sentence.
async fn on_error(err: poise::FrameworkError<'_, Data, Error>) {
    match err {
        poise::FrameworkError::Setup { error, .. } => {
            tracing::error!(error = %error, "setting up the bot failed");
        }
        poise::FrameworkError::Command { error, ctx, .. } => {
            tracing::error!(command = %ctx.command().qualified_name, error = %error, "command failed");
            crate::metrics::command(
                command_label(&ctx.command().qualified_name),
                crate::metrics::CommandOutcome::Failed,
            );
            // Through the one way answers leave (fitted, pinging nobody), like every reply.
            super::reply::followup(
                ctx,
                "Something went wrong on my side; the moderators can find the details in the bot's log.",
            )
            .await;
        }
        poise::FrameworkError::ArgumentParse {
            error, ctx, input, ..
        } => {
            tracing::info!(command = %ctx.command().qualified_name, error = %error, "bad argument");
            let what = input.map(|i| format!(" ({i:.50})")).unwrap_or_default();
            // It quotes what was sent, which may hold mentions: the reply pings nobody.
            super::reply::followup(
                ctx,
                &format!("I could not read one of the options{what}: {error}"),
            )
            .await;
        }
        poise::FrameworkError::CommandStructureMismatch {
            description, ctx, ..
        } => {
            // Options the command does not declare that way (an integer beyond what it holds, say `page:-1`):
            // Discord's client keeps to the registered limits, a modified one does not. poise's default only logs
            // it, which left the person with no answer at all.
            tracing::info!(command = %ctx.command().qualified_name, reason = description, "options do not match the command");
            super::reply::followup(
                poise::Context::Application(ctx),
                "I could not read this command's options: one is out of its range or of another kind. Check them and try again.",
            )
            .await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            super::reply::followup(ctx, "This command works in a server channel, not in DMs.")
                .await;
        }
        poise::FrameworkError::EventHandler { error, event, .. } => {
            tracing::error!(event = event.snake_case_name(), error = %error, "event handler failed");
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                tracing::error!(error = %e, "error while handling an error");
            }
        }
    }
}
