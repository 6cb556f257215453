//! Scale-out scenarios: what several processes (or one process across restarts) share through the store —
//! cooldowns, DM channels, the database's clock — against the simulated Discord.

mod support;

use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_outlives_a_restart() {
    let mut h = Harness::start_with(&[("MEETBOT_DISCORD_COOLDOWN_SECONDS", "600")], |_| {}).await;
    let first = h.meet(ALICE, json!([opt("topic", "One")])).await;
    h.reply_containing(&first, "Meeting id: `").await;
    h.restart().await;
    let again = h.meet(ALICE, json!([opt("topic", "Two")])).await;
    h.reply_containing(&again, "you can use /meet again").await;
    // Someone else is not held back by Alice's cooldown.
    let bob = h.meet(BOB, json!([opt("topic", "Three")])).await;
    h.reply_containing(&bob, "Meeting id: `").await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_invitee_costs_one_request_after_a_restart() {
    let mut h = Harness::start().await;
    let first = h
        .meet(
            ALICE,
            json!([opt("topic", "One"), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    h.reply_containing(&first, "Delivered").await;
    assert_eq!(
        h.sim.requests_matching("POST", "/users/@me/channels").len(),
        1
    );
    h.restart().await;
    let second = h
        .meet(
            ALICE,
            json!([opt("topic", "Two"), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    h.reply_containing(&second, "Delivered").await;
    assert_eq!(
        h.sim.requests_matching("POST", "/users/@me/channels").len(),
        1,
        "the DM channel opened before the restart is read from the store"
    );
    assert_eq!(h.dm_texts(BOB).len(), 2, "both links arrived");
    h.finish().await;
}
