//! Guild scheduled events: Discord's rules for creating them and moving their status.

use serde_json::{json, Value};

use super::{error, ok, Reply};
use crate::state::{self, EventRec, GuildRec, World};
use crate::Inner;

fn event_rules(e: &Value) -> Option<String> {
    let name = e["name"].as_str().unwrap_or_default();
    if !(1..=100).contains(&name.chars().count()) {
        return Some("name must be 1-100 characters".into());
    }
    if e["privacy_level"].as_u64() != Some(2) {
        return Some("privacy_level must be 2 (GUILD_ONLY)".into());
    }
    if e["scheduled_start_time"].as_str().is_none() {
        return Some("scheduled_start_time is required".into());
    }
    match e["entity_type"].as_u64() {
        Some(3) => {
            let loc = e["entity_metadata"]["location"]
                .as_str()
                .unwrap_or_default();
            if !(1..=100).contains(&loc.chars().count()) {
                return Some(
                    "EXTERNAL events need entity_metadata.location of 1-100 characters".into(),
                );
            }
            if e["scheduled_end_time"].as_str().is_none() {
                return Some("EXTERNAL events need scheduled_end_time".into());
            }
            if !e["channel_id"].is_null() {
                return Some("EXTERNAL events must not have channel_id".into());
            }
        }
        Some(1 | 2) => {
            if e["channel_id"].is_null() {
                return Some("STAGE/VOICE events need channel_id".into());
            }
        }
        _ => return Some("entity_type must be 1, 2 or 3".into()),
    }
    None
}

pub(super) fn create_event(
    inner: &Inner,
    w: &mut World,
    guild: u64,
    body: &Value,
) -> (Reply, Option<String>) {
    let g: &GuildRec = &w.guilds[&guild];
    let perms = g.bot_permissions;
    if perms & (state::CREATE_EVENTS | state::MANAGE_EVENTS | state::ADMINISTRATOR) == 0 {
        return (
            error(403, 50013, "Missing Permissions"),
            Some(format!(
                "POST /guilds/{guild}/scheduled-events without CREATE_EVENTS"
            )),
        );
    }
    let active = g
        .events
        .values()
        .filter(|e| matches!(e.json["status"].as_u64(), Some(1 | 2)))
        .count();
    if active >= 100 {
        return (
            error(
                400,
                30038,
                "Maximum number of guild scheduled events reached (100)",
            ),
            None,
        );
    }
    let id = w.next_id();
    let bot = inner.bot_user_json();
    let mut e = json!({
        "id": id.to_string(),
        "guild_id": guild.to_string(),
        "channel_id": body.get("channel_id").cloned().unwrap_or(Value::Null),
        "creator_id": inner.opts.bot_user_id.to_string(),
        "name": body["name"],
        "description": body.get("description").cloned().unwrap_or(Value::Null),
        "scheduled_start_time": body["scheduled_start_time"],
        "scheduled_end_time": body.get("scheduled_end_time").cloned().unwrap_or(Value::Null),
        "privacy_level": body["privacy_level"],
        "status": 1,
        "entity_type": body["entity_type"],
        "entity_id": null,
        "entity_metadata": body.get("entity_metadata").cloned().unwrap_or(Value::Null),
        "creator": bot,
        "user_count": 0,
        "image": null,
    });
    if let Some(why) = event_rules(&e) {
        return (
            error(400, 50035, "Invalid Form Body"),
            Some(format!("POST /guilds/{guild}/scheduled-events: {why}")),
        );
    }
    e["user_count"] = json!(0);
    w.guilds.get_mut(&guild).expect("checked").events.insert(
        id,
        EventRec {
            json: e.clone(),
            interested: Default::default(),
        },
    );
    w.dispatch(Some(guild), "GUILD_SCHEDULED_EVENT_CREATE", e.clone());
    (ok(e), None)
}

pub(super) fn patch_event(
    w: &mut World,
    guild: u64,
    event: u64,
    e: EventRec,
    body: &Value,
) -> (Reply, Option<String>) {
    let label = format!("PATCH /guilds/{guild}/scheduled-events/{event}");
    let current = e.json["status"].as_u64().unwrap_or(1);
    let invalid = |why: String| {
        (
            error(400, 50035, "Invalid Form Body"),
            Some(format!("{label}: {why}")),
        )
    };
    if matches!(current, 3 | 4) {
        return invalid(format!(
            "event with status {current} can no longer be modified"
        ));
    }
    let mut next = e.json.clone();
    for key in [
        "name",
        "description",
        "scheduled_start_time",
        "scheduled_end_time",
        "entity_metadata",
        "channel_id",
        "entity_type",
        "privacy_level",
    ] {
        if let Some(v) = body.get(key) {
            next[key] = v.clone();
        }
    }
    if let Some(status) = body.get("status").and_then(Value::as_u64) {
        let allowed = status == current || matches!((current, status), (1, 2) | (1, 4) | (2, 3));
        if !allowed {
            return invalid(format!("status {current} cannot become {status}"));
        }
        next["status"] = json!(status);
    }
    if let Some(why) = event_rules(&next) {
        return invalid(why);
    }
    let rec = w
        .guilds
        .get_mut(&guild)
        .expect("checked")
        .events
        .get_mut(&event)
        .expect("checked");
    rec.json = next.clone();
    w.dispatch(Some(guild), "GUILD_SCHEDULED_EVENT_UPDATE", next.clone());
    (ok(next), None)
}
