//! Validation against Discord's OpenAPI description.
//!
//! Uses the file named by `DISCORD_OPENAPI_SPEC`; without it, the project's documented
//! location (`../shared/discord-api-spec/openapi.json` from a checkout) is searched upwards.

mod common;

use std::path::PathBuf;

use common::*;
use discord_sim::{SimOptions, Simulator, SPEC_ENV};
use serde_json::json;

fn spec_path() -> PathBuf {
    if let Some(p) = std::env::var_os(SPEC_ENV) {
        return PathBuf::from(p);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared/discord-api-spec/openapi.json"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("set {SPEC_ENV} to Discord's openapi.json"))
}

async fn sim_with_spec() -> Simulator {
    let sim = Simulator::start(SimOptions {
        openapi_spec: Some(spec_path()),
        ..Default::default()
    })
    .await;
    world(&sim);
    assert!(sim.spec_validation_enabled());
    sim
}

#[tokio::test]
async fn body_breaking_the_schema_is_answered_50035_and_recorded() {
    let sim = sim_with_spec().await;
    let path = format!("/channels/{CHANNEL}/messages");
    let (status, _, body) = call(
        &sim,
        "POST",
        &path,
        Some(json!({"content": 5, "tts": "yes"})),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!(50035)));
    let violations = sim.violations();
    assert!(!violations.is_empty());
    assert!(violations
        .iter()
        .all(|v| v.contains("schema") && v.contains("/channels/{channel_id}/messages")));
    assert!(sim.channel_messages(CHANNEL).is_empty());
}

#[tokio::test]
async fn bodies_that_follow_the_schema_pass() {
    let sim = sim_with_spec().await;
    let ok = json!({"content": "hello", "allowed_mentions": {"parse": []},
        "components": [{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "a", "label": "A"}]}]});
    let (status, _, _) = call(
        &sim,
        "POST",
        &format!("/channels/{CHANNEL}/messages"),
        Some(ok),
    )
    .await;
    assert_eq!(status, 200, "{:?}", sim.violations());
    register(
        &sim,
        json!([{"name": "meet", "description": "Start a meeting", "type": 1}]),
    )
    .await;
    let event = json!({"name": "Standup", "privacy_level": 2, "entity_type": 3,
        "scheduled_start_time": "2030-01-01T10:00:00Z", "scheduled_end_time": "2030-01-01T11:00:00Z",
        "entity_metadata": {"location": "here"}});
    let (status, _, _) = call(
        &sim,
        "POST",
        &format!("/guilds/{GUILD}/scheduled-events"),
        Some(event),
    )
    .await;
    assert_eq!(status, 200, "{:?}", sim.violations());
    assert!(sim.violations().is_empty());
}

#[tokio::test]
async fn command_registration_breaking_the_schema_is_caught() {
    let sim = sim_with_spec().await;
    let path = format!(
        "/applications/{}/guilds/{GUILD}/commands",
        sim.application_id()
    );
    let (status, _, _) = call(
        &sim,
        "PUT",
        &path,
        Some(json!([{"name": 7, "description": "d"}])),
    )
    .await;
    assert_eq!(status, 400);
    assert!(sim.registered_commands(Some(GUILD)).is_empty());
}
