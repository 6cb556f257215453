//! Scale-out against the simulator with Discord's global 50 requests/s enforced over everything:
//! 1. three processes (each its own PostgreSQL pool, shared budget, pacer and REST client) fanning out DMs at once:
//!    their aggregate pace vs `rest_pace`, and the 429s;
//! 2. a second meeting with the same 200 invitees after a restart (DM channels remembered in the store): requests
//!    and time vs the floor of 200 requests at the pace.
//!
//! Needs PostgreSQL (`MEETBOT_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! Run with `cargo bench --bench scale_out`.

use chrono::Utc;
use discord_sim::{SimOptions, Simulator, UserSpec};
use meetbot::clock::{SharedClock, SystemClock};
use meetbot::discord::delivery::{deliver_all, Dm, DmOutcome};
use meetbot::discord::http::{Pacer, RestClient};
use meetbot::secret::Secret;
use meetbot::store::{bucket_for_token, BudgetOptions, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PACE: u32 = 40;
const DISCORD_GLOBAL_LIMIT: u32 = 50;
const LATENCY: Duration = Duration::from_millis(20);
const CONCURRENCY: usize = 8;
const GUILD: u64 = 1_000;
const PROCESSES: usize = 3;
/// DMs per process in the aggregate run (two requests each: open the DM, send).
const DMS_PER_PROCESS: u64 = 100;
const SECOND_MEETING: u64 = 200;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

/// A fresh schema on the test PostgreSQL, as a URL whose connections use it.
async fn schema_url() -> String {
    use sqlx::Connection;
    let base = std::env::var("MEETBOT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut c = sqlx::PgConnection::connect(&base)
        .await
        .expect("PostgreSQL for the bench (MEETBOT_TEST_POSTGRES_URL)");
    let schema = format!(
        "meetbot_bench_{}_{}",
        std::process::id(),
        Utc::now().timestamp()
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut c)
        .await
        .expect("create schema");
    let mut url = url::Url::parse(&base).expect("postgres URL");
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    url.to_string()
}

/// One process's REST client: its own pool, the shared budget, DM channels in the store.
async fn process_client(sim: &Simulator, url: &str) -> RestClient {
    let store = Store::open(url).await.expect("open the database");
    let token = sim.bot_token().to_string();
    let budget = store.global_budget(&bucket_for_token(&token), BudgetOptions::new(PACE));
    let clock: SharedClock = Arc::new(SystemClock);
    RestClient::with_pacer(
        &sim.base_url(),
        Secret::new(&token),
        Arc::new(Pacer::shared(PACE, budget)),
    )
    .expect("client")
    .with_dm_store(store, clock)
}

fn dms(users: &[u64]) -> Vec<Dm> {
    users
        .iter()
        .map(|u| Dm {
            user_id: *u,
            body: json!({ "content": "Your personal link: https://meet.example/bench?jwt=x" }),
        })
        .collect()
}

async fn run() {
    let url = schema_url().await;
    let sim = Simulator::start(SimOptions::default()).await;
    sim.add_guild(GUILD, "Bench guild", 1);
    let total = DMS_PER_PROCESS * PROCESSES as u64;
    let users: Vec<u64> = (0..total.max(SECOND_MEETING))
        .map(|i| 600_000_000_000_000_000 + i)
        .collect();
    for (i, u) in users.iter().enumerate() {
        sim.add_member(GUILD, UserSpec::new(*u, &format!("invitee{i}")), &[]);
    }
    sim.enforce_global_rate(DISCORD_GLOBAL_LIMIT);
    sim.set_latency(LATENCY);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);

    // 1. Three processes at once, one budget.
    let mut clients = Vec::new();
    for _ in 0..PROCESSES {
        clients.push(process_client(&sim, &url).await);
    }
    sim.clear_requests();
    let started = Instant::now();
    let runs = clients.iter().enumerate().map(|(p, c)| {
        let mine = users[p * DMS_PER_PROCESS as usize..(p + 1) * DMS_PER_PROCESS as usize].to_vec();
        deliver_all(c, dms(&mine), CONCURRENCY, shutdown.clone())
    });
    let results: Vec<_> = futures::future::join_all(runs).await;
    let elapsed = started.elapsed();
    let delivered = results
        .iter()
        .flatten()
        .filter(|(_, o)| matches!(o, DmOutcome::Delivered { .. }))
        .count();
    assert_eq!(delivered, total as usize, "every DM delivered");
    let requests = sim.requests().len() as u32;
    let floor = Duration::from_secs(1) / PACE * (requests - 1);
    let achieved = f64::from(requests) / elapsed.as_secs_f64();
    println!(
        "aggregate: {PROCESSES} processes, {total} DMs, {requests} requests in {:.2} s vs the {PACE}/s floor {:.2} s: \
         {:.1} requests/s = {:.3}× rest_pace, {} 429s",
        elapsed.as_secs_f64(),
        floor.as_secs_f64(),
        achieved,
        achieved / f64::from(PACE),
        sim.count_429()
    );

    // 2. A second meeting with the same invitees after a restart: a new client (empty in-memory cache) on the
    //    same database, which remembers the DM channels.
    let second: Vec<u64> = users[..SECOND_MEETING as usize].to_vec();
    let first = process_client(&sim, &url).await;
    deliver_all(&first, dms(&second), CONCURRENCY, shutdown.clone()).await;
    drop(first);
    let restarted = process_client(&sim, &url).await;
    let before_429 = sim.count_429();
    sim.clear_requests();
    let started = Instant::now();
    let results = deliver_all(&restarted, dms(&second), CONCURRENCY, shutdown.clone()).await;
    let elapsed = started.elapsed();
    assert!(results
        .iter()
        .all(|(_, o)| matches!(o, DmOutcome::Delivered { .. })));
    let requests = sim.requests().len() as u32;
    let floor = Duration::from_secs(1) / PACE * (SECOND_MEETING as u32 - 1);
    println!(
        "second meeting, {SECOND_MEETING} invitees with DM channels known: {requests} requests in {:.2} s vs the floor \
         of {SECOND_MEETING} requests at {PACE}/s {:.2} s: {:.3}×, {} 429s",
        elapsed.as_secs_f64(),
        floor.as_secs_f64(),
        elapsed.as_secs_f64() / floor.as_secs_f64(),
        sim.count_429() - before_429
    );
}
