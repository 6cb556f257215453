//! Slash commands registered on start: read first, written only when they differ.

mod support;

use serde_json::Value;
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

/// Every text option, at any depth, as the simulator (checking against Discord's OpenAPI spec) stored the registered
/// commands: each has a `max_length`, so Discord's own client stops long input before the bot sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_string_option_has_a_max_length() {
    fn walk(path: &str, options: &[Value], strings: &mut Vec<String>, missing: &mut Vec<String>) {
        for o in options {
            let name = format!("{path} {}", o["name"].as_str().unwrap_or("?"));
            match o["type"].as_u64() {
                // Subcommands and groups hold options of their own.
                Some(1 | 2) => walk(
                    &name,
                    o["options"].as_array().map_or(&[], Vec::as_slice),
                    strings,
                    missing,
                ),
                Some(3) => {
                    strings.push(name.clone());
                    match o["max_length"].as_u64() {
                        Some(n) if (1..=6000).contains(&n) => {}
                        _ => missing.push(name),
                    }
                }
                _ => {}
            }
        }
    }
    let h = Harness::start().await;
    let registered = h.registered();
    let (mut strings, mut missing) = (Vec::new(), Vec::new());
    for c in &registered {
        let options = c["options"].as_array().map_or(&[][..], Vec::as_slice);
        walk(
            c["name"].as_str().unwrap(),
            options,
            &mut strings,
            &mut missing,
        );
    }
    // The walk reached the nested ones too.
    for expected in [
        "meet when",
        "meet timezone",
        "meetbot audit meeting",
        "invite guest name",
    ] {
        assert!(
            strings.iter().any(|s| s == expected),
            "{expected} not found in {strings:?}"
        );
    }
    assert!(
        missing.is_empty(),
        "string options without max_length: {missing:?}"
    );
    h.finish().await;
}
