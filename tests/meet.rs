//! `/meet` end to end: the real bot against the simulated Discord.

mod support;

use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_with_moderator_role_gets_moderator_token_and_invitee_gets_own_member_link() {
    let h = Harness::start().await;
    let i = h
        .meet(
            ALICE,
            json!([opt("topic", "Stand-up"), opt("invite", format!("<@{BOB}>"))]),
        )
        .await;
    let reply = h
        .reply_containing(&i, "Delivered personal links to 1 of 1")
        .await;
    let host = verified_claims(&reply, h.now());
    assert_eq!(host["context"]["user"]["id"], ALICE.to_string());
    assert_eq!(host["moderator"], true);
    assert_eq!(host["context"]["user"]["affiliation"], "owner");

    let dms = h.dm_texts(BOB);
    assert_eq!(dms.len(), 1);
    let bob = verified_claims(&dms[0], h.now());
    assert_eq!(bob["context"]["user"]["id"], BOB.to_string());
    assert_eq!(bob["context"]["user"]["name"], "Bob");
    assert_eq!(bob["moderator"], false);
    assert_eq!(bob["room"], host["room"]);
    h.finish().await;
}
