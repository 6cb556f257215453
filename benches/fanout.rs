//! DM fan-out against the simulator with Discord's global limit enforced: how close does the
//! paced fan-out get to the time its pace allows, and does it ever trip the limit?
//!
//! Run with `cargo bench --bench fanout`.

use discord_sim::{SimOptions, Simulator, UserSpec};
use meetbot::discord::delivery::{deliver_all, Dm, DmOutcome};
use meetbot::discord::http::rest::RestClient;
use meetbot::secret::Secret;
use serde_json::json;
use std::time::{Duration, Instant};

const INVITEES: u64 = 200;
const PACE: u32 = 40;
const DISCORD_GLOBAL_LIMIT: u32 = 50;
const LATENCY: Duration = Duration::from_millis(20);
const CONCURRENCY: usize = 8;
const GUILD: u64 = 1_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let sim = Simulator::start(SimOptions::default()).await;
    sim.add_guild(GUILD, "Bench guild", 1);
    let users: Vec<u64> = (0..INVITEES).map(|i| 600_000_000_000_000_000 + i).collect();
    for (i, u) in users.iter().enumerate() {
        sim.add_member(GUILD, UserSpec::new(*u, &format!("invitee{i}")), &[]);
    }
    sim.enforce_global_rate(DISCORD_GLOBAL_LIMIT);
    sim.set_latency(LATENCY);
    let rest =
        RestClient::new(&sim.base_url(), Secret::new(sim.bot_token()), PACE).expect("client");
    let dms: Vec<Dm> = users
        .iter()
        .map(|u| Dm {
            user_id: *u,
            body: json!({ "content": "Your personal link: https://meet.example/bench?jwt=x" }),
        })
        .collect();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);

    let started = Instant::now();
    let results = deliver_all(&rest, dms, CONCURRENCY, shutdown).await;
    let elapsed = started.elapsed();

    let delivered = results
        .iter()
        .filter(|(_, o)| matches!(o, DmOutcome::Delivered { .. }))
        .count();
    assert_eq!(delivered, INVITEES as usize, "every DM delivered");
    let requests = sim.requests().len() as u32;
    // The pace lets the first request go at once and each next one an interval later.
    let floor = Duration::from_secs(1) / PACE * (2 * INVITEES as u32 - 1);
    println!(
        "fanout: {INVITEES} DMs in {:.3} s, floor {:.3} s, ratio {:.3}, 429s {} ({requests} requests, concurrency {CONCURRENCY}, latency {} ms)",
        elapsed.as_secs_f64(),
        floor.as_secs_f64(),
        elapsed.as_secs_f64() / floor.as_secs_f64(),
        sim.count_429(),
        LATENCY.as_millis(),
    );
}
