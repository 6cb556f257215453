//! Helpers shared by the raw-protocol tests: a world, a bare gateway client, REST calls.

#![allow(dead_code)]

use std::time::Duration;

use discord_sim::{RoleSpec, Simulator, UserSpec, ADMINISTRATOR};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const GUILD: u64 = 100_000_000_000_000_001;
pub const CHANNEL: u64 = 100_000_000_000_000_002;
pub const MOD_ROLE: u64 = 100_000_000_000_000_003;
pub const OWNER: u64 = 200_000_000_000_000_001;
pub const ALICE: u64 = 200_000_000_000_000_002;
pub const BOB: u64 = 200_000_000_000_000_003;
pub const CAROL: u64 = 200_000_000_000_000_004;
pub const WAIT: Duration = Duration::from_secs(4);

/// A guild with an owner, a moderator (Administrator role), two plain members, one of whom
/// (Bob) has closed DMs, and Carol sitting in voice.
pub fn world(sim: &Simulator) {
    sim.add_guild(GUILD, "Sim guild", OWNER);
    sim.add_role(
        GUILD,
        RoleSpec::new(MOD_ROLE, "Moderator", ADMINISTRATOR, 1),
    );
    sim.add_text_channel(GUILD, CHANNEL, "general");
    sim.add_member(GUILD, UserSpec::new(OWNER, "owner"), &[]);
    sim.add_member(
        GUILD,
        UserSpec::new(ALICE, "alice")
            .global_name("Alice")
            .avatar("0123456789abcdef0123456789abcdef"),
        &[MOD_ROLE],
    );
    sim.add_member(GUILD, UserSpec::new(BOB, "bob"), &[]);
    sim.add_member(GUILD, UserSpec::new(CAROL, "carol"), &[]);
    sim.set_in_voice(GUILD, CAROL, true);
    sim.close_dms(BOB);
}

/// A bare gateway client speaking the protocol by hand.
pub struct RawGateway {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawGateway {
    /// Connects the way serenity does (`url?v=10`).
    pub async fn connect(sim: &Simulator) -> Self {
        let url = format!("{}?v=10", sim.gateway_url());
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("gateway connects");
        Self { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next JSON payload, or `Err(close code)` when the server closes.
    pub async fn recv(&mut self) -> Result<Value, u16> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("gateway answers in time");
            match msg {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).expect("json")),
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(0, |f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(0),
            }
        }
    }

    /// The next dispatch (op 0) named `name`, skipping others.
    pub async fn dispatch(&mut self, name: &str) -> Value {
        loop {
            let v = self.recv().await.expect("connection open");
            if v["op"] == 0 && v["t"] == name {
                return v;
            }
        }
    }

    /// HELLO, then IDENTIFY with `token`; returns HELLO.
    pub async fn identify(&mut self, token: &str, intents: u64) -> Value {
        let hello = self.recv().await.expect("hello");
        self.send(json!({"op": 2, "d": {"token": token, "intents": intents, "properties": {}}}))
            .await;
        hello
    }

    /// An identified client (intents GUILDS and GUILD_SCHEDULED_EVENTS) that has read READY.
    pub async fn ready(sim: &Simulator) -> (Self, Value) {
        Self::ready_with_intents(sim, 1 | discord_sim::INTENT_GUILD_SCHEDULED_EVENTS).await
    }

    /// An identified client with the given intents that has read READY.
    pub async fn ready_with_intents(sim: &Simulator, intents: u64) -> (Self, Value) {
        let mut gw = Self::connect(sim).await;
        gw.identify(&format!("Bot {}", sim.bot_token()), intents)
            .await;
        let ready = gw.dispatch("READY").await;
        (gw, ready)
    }
}

/// One REST call: status, headers and JSON body (Null when empty).
pub async fn call(
    sim: &Simulator,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v10{path}", sim.base_url());
    let mut req = client
        .request(method.parse().expect("method"), url)
        .header("authorization", format!("Bot {}", sim.bot_token()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json body")
    };
    (status, headers, json)
}

/// Registers `commands` in the guild as the bot would.
pub async fn register(sim: &Simulator, commands: Value) -> Value {
    let path = format!(
        "/applications/{}/guilds/{GUILD}/commands",
        sim.application_id()
    );
    let (status, _, body) = call(sim, "PUT", &path, Some(commands)).await;
    assert_eq!(status, 200);
    body
}
