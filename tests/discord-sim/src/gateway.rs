//! The fake gateway: HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats, member chunks.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::state::{Identify, Outgoing, Session};
use crate::Inner;

/// Upgrades `GET /gateway` to a WebSocket session.
pub async fn upgrade(State(inner): State<Arc<Inner>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| run(inner, socket))
}

async fn run(inner: Arc<Inner>, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let session_id = {
        let mut w = inner.world.lock();
        w.next_session += 1;
        let id = w.next_session;
        w.sessions.push(Session {
            id,
            tx: tx.clone(),
            seq: 0,
            identified: false,
            identified_at: None,
            shard: None,
            intents: 0,
        });
        id
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": inner.opts.heartbeat_interval.as_millis() as u64}});
    let _ = tx.send(Outgoing::Json(hello));
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Json(v)) => {
                    if socket.send(Message::Text(v.to_string().into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(text.as_str()) {
                        handle(&inner, session_id, &tx, v);
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    inner.world.lock().close_frames_received += 1;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    {
        let mut w = inner.world.lock();
        w.sessions.retain(|s| s.id != session_id);
        w.disconnects += 1;
    }
    inner.changed.notify_waiters();
}

fn handle(inner: &Inner, session_id: u64, tx: &mpsc::UnboundedSender<Outgoing>, v: Value) {
    match v["op"].as_u64() {
        Some(1) => {
            let _ = tx.send(Outgoing::Json(json!({"op": 11})));
        }
        Some(2) => identify(inner, session_id, tx, &v["d"]),
        Some(6) => {
            // Sessions are not kept, so a resume is refused and the client identifies again.
            let _ = tx.send(Outgoing::Json(json!({"op": 9, "d": false})));
        }
        Some(8) => request_members(inner, session_id, &v["d"]),
        _ => {}
    }
    inner.changed.notify_waiters();
}

fn identify(inner: &Inner, session_id: u64, tx: &mpsc::UnboundedSender<Outgoing>, d: &Value) {
    let sent = d["token"].as_str().unwrap_or_default();
    let expected = inner.opts.bot_token.trim_start_matches("Bot ");
    let accepted = sent.trim_start_matches("Bot ") == expected;
    let shard = d["shard"]
        .as_array()
        .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()?)));
    let mut w = inner.world.lock();
    let at = std::time::Instant::now();
    // Discord lets one shard of each rate-limit bucket (shard id % max_concurrency) identify per five seconds;
    // judged among the sessions still connected (a restarted bot's old sessions are gone).
    let mc = u64::from(inner.opts.max_concurrency.max(1));
    let bucket = shard.map_or(0, |(i, _)| i % mc);
    let checked = inner.opts.enforce_identify_spacing;
    if let Some(gap) = w
        .sessions
        .iter()
        .filter(|s| {
            s.identified && s.id != session_id && s.shard.map_or(0, |(i, _)| i % mc) == bucket
        })
        .filter_map(|s| s.identified_at)
        .map(|t| at.duration_since(t))
        .min()
    {
        if checked && gap < std::time::Duration::from_secs(5) {
            inner.net.lock().violations.push(format!(
                "IDENTIFY of shard {shard:?} {gap:?} after another in bucket {bucket} (max_concurrency {mc}): at most one per 5 s"
            ));
        }
    }
    w.identifies.push(Identify {
        intents: d["intents"].as_u64().unwrap_or(0),
        token: sent.to_string(),
        token_accepted: accepted,
        shard,
        at,
    });
    if !accepted {
        let _ = tx.send(Outgoing::Close(4004, "Authentication failed.".into()));
        return;
    }
    let bot_id = inner.opts.bot_user_id;
    let all_members = inner.opts.guild_create_all_members;
    let guild_ids: Vec<u64> = w.guilds.keys().copied().collect();
    let session_no = session_id;
    let Some(session) = w.sessions.iter_mut().find(|s| s.id == session_id) else {
        return;
    };
    session.identified = true;
    session.identified_at = Some(at);
    session.shard = shard;
    session.intents = d["intents"].as_u64().unwrap_or(0);
    let served: Vec<u64> = guild_ids
        .into_iter()
        .filter(|g| session.serves(Some(*g)))
        .collect();
    let mut ready = json!({
        "v": 10,
        "user": inner.bot_user_json(),
        "guilds": served.iter().map(|g| json!({"id": g.to_string(), "unavailable": true})).collect::<Vec<_>>(),
        "session_id": format!("sim-session-{session_no}"),
        "resume_gateway_url": inner.gateway_url(),
        "application": {"id": inner.opts.application_id.to_string(), "flags": 0},
    });
    if let Some((i, n)) = shard {
        ready["shard"] = json!([i, n]);
    }
    session.dispatch("READY", ready);
    let creates: Vec<Value> = served
        .iter()
        .filter_map(|g| w.guilds.get(g))
        .map(|g| w.guild_create_json(g, bot_id, all_members))
        .collect();
    let session = w
        .sessions
        .iter_mut()
        .find(|s| s.id == session_id)
        .expect("session present");
    for g in creates {
        session.dispatch("GUILD_CREATE", g);
    }
    w.ready_sent += 1;
}

fn request_members(inner: &Inner, session_id: u64, d: &Value) {
    let Some(guild_id) = d["guild_id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
        return;
    };
    let mut w = inner.world.lock();
    let Some(g) = w.guilds.get(&guild_id) else {
        return;
    };
    let query = d["query"].as_str().map(str::to_lowercase);
    let limit = d["limit"].as_u64().filter(|l| *l > 0).unwrap_or(u64::MAX) as usize;
    let wanted: Option<Vec<u64>> = d["user_ids"].as_array().map(|ids| {
        ids.iter()
            .filter_map(|i| {
                i.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| i.as_u64())
            })
            .collect()
    });
    let (members, not_found): (Vec<Value>, Vec<u64>) = match &wanted {
        Some(ids) => {
            let found = ids
                .iter()
                .filter_map(|id| g.members.get(id))
                .map(|m| w.member_json(g, m, false))
                .collect();
            let missing = ids
                .iter()
                .copied()
                .filter(|id| !g.members.contains_key(id))
                .collect();
            (found, missing)
        }
        None => {
            let q = query.unwrap_or_default();
            let found = g
                .members
                .values()
                .filter(|m| m.user.username.to_lowercase().starts_with(&q))
                .take(limit)
                .map(|m| w.member_json(g, m, false))
                .collect();
            (found, Vec::new())
        }
    };
    let chunks: Vec<&[Value]> = if members.is_empty() {
        vec![&[]]
    } else {
        members.chunks(1000).collect()
    };
    let count = chunks.len();
    let nonce = d.get("nonce").cloned().unwrap_or(Value::Null);
    let payloads: Vec<Value> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "guild_id": guild_id.to_string(),
                "members": c,
                "chunk_index": i,
                "chunk_count": count,
                "not_found": if i == 0 { not_found.iter().map(|u| u.to_string()).collect::<Vec<_>>() } else { vec![] },
                "nonce": nonce,
            })
        })
        .collect();
    if let Some(s) = w.sessions.iter_mut().find(|s| s.id == session_id) {
        for p in payloads {
            s.dispatch("GUILD_MEMBERS_CHUNK", p);
        }
    }
}
