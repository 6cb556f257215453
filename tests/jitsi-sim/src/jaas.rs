//! 8x8 JaaS webhooks: events of one meeting session with fresh idempotency keys, signed as
//! JaaS signs them: `X-Jaas-Signature: t=<unix seconds>,v1=base64(HMAC-SHA256(whole secret,
//! t + "." + body))`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The `X-Jaas-Signature` value for `body` signed at `t` with `secret` (prefix included).
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// One webhook body.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// The JSON body.
    pub body: Value,
}

impl Webhook {
    /// The body as sent.
    pub fn bytes(&self) -> Vec<u8> {
        self.body.to_string().into_bytes()
    }

    /// Its idempotency key.
    pub fn idempotency_key(&self) -> &str {
        self.body["idempotencyKey"].as_str().unwrap_or("")
    }
}

/// One meeting session on JaaS: `appId/room`, a session id, and a counter for keys.
#[derive(Debug, Clone)]
pub struct Session {
    app_id: String,
    room: String,
    session_id: String,
    next_key: u64,
}

impl Session {
    /// A session of `room` under `app_id`.
    pub fn new(app_id: &str, room: &str, session_id: &str) -> Session {
        Session {
            app_id: app_id.to_string(),
            room: room.to_string(),
            session_id: session_id.to_string(),
            next_key: 0,
        }
    }

    fn webhook(&mut self, event_type: &str, timestamp_ms: i64, data: Value) -> Webhook {
        self.next_key += 1;
        Webhook {
            body: json!({
                "idempotencyKey": format!("{}-{}", self.session_id, self.next_key),
                "customerId": "c2824d584eac4489a1e32e4e164d5a3c",
                "appId": self.app_id,
                "eventType": event_type,
                "sessionId": self.session_id,
                "timestamp": timestamp_ms,
                "fqn": format!("{}/{}", self.app_id, self.room),
                "data": data,
            }),
        }
    }

    /// ROOM_CREATED at `timestamp_ms`.
    pub fn room_created(&mut self, timestamp_ms: i64) -> Webhook {
        let conference = format!("{}@conference.{}.8x8.vc", self.room, self.app_id);
        self.webhook(
            "ROOM_CREATED",
            timestamp_ms,
            json!({"conference": conference, "isBreakout": false}),
        )
    }

    /// ROOM_DESTROYED at `timestamp_ms`.
    pub fn room_destroyed(&mut self, timestamp_ms: i64) -> Webhook {
        let conference = format!("{}@conference.{}.8x8.vc", self.room, self.app_id);
        self.webhook(
            "ROOM_DESTROYED",
            timestamp_ms,
            json!({"conference": conference, "isBreakout": false}),
        )
    }

    fn participant(participant_id: &str, user_id: Option<&str>, name: &str) -> Value {
        let mut data = json!({
            "moderator": "false",
            "name": name,
            "participantId": participant_id,
            "participantJid": format!("{participant_id}@8x8.vc"),
        });
        if let Some(id) = user_id {
            data["id"] = json!(id);
        }
        data
    }

    /// PARTICIPANT_JOINED of `participant_id` whose token had `user_id`.
    pub fn joined(
        &mut self,
        participant_id: &str,
        user_id: Option<&str>,
        timestamp_ms: i64,
    ) -> Webhook {
        let data = Self::participant(participant_id, user_id, "Typed Name");
        self.webhook("PARTICIPANT_JOINED", timestamp_ms, data)
    }

    /// PARTICIPANT_LEFT of `participant_id`.
    pub fn left(
        &mut self,
        participant_id: &str,
        user_id: Option<&str>,
        timestamp_ms: i64,
    ) -> Webhook {
        let mut data = Self::participant(participant_id, user_id, "Typed Name");
        data["disconnectReason"] = json!("left");
        self.webhook("PARTICIPANT_LEFT", timestamp_ms, data)
    }
}

/// Posts webhooks to one endpoint with one secret.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    url: String,
    secret: String,
}

impl Sender {
    /// Posts to `url` (e.g. `http://127.0.0.1:8080/jaas/webhook`), signing with `secret`.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Sender {
        Sender {
            client: reqwest::Client::new(),
            url: url.into(),
            secret: secret.into(),
        }
    }

    /// Sends `webhook` signed at `t` (unix seconds); returns the status.
    pub async fn send(&self, webhook: &Webhook, t: i64) -> reqwest::Result<u16> {
        let body = webhook.bytes();
        let header = signature_header(&self.secret, t, &body);
        self.send_raw(body, Some(header)).await
    }

    /// Sends `body` with the given signature header (or none), as is.
    pub async fn send_raw(&self, body: Vec<u8>, signature: Option<String>) -> reqwest::Result<u16> {
        let mut request = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(s) = signature {
            request = request.header("X-Jaas-Signature", s);
        }
        Ok(request.send().await?.status().as_u16())
    }
}
