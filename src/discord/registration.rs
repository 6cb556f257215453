//! Registering the slash commands on start without rewriting them every time: the registered set is read first
//! (`GET …/commands`) and compared with the bot's after both are normalized, and only a difference is written
//! (`PUT …/commands`, a bulk overwrite). Discord limits command writes (200 creates a day per scope), and a PUT of an
//! unchanged set still bumps every command's version, so restarts and several processes must not write blindly.

use super::http::{RestClient, RestError};
use reqwest::Method;
use serde_json::Value;

/// What [`sync`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// The registered commands were already the bot's; nothing was written.
    Unchanged,
    /// They differed (or there were none) and were overwritten with this many commands.
    Written(usize),
}

/// Keys Discord adds to a registered command (ids, versions, localized copies) or fills with its own default when
/// left out; neither says anything about what the bot asked for.
const ASSIGNED: [&str; 7] = [
    "id",
    "application_id",
    "version",
    "guild_id",
    "default_permission",
    "name_localized",
    "description_localized",
];

/// A command list as comparable JSON: commands sorted by name (Discord keeps no order), options in their order
/// (Discord shows them so); keys Discord assigns dropped; values that equal Discord's defaults dropped (null, false,
/// empty lists and objects, a command's `type` 1 = chat input, `integration_types` [0] = guild install,
/// `dm_permission` true).
pub fn normalize(commands: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = commands
        .iter()
        .map(|c| normalize_command(c.clone()))
        .collect();
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    out
}

fn normalize_command(mut c: Value) -> Value {
    if let Some(map) = c.as_object_mut() {
        for key in ASSIGNED {
            map.remove(key);
        }
        if map.get("type") == Some(&Value::from(1)) {
            map.remove("type");
        }
        if map.get("integration_types") == Some(&serde_json::json!([0])) {
            map.remove("integration_types");
        }
        if map.get("dm_permission") == Some(&Value::Bool(true)) {
            map.remove("dm_permission");
        }
    }
    drop_defaults(c)
}

/// Recursively removes null, false, empty-list and empty-object values (Discord leaves out what is unset; poise
/// writes some of them explicitly).
fn drop_defaults(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, drop_defaults(v)))
                .filter(|(_, v)| !is_default(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(drop_defaults).collect()),
        other => other,
    }
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Whether `registered` (as Discord lists it) already is `desired` (as the bot would write it).
pub fn same_commands(desired: &[Value], registered: &[Value]) -> bool {
    normalize(desired) == normalize(registered)
}

/// Makes the commands of `application` (globally, or in `guild`) the `desired` ones, writing only on a difference.
pub async fn sync(
    rest: &RestClient,
    application: u64,
    guild: Option<u64>,
    desired: &[Value],
) -> Result<Synced, RestError> {
    let path = match guild {
        Some(g) => format!("/applications/{application}/guilds/{g}/commands"),
        None => format!("/applications/{application}/commands"),
    };
    let registered = rest.request(Method::GET, &path, None).await?;
    let registered = registered.as_array().map(Vec::as_slice).unwrap_or(&[]);
    if same_commands(desired, registered) {
        return Ok(Synced::Unchanged);
    }
    rest.request(Method::PUT, &path, Some(&Value::Array(desired.to_vec())))
        .await?;
    Ok(Synced::Written(desired.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ours() -> Vec<Value> {
        vec![
            json!({"name": "meet", "description": "Start a meeting", "type": 1, "nsfw": false,
                   "default_member_permissions": null, "contexts": null,
                   "options": [{"type": 3, "name": "topic", "description": "What", "required": false,
                                "max_length": 100, "choices": []},
                               {"type": 5, "name": "private", "description": "Only invitees", "required": false}]}),
            json!({"name": "meetbot", "description": "Settings", "type": 1,
                   "default_member_permissions": "32", "options": []}),
        ]
    }

    /// The same commands as Discord lists them: ids and versions added, defaults filled in or left out, the
    /// commands in another order.
    fn as_discord_lists_them() -> Vec<Value> {
        vec![
            json!({"id": "1", "application_id": "9", "version": "77", "name": "meetbot",
                   "description": "Settings", "type": 1, "default_member_permissions": "32",
                   "dm_permission": true, "integration_types": [0], "nsfw": false, "guild_id": "5"}),
            json!({"id": "2", "application_id": "9", "version": "78", "name": "meet",
                   "description": "Start a meeting", "type": 1, "dm_permission": true,
                   "integration_types": [0], "default_member_permissions": null,
                   "options": [{"type": 3, "name": "topic", "description": "What", "max_length": 100},
                               {"type": 5, "name": "private", "description": "Only invitees"}]}),
        ]
    }

    #[test]
    fn the_registered_set_as_discord_lists_it_equals_the_bots() {
        assert!(same_commands(&ours(), &as_discord_lists_them()));
    }

    #[test]
    fn any_real_change_is_a_difference() {
        let listed = as_discord_lists_them();
        let mut changed = ours();
        changed[0]["description"] = json!("Start a call");
        assert!(!same_commands(&changed, &listed), "a new description");
        let mut fewer = ours();
        fewer[0]["options"].as_array_mut().unwrap().pop();
        assert!(!same_commands(&fewer, &listed), "an option removed");
        let mut reordered = ours();
        reordered[0]["options"].as_array_mut().unwrap().reverse();
        assert!(
            !same_commands(&reordered, &listed),
            "options in another order"
        );
        let mut limit = ours();
        limit[0]["options"][0]["max_length"] = json!(200);
        assert!(!same_commands(&limit, &listed), "a new max_length");
        let mut perms = ours();
        perms[1]["default_member_permissions"] = json!("8");
        assert!(!same_commands(&perms, &listed), "other default permissions");
        assert!(!same_commands(&ours(), &listed[..1]), "a command missing");
        assert!(!same_commands(&ours(), &[]), "nothing registered yet");
    }
}
