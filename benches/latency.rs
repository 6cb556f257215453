//! `/meet` against the simulated Discord on loopback, the real bot in release mode:
//! 1. deferral latency: from the INTERACTION_CREATE dispatch (taken on the test side) to the deferral
//!    (callback type 5) reaching the simulator, p50 and p99 over 200 `/meet` calls, 20 at a time, after one
//!    `/meet` whose cold-start latency is printed on its own;
//! 2. fan-out: from the dispatch of a `/meet` that invites a 50-member role to the host's "Delivered 50 of 50",
//!    which the bot's own REST pace (40 requests/s, two requests per new DM) bounds from below.
//!
//! Run with `cargo bench --bench latency`.

#[path = "../tests/support/mod.rs"]
mod support;

use discord_sim::{RoleSpec, UserSpec};
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

const CALLS: usize = 200;
const AT_ONCE: usize = 20;
const FAN_OUT: u64 = 50;
const FAN_OUT_RUNS: usize = 3;
const ROLE_CROWD: u64 = 200_000_000_000_000_010;
const CROWD_FIRST: u64 = 300_000_000_000_001_000;

fn main() {
    support::run_bench(async {
        deferral_latency().await;
        fan_out().await;
    });
}

async fn deferral_latency() {
    let h = Harness::start().await;
    // The first interaction after connecting pays one-time costs (2 to 45 ms in our runs, shared by every call
    // dispatched with it); it is reported on its own so the percentiles describe a running bot.
    let dispatched = Instant::now();
    let first = h.meet(ALICE, json!([])).await;
    let cold = deferral_at(&h, &first)
        .await
        .saturating_duration_since(dispatched);
    h.reply_containing(&first, "jwt=").await;
    let mut samples = Vec::with_capacity(CALLS);
    for batch in 0..CALLS / AT_ONCE {
        let mut sent = Vec::with_capacity(AT_ONCE);
        for n in 0..AT_ONCE {
            let user = [ALICE, BOB, CAROL, FRANK, ERIN][n % 5];
            let topic = format!("bench {batch}-{n}");
            let dispatched = Instant::now();
            let i = h.meet(user, json!([opt("topic", topic)])).await;
            sent.push((dispatched, i));
        }
        for (dispatched, i) in &sent {
            samples.push(
                deferral_at(&h, i)
                    .await
                    .saturating_duration_since(*dispatched),
            );
        }
        // The next 20 start once these have their links, so at most 20 are ever in flight.
        for (_, i) in &sent {
            h.reply_containing(i, "jwt=").await;
        }
    }
    samples.sort();
    println!(
        "cold start: first /meet after connecting deferred in {} ms (not in the sample below)",
        ms(cold)
    );
    println!(
        "latency: p50 {} ms, p99 {} ms (max {} ms; {CALLS} /meet calls, {AT_ONCE} at a time, dispatch to deferral)",
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
    h.finish().await;
}

/// When the simulator received the interaction's deferral (callback type 5).
async fn deferral_at(h: &Harness, i: &discord_sim::Interaction) -> Instant {
    let token = i.token.clone();
    h.sim
        .wait_for_request(
            |r| {
                r.path.contains(&token)
                    && r.path.ends_with("/callback")
                    && r.body.as_ref().is_some_and(|b| b["type"] == 5)
            },
            Duration::from_secs(10),
        )
        .await
        .expect("every /meet is deferred")
        .received_at
}

async fn fan_out() {
    let mut times = Vec::with_capacity(FAN_OUT_RUNS);
    for _ in 0..FAN_OUT_RUNS {
        // A fresh bot each run, so no DM channel is cached from the run before.
        let h = Harness::start_with(&[], |sim| {
            sim.add_role(GUILD, RoleSpec::new(ROLE_CROWD, "Crowd", 0, 1));
            for n in 0..FAN_OUT {
                sim.add_member(
                    GUILD,
                    UserSpec::new(CROWD_FIRST + n, &format!("crowd{n}")),
                    &[ROLE_CROWD],
                );
            }
        })
        .await;
        let started = Instant::now();
        let i = h
            .meet(ALICE, json!([opt("invite", format!("<@&{ROLE_CROWD}>"))]))
            .await;
        h.reply_containing(
            &i,
            &format!("Delivered personal links to {FAN_OUT} of {FAN_OUT}"),
        )
        .await;
        times.push(started.elapsed());
        h.finish().await;
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "fan-out: {FAN_OUT} DMs in {} ms median of {FAN_OUT_RUNS} runs ({:.1} DMs/s; pace 40 requests/s, 2 per DM)",
        ms(median),
        FAN_OUT as f64 / median.as_secs_f64(),
    );
}
