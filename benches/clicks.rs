//! Join clicks under load, against the simulated Discord on loopback with the real bot: 1,000 clicks in 10 s from
//! 1,000 different members (half of them moderators, so half the clicks post an audit line; the audit channel is
//! set) while a `/meet` DMs 200 invitees. Reports p50/p99/max from the click's dispatch (test side) to its initial
//! response reaching the simulator, and how many missed Discord's 3-second deadline.
//!
//! Run with `cargo bench --bench clicks`.

#[path = "../tests/support/mod.rs"]
mod support;

use discord_sim::{RoleSpec, UserSpec};
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

const CLICKERS: u64 = 1_000;
const CLICK_SPAN: Duration = Duration::from_secs(10);
const FAN_OUT: u64 = 200;
const ROLE_CROWD: u64 = 200_000_000_000_000_010;
const CROWD_FIRST: u64 = 310_000_000_000_000_000;
const CLICKER_FIRST: u64 = 320_000_000_000_000_000;
const DEADLINE: Duration = Duration::from_secs(3);

fn main() {
    support::run_bench(clicks_during_fan_out());
}

async fn clicks_during_fan_out() {
    let h = Harness::start_with(&[("MEETBOT_DISCORD_INVITEE_CAP", "1000")], |sim| {
        sim.add_role(GUILD, RoleSpec::new(ROLE_CROWD, "Crowd", 0, 1));
        for n in 0..FAN_OUT {
            sim.add_member(
                GUILD,
                UserSpec::new(CROWD_FIRST + n, &format!("crowd{n}")),
                &[ROLE_CROWD],
            );
        }
        for n in 0..CLICKERS {
            let roles: &[u64] = if n % 2 == 0 { &[ROLE_MODS] } else { &[] };
            sim.add_member(
                GUILD,
                UserSpec::new(CLICKER_FIRST + n, &format!("clicker{n}")),
                roles,
            );
        }
    })
    .await;
    h.set_audit_channel(OWNER, EVENTS_CHANNEL).await;

    // A meeting whose 200 DMs are still going out while the clicks arrive.
    let meet = h
        .meet(
            BOB,
            json!([
                opt("topic", "All hands"),
                opt("invite", format!("<@&{ROLE_CROWD}>"))
            ]),
        )
        .await;
    let post =
        loop {
            if let Some(p) = h.channel_texts(CHANNEL).into_iter().find(|m| {
                m["flags"].as_u64().unwrap_or(0) & 64 == 0 && m.get("webhook_id").is_none()
            }) {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
    let message_id: u64 = post["id"].as_str().unwrap().parse().unwrap();
    let custom_id = post["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("a Join button")
        .to_string();
    let dms_before = h.sim.requests_matching("POST", "/users/@me/channels").len();

    let gap = CLICK_SPAN / CLICKERS as u32;
    let started = Instant::now();
    let mut sent = Vec::with_capacity(CLICKERS as usize);
    for n in 0..CLICKERS {
        let at = started + gap * n as u32;
        tokio::time::sleep_until(at.into()).await;
        let dispatched = Instant::now();
        let c = h
            .sim
            .click_button(message_id, CHANNEL, CLICKER_FIRST + n, &custom_id)
            .await
            .expect("dispatch the click");
        sent.push((dispatched, c));
    }
    let spread = started.elapsed();
    let mut samples = Vec::with_capacity(sent.len());
    let mut unanswered = 0;
    for (dispatched, c) in &sent {
        let token = c.token.clone();
        match h
            .sim
            .wait_for_request(
                |r| r.path.contains(&token) && r.path.ends_with("/callback"),
                Duration::from_secs(20),
            )
            .await
        {
            Ok(r) => samples.push(r.received_at.saturating_duration_since(*dispatched)),
            Err(_) => unanswered += 1,
        }
    }
    let fan_out_during = h.sim.requests_matching("POST", "/users/@me/channels").len() - dms_before;
    h.reply_containing(
        &meet,
        &format!("Delivered personal links to {FAN_OUT} of {FAN_OUT}"),
    )
    .await;
    samples.sort();
    let late = samples.iter().filter(|d| **d > DEADLINE).count();
    println!(
        "clicks: {} clicks in {:.1} s during a {FAN_OUT}-invitee fan-out ({fan_out_during} DM channels opened meanwhile); \
         click to initial response p50 {} ms, p99 {} ms, max {} ms; {late} later than 3 s, {unanswered} unanswered",
        sent.len(),
        spread.as_secs_f64(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
    let audit_posts = h
        .sim
        .requests_matching("POST", &format!("/channels/{EVENTS_CHANNEL}/messages"))
        .len();
    println!("audit: {audit_posts} audit lines posted so far (the lane drains at the bot's pace)");
    h.finish().await;
}
