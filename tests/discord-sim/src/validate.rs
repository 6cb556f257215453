//! Request body checks: Discord's documented limits always, the OpenAPI schema when configured.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};

use parking_lot::Mutex;
use serde_json::{json, Value};

/// The environment variable naming Discord's OpenAPI description.
pub const SPEC_ENV: &str = "DISCORD_OPENAPI_SPEC";

/// Compiled validators by (method, path template); `None` when the spec has no JSON body there.
type RouteValidators = HashMap<(String, String), Option<Arc<jsonschema::Validator>>>;

/// A parsed OpenAPI document and the validators compiled from it so far.
pub struct Spec {
    doc: Value,
    validators: Mutex<RouteValidators>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").finish_non_exhaustive()
    }
}

/// The spec at `path`, parsed once per process and shared by every simulator.
pub fn load(path: &Path) -> Arc<Spec> {
    static SPECS: OnceLock<Mutex<HashMap<PathBuf, Arc<Spec>>>> = OnceLock::new();
    let mut specs = SPECS.get_or_init(Default::default).lock();
    specs
        .entry(path.to_path_buf())
        .or_insert_with(|| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("discord-sim: cannot read OpenAPI spec {path:?}: {e}"));
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("discord-sim: OpenAPI spec {path:?} is not JSON: {e}"));
            Arc::new(Spec {
                doc,
                validators: Mutex::new(HashMap::new()),
            })
        })
        .clone()
}

/// Says once per process that only the built-in checks run.
pub fn notice_no_spec() {
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        eprintln!(
            "discord-sim: {SPEC_ENV} is unset; request bodies get only the built-in limit checks"
        );
    });
}

impl Spec {
    fn validator(&self, method: &str, template: &str) -> Option<Arc<jsonschema::Validator>> {
        let key = (method.to_ascii_lowercase(), template.to_string());
        if let Some(v) = self.validators.lock().get(&key) {
            return v.clone();
        }
        let pointer = format!(
            "/paths/{}/{}/requestBody/content/application~1json/schema",
            template.replace('~', "~0").replace('/', "~1"),
            key.0
        );
        let compiled = self.doc.pointer(&pointer).cloned().map(|mut schema| {
            // Local `#/components/...` refs resolve against the document root, so the route's
            // schema becomes a root that carries the spec's components.
            if let (Value::Object(obj), Some(components)) =
                (&mut schema, self.doc.get("components"))
            {
                obj.insert("components".into(), components.clone());
            }
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&schema)
                .unwrap_or_else(|e| {
                    panic!("discord-sim: schema for {method} {template} does not compile: {e}")
                });
            Arc::new(v)
        });
        self.validators.lock().insert(key, compiled.clone());
        compiled
    }

    /// Schema violations of `body` for the route; empty when valid or undescribed.
    pub fn check(&self, method: &str, template: &str, body: &Value) -> Vec<String> {
        let Some(validator) = self.validator(method, template) else {
            return Vec::new();
        };
        let body = docs_over_spec(template, body);
        validator
            .iter_errors(&body)
            .map(|e| format!("{method} {template}: schema: {e} at {}", e.instance_path))
            .collect()
    }
}

/// Where the (preview) spec and Discord's documentation disagree, the documentation wins: a command's
/// `default_member_permissions` is documented as a permission bit set in a string ("32"), which is what serenity
/// sends, while the spec types it as an integer. Such strings are read as the integer they spell before the schema
/// check; anything else is left for the schema to judge.
fn docs_over_spec<'a>(template: &str, body: &'a Value) -> std::borrow::Cow<'a, Value> {
    if !template.ends_with("/commands") && !template.contains("/commands/") {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut body = body.clone();
    let mut fix = |cmd: &mut Value| {
        if let Some(field) = cmd.get_mut("default_member_permissions") {
            if let Some(n) = field.as_str().and_then(|s| s.parse::<u64>().ok()) {
                *field = json!(n);
            }
        }
    };
    match &mut body {
        Value::Array(cmds) => cmds.iter_mut().for_each(&mut fix),
        other => fix(other),
    }
    std::borrow::Cow::Owned(body)
}

/// Checks a message body (create or edit) against Discord's documented limits.
pub fn check_message(route: &str, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match body.get("nonce") {
        Some(Value::String(n)) if n.chars().count() > 25 => {
            out.push(format!("{route}: nonce is longer than 25 characters"))
        }
        Some(Value::String(_) | Value::Number(_) | Value::Null) | None => {}
        Some(_) => out.push(format!("{route}: nonce is neither a string nor an integer")),
    }
    if let Some(content) = body.get("content").and_then(Value::as_str) {
        let n = content.chars().count();
        if n > 2000 {
            out.push(format!(
                "{route}: content is {n} characters, more than 2000"
            ));
        }
    }
    if let Some(rows) = body.get("components").and_then(Value::as_array) {
        if rows.len() > 5 {
            out.push(format!("{route}: {} action rows, more than 5", rows.len()));
        }
        for (i, row) in rows.iter().enumerate() {
            let items = row.get("components").and_then(Value::as_array);
            let items = items.map(Vec::as_slice).unwrap_or_default();
            if items.len() > 5 {
                out.push(format!(
                    "{route}: row {i} has {} components, more than 5",
                    items.len()
                ));
            }
            for (j, c) in items.iter().enumerate() {
                let is_link = c.get("style").and_then(Value::as_u64) == Some(5);
                match c.get("custom_id").and_then(Value::as_str) {
                    Some(id) if !(1..=100).contains(&id.chars().count()) => out.push(format!(
                        "{route}: row {i} component {j} custom_id is {} characters, not 1-100",
                        id.chars().count()
                    )),
                    None if !is_link && c.get("type").and_then(Value::as_u64) == Some(2) => {
                        out.push(format!("{route}: row {i} button {j} has no custom_id"))
                    }
                    _ => {}
                }
                if let Some(label) = c.get("label").and_then(Value::as_str) {
                    if label.chars().count() > 80 {
                        out.push(format!(
                            "{route}: row {i} component {j} label is {} characters, more than 80",
                            label.chars().count()
                        ));
                    }
                }
            }
        }
    }
    if let Some(am) = body.get("allowed_mentions") {
        out.extend(check_allowed_mentions(route, am));
    }
    out
}

fn check_allowed_mentions(route: &str, am: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = am.as_object() else {
        if !am.is_null() {
            out.push(format!("{route}: allowed_mentions is not an object"));
        }
        return out;
    };
    let mut parse = Vec::new();
    for (key, value) in obj {
        match key.as_str() {
            "parse" => match value.as_array() {
                Some(items) => {
                    for p in items {
                        match p.as_str() {
                            Some(s @ ("roles" | "users" | "everyone")) => parse.push(s.to_string()),
                            _ => out.push(format!("{route}: allowed_mentions.parse has {p}")),
                        }
                    }
                }
                None => out.push(format!("{route}: allowed_mentions.parse is not an array")),
            },
            "users" | "roles" => match value.as_array() {
                Some(ids) => {
                    if ids.len() > 100 {
                        out.push(format!(
                            "{route}: allowed_mentions.{key} has more than 100 ids"
                        ));
                    }
                    if ids.iter().any(|id| !is_snowflake(id)) {
                        out.push(format!(
                            "{route}: allowed_mentions.{key} holds a non-snowflake"
                        ));
                    }
                    if !ids.is_empty() && parse.iter().any(|p| p == key) {
                        out.push(format!(
                            "{route}: allowed_mentions lists {key} and also parses {key}"
                        ));
                    }
                }
                None => out.push(format!("{route}: allowed_mentions.{key} is not an array")),
            },
            "replied_user" => {
                if !value.is_boolean() {
                    out.push(format!(
                        "{route}: allowed_mentions.replied_user is not a boolean"
                    ));
                }
            }
            other => out.push(format!("{route}: allowed_mentions has unknown key {other}")),
        }
    }
    // `parse` may come after the lists in the object, so check the conflict both ways.
    for key in ["users", "roles"] {
        let listed = obj
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let parsed = parse.iter().any(|p| p == key);
        let msg = format!("{route}: allowed_mentions lists {key} and also parses {key}");
        if listed && parsed && !out.contains(&msg) {
            out.push(msg);
        }
    }
    out
}

fn is_snowflake(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()),
        Value::Number(n) => n.is_u64(),
        _ => false,
    }
}

/// The 400 body Discord sends for an invalid form body.
pub fn invalid_form_body(violations: &[String]) -> Value {
    let errors: Vec<Value> = violations
        .iter()
        .map(|v| json!({"code": "BASE_TYPE_INVALID", "message": v}))
        .collect();
    json!({
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {"body": {"_errors": errors}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_permission_strings_are_read_as_the_documentation_says() {
        let t = "/applications/{application_id}/guilds/{guild_id}/commands";
        let body = json!([{"name": "a", "default_member_permissions": "32"}, {"name": "b"}]);
        assert_eq!(
            docs_over_spec(t, &body).into_owned(),
            json!([{"name": "a", "default_member_permissions": 32}, {"name": "b"}])
        );
        // Not a number: left for the schema to refuse.
        let bad = json!({"default_member_permissions": "admins"});
        assert_eq!(docs_over_spec(t, &bad).into_owned(), bad);
        // Other routes are untouched.
        let msg = json!({"default_member_permissions": "32"});
        assert_eq!(
            docs_over_spec("/channels/{channel_id}/messages", &msg).into_owned(),
            msg
        );
    }

    #[test]
    fn content_over_2000_characters_is_a_violation() {
        let ok = json!({"content": "é".repeat(2000)});
        let long = json!({"content": "a".repeat(2001)});
        assert!(check_message("r", &ok).is_empty());
        assert_eq!(check_message("r", &long).len(), 1);
    }

    #[test]
    fn button_limits_are_enforced() {
        let button =
            |id: &str, label: &str| json!({"type": 2, "style": 1, "custom_id": id, "label": label});
        let row = |n: usize| json!({"type": 1, "components": (0..n).map(|_| button("x", "y")).collect::<Vec<_>>()});
        assert!(check_message("r", &json!({"components": [row(5)]})).is_empty());
        assert_eq!(
            check_message("r", &json!({"components": [row(6)]})).len(),
            1
        );
        let six_rows: Vec<Value> = (0..6).map(|_| row(1)).collect();
        assert_eq!(
            check_message("r", &json!({"components": six_rows})).len(),
            1
        );
        let bad = json!({"components": [{"type": 1, "components": [button("", "ok"), button(&"i".repeat(101), "ok"), button("ok", &"l".repeat(81))]}]});
        assert_eq!(check_message("r", &bad).len(), 3);
        let link = json!({"components": [{"type": 1, "components": [{"type": 2, "style": 5, "url": "https://x", "label": "go"}]}]});
        assert!(check_message("r", &link).is_empty());
    }

    #[test]
    fn allowed_mentions_shape_is_checked() {
        assert!(check_message(
            "r",
            &json!({"allowed_mentions": {"parse": [], "users": ["1"], "replied_user": false}})
        )
        .is_empty());
        assert_eq!(
            check_message(
                "r",
                &json!({"allowed_mentions": {"parse": ["users"], "users": ["1"]}})
            )
            .len(),
            1
        );
        assert_eq!(
            check_message("r", &json!({"allowed_mentions": {"parse": ["people"]}})).len(),
            1
        );
        assert_eq!(
            check_message("r", &json!({"allowed_mentions": {"users": ["abc"]}})).len(),
            1
        );
        assert_eq!(
            check_message("r", &json!({"allowed_mentions": {"everyone": true}})).len(),
            1
        );
    }
}
