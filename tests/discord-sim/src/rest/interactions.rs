//! Interaction callbacks and the webhook routes behind an interaction token.

use std::time::Instant;

use serde_json::{json, Value};

use super::{error, no_content, ok, Reply};
use crate::state::{self, World};
use crate::{validate, Inner, InteractionResponse, ResponseKind};

/// Callback-specific rules: message limits for types 4 and 7, and a deferral may carry only
/// the ephemeral flag.
pub(super) fn check_callback(label: &str, body: &Value) -> Vec<String> {
    let data = body.get("data").unwrap_or(&Value::Null);
    match body["type"].as_u64() {
        Some(4 | 7) => validate::check_message(label, data),
        Some(5 | 6) => {
            let mut out = Vec::new();
            if let Some(obj) = data.as_object() {
                for (k, v) in obj {
                    let allowed = k == "flags" && v.as_u64().is_some_and(|f| f & !64 == 0);
                    // serenity always sends `attachments: []`; emptiness carries nothing.
                    let empty = v.is_null() || v.as_array().is_some_and(Vec::is_empty);
                    if !allowed && !empty {
                        out.push(format!(
                            "{label}: a deferred response may carry only flags 64, got {k}={v}"
                        ));
                    }
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The interaction behind a webhook token, or the error Discord gives.
pub(super) fn webhook_interaction(
    inner: &Inner,
    w: &World,
    app: u64,
    token: &str,
    now: Instant,
) -> Result<state::InteractionRec, Reply> {
    if app != inner.opts.application_id {
        return Err(error(404, 10015, "Unknown Webhook"));
    }
    match w.interactions.get(token) {
        Some(r) if now.duration_since(r.created) <= inner.opts.token_lifetime => Ok(r.clone()),
        _ => Err(error(401, 50027, "Invalid Webhook Token")),
    }
}

pub(super) fn edit_or_delete(
    w: &mut World,
    token: &str,
    message: u64,
    kind: ResponseKind,
    body: &Value,
) -> (Reply, Option<String>) {
    let reply = if matches!(
        kind,
        ResponseKind::DeleteOriginal | ResponseKind::DeleteFollowUp
    ) {
        if !w.delete_message(message) {
            return (error(404, 10008, "Unknown Message"), None);
        }
        no_content()
    } else {
        let Some(m) = w.message_mut(message) else {
            return (error(404, 10008, "Unknown Message"), None);
        };
        state::apply_edit(m, body);
        // Editing a deferred response replaces the "thinking" state.
        if let Some(f) = m["flags"].as_u64() {
            m["flags"] = json!(f & !128);
        }
        ok(m.clone())
    };
    if let Some(r) = w.interactions.get_mut(token) {
        r.responses.push(InteractionResponse {
            kind,
            body: if reply.status == 204 {
                Value::Null
            } else {
                body.clone()
            },
        });
    }
    (reply, None)
}

pub(super) fn callback(
    inner: &Inner,
    w: &mut World,
    id: u64,
    token: &str,
    body: &Value,
    now: Instant,
) -> (Reply, Option<String>) {
    let Some(rec) = w.interactions.get(token).cloned() else {
        return (error(404, 10062, "Unknown interaction"), None);
    };
    if rec.id != id {
        return (error(404, 10062, "Unknown interaction"), None);
    }
    if rec.responded {
        return (
            error(400, 40060, "Interaction has already been acknowledged."),
            None,
        );
    }
    if now.duration_since(rec.created) > inner.opts.interaction_deadline {
        return (error(404, 10062, "Unknown interaction"), None);
    }
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    let kind = body["type"].as_u64();
    let is_component = rec.source_message.is_some();
    let bad = |why: &str| {
        (
            error(400, 50035, "Invalid Form Body"),
            Some(format!(
                "POST /interactions/{{id}}/{{token}}/callback: {why}"
            )),
        )
    };
    let autocomplete = rec.kind == 4;
    let original = match kind {
        Some(8) if !autocomplete => {
            return bad("autocomplete result for a non-autocomplete interaction")
        }
        _ if autocomplete && kind != Some(8) => {
            return bad("an autocomplete interaction takes only type 8")
        }
        Some(4) | Some(5) => {
            let mid = w.next_id();
            let mut msg_body = if data.is_null() {
                json!({})
            } else {
                data.clone()
            };
            if kind == Some(5) {
                let flags = data["flags"].as_u64().unwrap_or(0);
                msg_body["flags"] = json!(flags | 128);
            }
            let msg = state::new_message(
                mid,
                rec.channel_id,
                rec.guild_id,
                inner.bot_user_json(),
                &msg_body,
                Some(inner.opts.application_id),
            );
            w.store_message(rec.channel_id, msg);
            Some(mid)
        }
        Some(6) if is_component => rec.source_message,
        Some(7) if is_component => {
            let mid = rec.source_message.expect("component");
            if let Some(m) = w.message_mut(mid) {
                state::apply_edit(m, &data);
            }
            Some(mid)
        }
        Some(6 | 7) => return bad("update-message responses need a component interaction"),
        Some(8) => None,
        Some(9) => None,
        _ => return bad("unknown callback type"),
    };
    let r = w.interactions.get_mut(token).expect("looked up");
    r.responded = true;
    r.original = original;
    r.responses.push(InteractionResponse {
        kind: ResponseKind::Callback,
        body: body.clone(),
    });
    (no_content(), None)
}
