//! The REST side: routing, recording, faults, validation and the handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::limits::FaultKind;
use crate::state::{self, ChannelRec, World};
use crate::{gateway, validate, Inner, InteractionResponse, RecordedRequest, ResponseKind};

mod events;
mod interactions;

use events::{create_event, patch_event};
use interactions::{callback, check_callback, edit_or_delete, webhook_interaction};

/// The axum app: the gateway upgrade plus one catch-all that routes REST by hand, so that
/// every request (also unknown ones) is recorded the same way.
pub fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/gateway", get(gateway::upgrade))
        .route("/cdn/attachments/{id}/{name}", get(attachment))
        .fallback(handle)
        .with_state(inner)
}

/// The simulated CDN: an uploaded file's bytes, as `cdn.discordapp.com` serves an attachment's `url`.
async fn attachment(
    State(inner): State<Arc<Inner>>,
    axum::extract::Path((id, name)): axum::extract::Path<(u64, String)>,
) -> Response {
    let w = inner.world.lock();
    match w.attachments.get(&id) {
        Some((file, kind, bytes)) if *file == name => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, kind.clone())],
            bytes.clone(),
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An answer before it becomes an HTTP response.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        body: Some(body),
        headers: Vec::new(),
    }
}

fn no_content() -> Reply {
    Reply {
        status: 204,
        body: None,
        headers: Vec::new(),
    }
}

fn error(status: u16, code: u64, message: &str) -> Reply {
    Reply {
        status,
        body: Some(json!({"message": message, "code": code})),
        headers: Vec::new(),
    }
}

fn rate_limited(retry_after: f64, global: bool) -> Reply {
    Reply {
        status: 429,
        body: Some(
            json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global}),
        ),
        headers: vec![
            (
                "retry-after",
                format!("{}", retry_after.ceil().max(0.0) as u64),
            ),
            ("x-ratelimit-global", global.to_string()),
            (
                "x-ratelimit-scope",
                if global { "global" } else { "user" }.to_string(),
            ),
        ],
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Instant::now();
    let seq = {
        let mut net = inner.net.lock();
        net.next_seq += 1;
        net.next_seq - 1
    };
    let full = uri.path().to_string();
    let in_api = full.starts_with("/api/v10/");
    let path = if in_api {
        full["/api/v10".len()..].to_string()
    } else {
        full.clone()
    };
    let query = uri.query().unwrap_or_default().to_string();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let method = method.as_str().to_ascii_uppercase();
    let expected = format!("Bot {}", inner.opts.bot_token.trim_start_matches("Bot "));
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let reply = if in_api {
        respond(
            &inner,
            &method,
            &path,
            &query,
            json_body.as_ref(),
            received_at,
            authorized,
        )
    } else {
        unhandled(&inner, &method, &full)
    };
    let latency = inner.net.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let recorded = RecordedRequest {
        seq,
        method,
        path,
        query,
        body: json_body,
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        received_at,
        answered_at: Instant::now(),
        status: reply.status,
    };
    inner.net.lock().requests.push(recorded);
    inner.changed.notify_waiters();
    into_response(reply)
}

fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match reply.body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    resp
}

fn unhandled(inner: &Inner, method: &str, path: &str) -> Reply {
    // Unknown webhook/interaction paths still carry a token; keep it out of the report.
    let shown = crate::records::redact_path(path);
    inner.net.lock().unhandled.push(format!("{method} {shown}"));
    error(404, 0, "404: Not Found")
}

/// Query parameters, tolerant of serenity's `?&limit=50`.
fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

/// The routes the simulator knows.
enum Route<'a> {
    Gateway,
    GatewayBot,
    CurrentUser,
    CurrentUserGuilds,
    User {
        user: u64,
    },
    CurrentApplication,
    GetCommands {
        app: u64,
        guild: Option<u64>,
    },
    PutCommands {
        app: u64,
        guild: Option<u64>,
    },
    Callback {
        id: u64,
        token: &'a str,
    },
    Original {
        app: u64,
        token: &'a str,
    },
    FollowUp {
        app: u64,
        token: &'a str,
    },
    WebhookMessage {
        app: u64,
        token: &'a str,
        message: u64,
    },
    CreateDm,
    ChannelMessages {
        channel: u64,
    },
    ChannelMessage {
        channel: u64,
        message: u64,
    },
    Channel {
        channel: u64,
    },
    Guild {
        guild: u64,
    },
    GuildRoles {
        guild: u64,
    },
    GuildChannels {
        guild: u64,
    },
    GuildMember {
        guild: u64,
        user: u64,
    },
    GuildMembers {
        guild: u64,
    },
    Events {
        guild: u64,
    },
    Event {
        guild: u64,
        event: u64,
    },
    EventUsers {
        guild: u64,
        event: u64,
    },
}

fn id(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn match_route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    let segs: Vec<&'a str> = path.trim_start_matches('/').split('/').collect();
    use Route::*;
    let r = match (method, segs.as_slice()) {
        ("GET", ["gateway"]) => Gateway,
        ("GET", ["gateway", "bot"]) => GatewayBot,
        ("GET", ["users", "@me"]) => CurrentUser,
        ("GET", ["users", "@me", "guilds"]) => CurrentUserGuilds,
        ("GET", ["users", u]) => User { user: id(u)? },
        ("GET", ["oauth2", "applications", "@me"]) => CurrentApplication,
        ("GET", ["applications", app, "commands"]) => GetCommands {
            app: id(app)?,
            guild: None,
        },
        ("PUT", ["applications", app, "commands"]) => PutCommands {
            app: id(app)?,
            guild: None,
        },
        ("GET", ["applications", app, "guilds", g, "commands"]) => GetCommands {
            app: id(app)?,
            guild: Some(id(g)?),
        },
        ("PUT", ["applications", app, "guilds", g, "commands"]) => PutCommands {
            app: id(app)?,
            guild: Some(id(g)?),
        },
        ("POST", ["interactions", i, token, "callback"]) => Callback { id: id(i)?, token },
        ("GET" | "PATCH" | "DELETE", ["webhooks", app, token, "messages", "@original"]) => {
            Original {
                app: id(app)?,
                token,
            }
        }
        ("POST", ["webhooks", app, token]) => FollowUp {
            app: id(app)?,
            token,
        },
        ("GET" | "PATCH" | "DELETE", ["webhooks", app, token, "messages", m]) => WebhookMessage {
            app: id(app)?,
            token,
            message: id(m)?,
        },
        ("POST", ["users", "@me", "channels"]) => CreateDm,
        ("GET" | "POST", ["channels", c, "messages"]) => ChannelMessages { channel: id(c)? },
        ("GET" | "PATCH" | "DELETE", ["channels", c, "messages", m]) => ChannelMessage {
            channel: id(c)?,
            message: id(m)?,
        },
        ("GET", ["channels", c]) => Channel { channel: id(c)? },
        ("GET", ["guilds", g]) => Guild { guild: id(g)? },
        ("GET", ["guilds", g, "roles"]) => GuildRoles { guild: id(g)? },
        ("GET", ["guilds", g, "channels"]) => GuildChannels { guild: id(g)? },
        ("GET", ["guilds", g, "members", u]) => GuildMember {
            guild: id(g)?,
            user: id(u)?,
        },
        ("GET", ["guilds", g, "members"]) => GuildMembers { guild: id(g)? },
        ("GET" | "POST", ["guilds", g, "scheduled-events"]) => Events { guild: id(g)? },
        ("GET" | "PATCH" | "DELETE", ["guilds", g, "scheduled-events", e]) => Event {
            guild: id(g)?,
            event: id(e)?,
        },
        ("GET", ["guilds", g, "scheduled-events", e, "users"]) => EventUsers {
            guild: id(g)?,
            event: id(e)?,
        },
        _ => return None,
    };
    Some(r)
}

impl Route<'_> {
    /// The OpenAPI path template, for routes that take a JSON body.
    fn template(&self) -> Option<&'static str> {
        Some(match self {
            Route::PutCommands { guild: None, .. } => "/applications/{application_id}/commands",
            Route::PutCommands { guild: Some(_), .. } => {
                "/applications/{application_id}/guilds/{guild_id}/commands"
            }
            Route::Callback { .. } => "/interactions/{interaction_id}/{interaction_token}/callback",
            Route::Original { .. } => "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            Route::FollowUp { .. } => "/webhooks/{webhook_id}/{webhook_token}",
            Route::WebhookMessage { .. } => {
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
            }
            Route::CreateDm => "/users/@me/channels",
            Route::ChannelMessages { .. } => "/channels/{channel_id}/messages",
            Route::ChannelMessage { .. } => "/channels/{channel_id}/messages/{message_id}",
            Route::Events { .. } => "/guilds/{guild_id}/scheduled-events",
            Route::Event { .. } => "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}",
            _ => return None,
        })
    }

    /// Whether the body is a message create/edit body that Discord's limits apply to.
    fn carries_message(&self) -> bool {
        matches!(
            self,
            Route::Original { .. }
                | Route::FollowUp { .. }
                | Route::WebhookMessage { .. }
                | Route::ChannelMessages { .. }
                | Route::ChannelMessage { .. }
        )
    }
}

fn respond(
    inner: &Inner,
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    now: Instant,
    authorized: bool,
) -> Reply {
    // Interaction callbacks and webhooks are authorised by the token in their path.
    let exempt = path.starts_with("/interactions/") || path.starts_with("/webhooks/");
    // `GET /gateway` needs no token on Discord, and serenity answers any failure there by
    // connecting to the real gateway instead, so neither auth nor the window may refuse it.
    let gateway_lookup = path == "/gateway";
    let mut after = None;
    {
        let mut net = inner.net.lock();
        match net.faults.take(method, path) {
            Some(FaultKind::StatusAfter(s)) => after = Some(s),
            Some(FaultKind::Status(s)) => {
                if s == 429 {
                    net.count_429 += 1;
                    return rate_limited(1.0, false);
                }
                return error(s, 0, "simulated failure");
            }
            Some(FaultKind::RateLimited {
                retry_after,
                global,
            }) => {
                net.count_429 += 1;
                return rate_limited(retry_after, global);
            }
            None => {}
        }
        // Discord exempts interaction responses and webhooks from the global limit.
        if !exempt && !gateway_lookup {
            if let Some(wait) = net.window.as_mut().and_then(|w| w.admit(now)) {
                net.count_429 += 1;
                let secs = (wait.as_secs_f64() * 1000.0).ceil() / 1000.0;
                return rate_limited(secs.max(0.001), true);
            }
        }
    }
    if !exempt && !gateway_lookup && !authorized {
        return error(401, 0, "401: Unauthorized");
    }
    let Some(route) = match_route(method, path) else {
        return unhandled(inner, method, path);
    };
    if let Some(body) = body {
        let mut violations = Vec::new();
        if let (Some(tpl), Some(spec)) = (route.template(), &inner.spec) {
            violations.extend(spec.check(method, tpl, body));
        }
        let label = format!("{method} {}", route.template().unwrap_or(path));
        if route.carries_message() {
            violations.extend(validate::check_message(&label, body));
        }
        if let Route::Callback { .. } = route {
            violations.extend(check_callback(&label, body));
        }
        if !violations.is_empty() {
            let reply_body = validate::invalid_form_body(&violations);
            inner.net.lock().violations.extend(violations);
            return Reply {
                status: 400,
                body: Some(reply_body),
                headers: Vec::new(),
            };
        }
    }
    let empty = json!({});
    let body = body.unwrap_or(&empty);
    let q = parse_query(query);
    let reply = {
        let mut w = inner.world.lock();
        execute(inner, &mut w, method, route, body, &q, now)
    };
    if let Some(v) = reply.1 {
        inner.net.lock().violations.push(v);
    }
    match after {
        // The request took effect, and the answer says it failed: what a gateway timeout in front of Discord does.
        Some(s) => error(s, 0, "simulated failure after the request took effect"),
        None => reply.0,
    }
}

/// Runs a route; the second value is a semantic violation to record (like a bad event).
fn execute(
    inner: &Inner,
    w: &mut World,
    method: &str,
    route: Route<'_>,
    body: &Value,
    q: &HashMap<String, String>,
    now: Instant,
) -> (Reply, Option<String>) {
    let app_id = inner.opts.application_id;
    let plain = |r: Reply| (r, None);
    match route {
        Route::Gateway => plain(ok(json!({"url": inner.gateway_url()}))),
        Route::GatewayBot => plain(ok(json!({
            "url": inner.gateway_url(),
            "shards": inner.opts.recommended_shards.max(1),
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0,
                                    "max_concurrency": inner.opts.max_concurrency.max(1)},
        }))),
        Route::CurrentUser => {
            let mut u = inner.bot_user_json();
            u["verified"] = json!(true);
            u["mfa_enabled"] = json!(false);
            u["flags"] = json!(0);
            plain(ok(u))
        }
        Route::CurrentUserGuilds => {
            let limit = q
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(200usize);
            let after = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0u64);
            let list: Vec<Value> = w
                .guilds
                .range(after.saturating_add(1)..)
                .take(limit.clamp(1, 200))
                .map(|(_, g)| {
                    json!({
                        "id": g.id.to_string(),
                        "name": g.name,
                        "icon": null,
                        "owner": g.owner_id == inner.opts.bot_user_id,
                        "permissions": g.bot_permissions.to_string(),
                        "features": [],
                    })
                })
                .collect();
            plain(ok(json!(list)))
        }
        Route::User { user } => plain(
            w.user(user)
                .map_or_else(|| error(404, 10013, "Unknown User"), |u| ok(u.to_json())),
        ),
        Route::CurrentApplication => plain(ok(json!({
            "id": app_id.to_string(),
            "name": inner.opts.bot_username,
            "icon": null,
            "description": "",
            "bot_public": false,
            "bot_require_code_grant": false,
            "owner": null,
            "verify_key": "0000",
            "team": null,
            "flags": 0,
            "bot": inner.bot_user_json(),
        }))),
        Route::GetCommands { app, guild } | Route::PutCommands { app, guild } => {
            if app != app_id {
                return plain(error(404, 10002, "Unknown Application"));
            }
            if let Some(g) = guild {
                if !w.guilds.contains_key(&g) {
                    return plain(error(404, 10004, "Unknown Guild"));
                }
            }
            if method == "PUT" {
                let Some(list) = body.as_array() else {
                    return (
                        error(400, 50035, "Invalid Form Body"),
                        Some("PUT commands: body is not an array".into()),
                    );
                };
                let old = match guild {
                    Some(g) => w.guilds[&g].commands.clone(),
                    None => w.global_commands.clone(),
                };
                let mut stored = Vec::new();
                for c in list {
                    // Discord keeps a command's id when a bulk overwrite keeps its name.
                    let cid = old
                        .iter()
                        .find(|o| o["name"] == c["name"])
                        .and_then(|o| o["id"].as_str().and_then(|s| s.parse().ok()))
                        .unwrap_or_else(|| w.next_id());
                    let mut cmd = c.clone();
                    cmd["id"] = json!(cid.to_string());
                    cmd["application_id"] = json!(app_id.to_string());
                    cmd["version"] = json!(w.next_id().to_string());
                    if cmd.get("type").is_none_or(Value::is_null) {
                        cmd["type"] = json!(1);
                    }
                    if cmd.get("description").is_none_or(Value::is_null) {
                        cmd["description"] = json!("");
                    }
                    cmd["guild_id"] = guild.map_or(Value::Null, |g| json!(g.to_string()));
                    stored.push(cmd);
                }
                match guild {
                    Some(g) => w.guilds.get_mut(&g).expect("checked").commands = stored.clone(),
                    None => w.global_commands = stored.clone(),
                }
                plain(ok(json!(stored)))
            } else {
                let list = match guild {
                    Some(g) => w.guilds[&g].commands.clone(),
                    None => w.global_commands.clone(),
                };
                plain(ok(json!(list)))
            }
        }
        Route::Callback { id, token } => callback(inner, w, id, token, body, now),
        Route::Original { app, token } => {
            let rec = match webhook_interaction(inner, w, app, token, now) {
                Ok(r) => r,
                Err(e) => return plain(e),
            };
            let Some(mid) = rec.original else {
                return plain(error(404, 10008, "Unknown Message"));
            };
            let kind = match method {
                "GET" => {
                    return plain(
                        w.message(mid)
                            .cloned()
                            .map_or_else(|| error(404, 10008, "Unknown Message"), ok),
                    )
                }
                "PATCH" => ResponseKind::EditOriginal,
                _ => ResponseKind::DeleteOriginal,
            };
            edit_or_delete(w, token, mid, kind, body)
        }
        Route::WebhookMessage {
            app,
            token,
            message,
        } => {
            let rec = match webhook_interaction(inner, w, app, token, now) {
                Ok(r) => r,
                Err(e) => return plain(e),
            };
            if rec.original != Some(message) && !rec.followups.contains(&message) {
                return plain(error(404, 10008, "Unknown Message"));
            }
            let kind = match method {
                "GET" => {
                    return plain(
                        w.message(message)
                            .cloned()
                            .map_or_else(|| error(404, 10008, "Unknown Message"), ok),
                    )
                }
                "PATCH" => ResponseKind::EditFollowUp,
                _ => ResponseKind::DeleteFollowUp,
            };
            edit_or_delete(w, token, message, kind, body)
        }
        Route::FollowUp { app, token } => {
            let rec = match webhook_interaction(inner, w, app, token, now) {
                Ok(r) => r,
                Err(e) => return plain(e),
            };
            if !rec.responded {
                return plain(error(404, 10015, "Unknown Webhook"));
            }
            let mid = w.next_id();
            let msg = state::new_message(
                mid,
                rec.channel_id,
                rec.guild_id,
                inner.bot_user_json(),
                body,
                Some(app_id),
            );
            w.store_message(rec.channel_id, msg.clone());
            let r = w.interactions.get_mut(token).expect("looked up");
            r.followups.insert(mid);
            r.responses.push(InteractionResponse {
                kind: ResponseKind::FollowUp,
                body: body.clone(),
            });
            plain(ok(msg))
        }
        Route::CreateDm => {
            let rid = body["recipient_id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| body["recipient_id"].as_u64());
            let Some(rid) = rid.filter(|r| w.users.contains_key(r)) else {
                return plain(error(400, 50033, "Invalid Recipient(s)"));
            };
            let cid = match w.dm_channels.get(&rid) {
                Some(c) => *c,
                None => {
                    let c = w.next_id();
                    w.dm_channels.insert(rid, c);
                    w.channels.insert(
                        c,
                        ChannelRec {
                            id: c,
                            name: String::new(),
                            guild_id: None,
                            recipient: Some(rid),
                            overwrites: Vec::new(),
                        },
                    );
                    c
                }
            };
            plain(ok(w.channel_json(&w.channels[&cid])))
        }
        Route::ChannelMessages { channel } => {
            let Some(ch) = w.channels.get(&channel).cloned() else {
                return plain(error(404, 10003, "Unknown Channel"));
            };
            if method == "GET" {
                let limit = q
                    .get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(50usize)
                    .clamp(1, 100);
                let list: Vec<Value> = w
                    .messages
                    .get(&channel)
                    .map(|l| l.iter().rev().take(limit).cloned().collect())
                    .unwrap_or_default();
                return plain(ok(json!(list)));
            }
            if ch.recipient.is_some_and(|u| w.closed_dms.contains(&u)) {
                return plain(error(403, 50007, "Cannot send messages to this user"));
            }
            let has_payload = [
                "content",
                "embeds",
                "components",
                "sticker_ids",
                "attachments",
                "poll",
            ]
            .iter()
            .any(|k| match body.get(*k) {
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::Null) | None => false,
                Some(_) => true,
            });
            if !has_payload {
                return (
                    error(400, 50006, "Cannot send an empty message"),
                    Some(format!("POST /channels/{channel}/messages: empty message")),
                );
            }
            // enforce_nonce: the same nonce from the same author in the same channel within minutes returns the
            // message already made, and makes no second one.
            let author = inner.opts.bot_user_id;
            let enforced = body["enforce_nonce"].as_bool() == Some(true);
            let nonce = match &body["nonce"] {
                Value::String(n) => Some(n.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            if let (true, Some(n)) = (enforced, &nonce) {
                let key = (channel, author, n.clone());
                if let Some((existing, at)) = w.nonces.get(&key).copied() {
                    if now.duration_since(at) < state::NONCE_WINDOW {
                        if let Some(m) = w.message(existing).cloned() {
                            return plain(ok(m));
                        }
                    }
                }
            }
            let mid = w.next_id();
            let mut msg =
                state::new_message(mid, channel, ch.guild_id, inner.bot_user_json(), body, None);
            if let Some(n) = &nonce {
                msg["nonce"] = json!(n);
                if enforced {
                    w.nonces.insert((channel, author, n.clone()), (mid, now));
                }
            }
            w.store_message(channel, msg.clone());
            plain(ok(msg))
        }
        Route::ChannelMessage { channel, message } => {
            if !w.channels.contains_key(&channel) {
                return plain(error(404, 10003, "Unknown Channel"));
            }
            if w.message_channel.get(&message) != Some(&channel) {
                return plain(error(404, 10008, "Unknown Message"));
            }
            match method {
                "GET" => plain(ok(w.message(message).cloned().expect("indexed"))),
                "PATCH" => {
                    let m = w.message_mut(message).expect("indexed");
                    state::apply_edit(m, body);
                    plain(ok(m.clone()))
                }
                _ => {
                    w.delete_message(message);
                    plain(no_content())
                }
            }
        }
        Route::Channel { channel } => plain(w.channels.get(&channel).map_or_else(
            || error(404, 10003, "Unknown Channel"),
            |c| ok(w.channel_json(c)),
        )),
        Route::Guild { guild }
        | Route::GuildRoles { guild }
        | Route::GuildChannels { guild }
        | Route::GuildMembers { guild }
        | Route::GuildMember { guild, .. }
        | Route::Events { guild }
        | Route::Event { guild, .. }
        | Route::EventUsers { guild, .. }
            if !w.guilds.contains_key(&guild) =>
        {
            plain(error(404, 10004, "Unknown Guild"))
        }
        Route::Guild { guild } => plain(ok(w.guild_json(&w.guilds[&guild]))),
        Route::GuildRoles { guild } => plain(ok(json!(w.guilds[&guild]
            .roles
            .values()
            .map(state::RoleSpec::to_json)
            .collect::<Vec<_>>()))),
        Route::GuildChannels { guild } => {
            let g = &w.guilds[&guild];
            let list: Vec<Value> = g
                .channels
                .iter()
                .filter_map(|c| w.channels.get(c))
                .map(|c| w.channel_json(c))
                .collect();
            plain(ok(json!(list)))
        }
        Route::GuildMember { guild, user } => {
            let g = &w.guilds[&guild];
            plain(g.members.get(&user).map_or_else(
                || error(404, 10007, "Unknown Member"),
                |m| ok(w.member_json(g, m, false)),
            ))
        }
        Route::GuildMembers { guild } => {
            let g = &w.guilds[&guild];
            let limit = q
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1usize);
            if !(1..=1000).contains(&limit) {
                return (
                    error(400, 50035, "Invalid Form Body"),
                    Some(format!(
                        "GET /guilds/{guild}/members: limit {limit} outside 1-1000"
                    )),
                );
            }
            let after = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0u64);
            let list: Vec<Value> = g
                .members
                .range(after.saturating_add(1)..)
                .take(limit)
                .map(|(_, m)| w.member_json(g, m, false))
                .collect();
            plain(ok(json!(list)))
        }
        Route::Events { guild } => {
            if method == "GET" {
                let list: Vec<Value> = w.guilds[&guild]
                    .events
                    .values()
                    .map(|e| e.json.clone())
                    .collect();
                return plain(ok(json!(list)));
            }
            create_event(inner, w, guild, body)
        }
        Route::Event { guild, event } => {
            let Some(e) = w.guilds[&guild].events.get(&event).cloned() else {
                return plain(error(404, 10070, "Unknown Guild Scheduled Event"));
            };
            match method {
                "GET" => plain(ok(e.json)),
                "PATCH" => patch_event(w, guild, event, e, body),
                _ => {
                    w.guilds
                        .get_mut(&guild)
                        .expect("checked")
                        .events
                        .remove(&event);
                    w.dispatch(Some(guild), "GUILD_SCHEDULED_EVENT_DELETE", e.json);
                    plain(no_content())
                }
            }
        }
        Route::EventUsers { guild, event } => {
            let g = &w.guilds[&guild];
            let Some(e) = g.events.get(&event) else {
                return plain(error(404, 10070, "Unknown Guild Scheduled Event"));
            };
            let limit = q
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100usize);
            if !(1..=100).contains(&limit) {
                return (
                    error(400, 50035, "Invalid Form Body"),
                    Some(format!(
                        "GET scheduled event users: limit {limit} outside 1-100"
                    )),
                );
            }
            let with_member = q.get("with_member").is_some_and(|v| v == "true");
            let ids: Vec<u64> =
                if let Some(before) = q.get("before").and_then(|b| b.parse::<u64>().ok()) {
                    let below: Vec<u64> = e.interested.range(..before).map(|(k, _)| *k).collect();
                    below[below.len().saturating_sub(limit)..].to_vec()
                } else {
                    let after = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0u64);
                    e.interested
                        .range(after.saturating_add(1)..)
                        .take(limit)
                        .map(|(k, _)| *k)
                        .collect()
                };
            let list: Vec<Value> = ids
                .iter()
                .filter_map(|u| w.user(*u))
                .map(|u| {
                    let mut v =
                        json!({"guild_scheduled_event_id": event.to_string(), "user": u.to_json()});
                    if with_member {
                        if let Some(m) = g.members.get(&u.id) {
                            let mut mj = w.member_json(g, m, false);
                            if let Some(o) = mj.as_object_mut() {
                                o.remove("user");
                            }
                            v["member"] = mj;
                        }
                    }
                    v
                })
                .collect();
            plain(ok(json!(list)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_with_leading_ampersand_parse() {
        let q = parse_query("&limit=50&&after=7");
        assert_eq!(q.get("limit").map(String::as_str), Some("50"));
        assert_eq!(q.get("after").map(String::as_str), Some("7"));
    }

    #[test]
    fn non_numeric_ids_match_no_route() {
        assert!(match_route("GET", "/guilds/abc").is_none());
        assert!(match_route("GET", "/guilds/12").is_some());
        assert!(match_route("POST", "/guilds/12").is_none());
    }
}
