//! Slash commands registered on start: read first, written only when they differ.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_reads_the_commands_and_writes_nothing() {
    let mut h = Harness::start().await;
    assert_eq!(
        h.command_writes(),
        1,
        "the first start registers the commands"
    );
    let first = h.registered();
    assert!(first.iter().any(|c| c["name"] == "meet"), "{first:?}");
    let lists = h.command_lists();

    h.restart().await;
    assert_eq!(
        h.command_lists(),
        lists + 1,
        "the restart read the registered set"
    );
    assert_eq!(
        h.command_writes(),
        1,
        "and wrote nothing: it was already the bot's"
    );
    // Discord keeps a command's version only when nobody overwrote it.
    assert_eq!(h.registered(), first);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_registered_globally_by_default() {
    let mut h = Harness::start().await;
    assert!(h.sim.registered_commands(None).is_empty());
    // Without a register_on_start of its own, the bot uses the shipped default.
    h.env.remove("MEETBOT_DISCORD_REGISTER_ON_START");
    h.restart().await;
    let global = h.sim.registered_commands(None);
    assert!(global.iter().any(|c| c["name"] == "invite"), "{global:?}");
    assert_eq!(
        h.sim
            .requests_matching("PUT", "/applications/*/commands")
            .len(),
        1
    );
    h.restart().await;
    assert_eq!(
        h.sim
            .requests_matching("PUT", "/applications/*/commands")
            .len(),
        1,
        "the second global start wrote nothing"
    );
    h.finish().await;
}
