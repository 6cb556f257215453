//! jitsi-contrib's `event_sync` component as meetbot sees it over HTTP.
//!
//! [`Room`] keeps what the component keeps per room (its creation time, every occupant that
//! ever joined with the data taken from its token at join, the active set) and builds the
//! bodies it posts. [`Sender`] posts them as the component does.

use serde_json::{json, Map, Value};
use std::time::Duration;

/// What the token's `context.user` gave an occupant (absent for jibri, jigasi, tokenless).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// `context.user.id`.
    pub id: Option<String>,
    /// `context.user.name` (a guest can type anything here).
    pub name: Option<String>,
    /// `context.user.email`.
    pub email: Option<String>,
}

impl User {
    /// A token user with an id and a name.
    pub fn member(id: impl Into<String>, name: impl Into<String>) -> User {
        User {
            id: Some(id.into()),
            name: Some(name.into()),
            email: None,
        }
    }

    /// No token: jibri, jigasi, a tokenless guest.
    pub fn anonymous() -> User {
        User::default()
    }
}

/// One POST the component makes: where, and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The path under `api_prefix`, e.g. `/events/occupant/joined`.
    pub path: &'static str,
    /// The body.
    pub body: Value,
}

impl Event {
    /// The body as sent.
    pub fn bytes(&self) -> Vec<u8> {
        self.body.to_string().into_bytes()
    }
}

#[derive(Debug, Clone)]
struct OccupantData {
    occupant_jid: String,
    user: User,
    joined_at: i64,
    left_at: Option<i64>,
}

impl OccupantData {
    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("occupant_jid".into(), json!(self.occupant_jid));
        o.insert("joined_at".into(), json!(self.joined_at));
        if let Some(left) = self.left_at {
            o.insert("left_at".into(), json!(left));
        }
        for (k, v) in [
            ("id", &self.user.id),
            ("name", &self.user.name),
            ("email", &self.user.email),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), json!(v));
            }
        }
        Value::Object(o)
    }
}

/// A room as the component tracks it (its `EventData`).
#[derive(Debug, Clone)]
pub struct Room {
    room_jid: String,
    breakout_room_id: Option<String>,
    created_at: i64,
    /// Every occupant that ever joined, in order of first join; a rejoin replaces the data.
    occupants: Vec<OccupantData>,
    active: Vec<String>,
}

impl Room {
    /// A main room `room_jid` (e.g. `standup@muc.meet.jitsi`, `[team]standup@conference.x`)
    /// created at `created_at`, and the `room/created` event it posts.
    pub fn create(room_jid: &str, created_at: i64) -> (Room, Event) {
        Self::created(room_jid, None, created_at)
    }

    /// A breakout room of the main room `main_room_jid`; its events name the main room.
    pub fn create_breakout(
        main_room_jid: &str,
        breakout_room_id: &str,
        created_at: i64,
    ) -> (Room, Event) {
        Self::created(main_room_jid, Some(breakout_room_id), created_at)
    }

    fn created(room_jid: &str, breakout: Option<&str>, created_at: i64) -> (Room, Event) {
        let room = Room {
            room_jid: room_jid.to_string(),
            breakout_room_id: breakout.map(str::to_string),
            created_at,
            occupants: Vec::new(),
            active: Vec::new(),
        };
        let event = room.event(
            "/events/room/created",
            [
                ("event_name", json!("muc-room-created")),
                ("created_at", json!(created_at)),
            ],
        );
        (room, event)
    }

    /// The room's node, as `room_name` carries it.
    pub fn room_name(&self) -> &str {
        self.room_jid.split('@').next().unwrap_or("")
    }

    /// How many are in.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    fn event<const N: usize>(&self, path: &'static str, fields: [(&str, Value); N]) -> Event {
        let mut body = Map::new();
        body.insert("room_name".into(), json!(self.room_name()));
        body.insert("room_jid".into(), json!(self.room_jid));
        body.insert("is_breakout".into(), json!(self.breakout_room_id.is_some()));
        if let Some(id) = &self.breakout_room_id {
            body.insert("breakout_room_id".into(), json!(id));
        }
        for (k, v) in fields {
            body.insert(k.into(), v);
        }
        Event {
            path,
            body: Value::Object(body),
        }
    }

    /// `occupant_jid` joins at `at` with what its token says.
    pub fn join(&mut self, occupant_jid: &str, user: &User, at: i64) -> Event {
        let data = OccupantData {
            occupant_jid: occupant_jid.to_string(),
            user: user.clone(),
            joined_at: at,
            left_at: None,
        };
        match self
            .occupants
            .iter_mut()
            .find(|o| o.occupant_jid == occupant_jid)
        {
            Some(existing) => *existing = data.clone(),
            None => self.occupants.push(data.clone()),
        }
        if !self.active.iter().any(|a| a == occupant_jid) {
            self.active.push(occupant_jid.to_string());
        }
        self.event(
            "/events/occupant/joined",
            [
                ("event_name", json!("muc-occupant-joined")),
                ("occupant", data.to_json()),
                ("active_occupants_count", json!(self.active.len())),
            ],
        )
    }

    /// `occupant_jid` leaves at `at`. Without a record of it the body has no `occupant`.
    pub fn leave(&mut self, occupant_jid: &str, at: i64) -> Event {
        self.active.retain(|a| a != occupant_jid);
        let occupant = self
            .occupants
            .iter_mut()
            .find(|o| o.occupant_jid == occupant_jid)
            .map(|o| {
                o.left_at = Some(at);
                o.to_json()
            });
        let count = json!(self.active.len());
        match occupant {
            Some(o) => self.event(
                "/events/occupant/left",
                [
                    ("event_name", json!("muc-occupant-left")),
                    ("occupant", o),
                    ("active_occupants_count", count),
                ],
            ),
            None => self.event(
                "/events/occupant/left",
                [
                    ("event_name", json!("muc-occupant-left")),
                    ("active_occupants_count", count),
                ],
            ),
        }
    }

    /// The room is destroyed at `at`: a `left` for each occupant still in (Prosody makes them
    /// leave first), then `room/destroyed` with every occupant ever (`{}` when none).
    pub fn destroy(&mut self, at: i64) -> Vec<Event> {
        let still_in = self.active.clone();
        let mut events: Vec<Event> = still_in.iter().map(|jid| self.leave(jid, at)).collect();
        // Lua's JSON encoder writes an empty table as an object.
        let all = if self.occupants.is_empty() {
            json!({})
        } else {
            Value::Array(self.occupants.iter().map(OccupantData::to_json).collect())
        };
        events.push(self.event(
            "/events/room/destroyed",
            [
                ("event_name", json!("muc-room-destroyed")),
                ("created_at", json!(self.created_at)),
                ("destroyed_at", json!(at)),
                ("all_occupants", all),
            ],
        ));
        events
    }
}

/// The component's delivery settings (`api_prefix`, `api_headers`, `api_timeout`,
/// `api_retry_count`, `api_retry_delay`).
#[derive(Debug, Clone)]
pub struct Options {
    /// e.g. `http://127.0.0.1:8080/jitsi`.
    pub api_prefix: String,
    /// Extra headers, e.g. `Authorization: Bearer …`.
    pub headers: Vec<(String, String)>,
    /// The component gives up on a request after this long, and never retries it.
    pub timeout: Duration,
    /// Retries after a connection failure or a 5xx.
    pub retry_count: u32,
    /// Wait between retries.
    pub retry_delay: Duration,
}

impl Options {
    /// The component's defaults (20 s timeout, 3 retries 1 s apart) with a Bearer token.
    pub fn new(api_prefix: impl Into<String>, bearer: Option<&str>) -> Options {
        Options {
            api_prefix: api_prefix.into(),
            headers: bearer
                .map(|t| vec![("Authorization".to_string(), format!("Bearer {t}"))])
                .unwrap_or_default(),
            timeout: Duration::from_secs(20),
            retry_count: 3,
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// An answer the component accepts as final (anything but 5xx, or 5xx with no retry left).
    Answered {
        /// Its status.
        status: u16,
        /// Requests made.
        attempts: u32,
    },
    /// The request timed out: the component drops the event.
    TimedOut {
        /// Requests made.
        attempts: u32,
    },
    /// No connection, retries exhausted.
    ConnectionFailed {
        /// Requests made.
        attempts: u32,
    },
}

impl Delivery {
    /// The final status, if there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Delivery::Answered { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Posts as the component does.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    options: Options,
}

impl Sender {
    /// A sender with `options`.
    pub fn new(options: Options) -> Sender {
        Sender {
            client: reqwest::Client::new(),
            options,
        }
    }

    /// Delivers one event.
    pub async fn send(&self, event: &Event) -> Delivery {
        self.post(event.path, event.bytes()).await
    }

    /// Posts `body` to `{api_prefix}{path}` with the component's retry rules: the identical
    /// body again after `retry_delay` on a connection failure or a 5xx, never after a timeout.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Delivery {
        let url = format!("{}{path}", self.options.api_prefix);
        let mut attempts = 0;
        let mut retries_left = self.options.retry_count;
        loop {
            attempts += 1;
            let mut request = self
                .client
                .post(&url)
                .timeout(self.options.timeout)
                .header("User-Agent", "Prosody (0.12.3; posix)")
                .header("Content-Type", "application/json")
                .body(body.clone());
            for (k, v) in &self.options.headers {
                request = request.header(k, v);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status < 500 || retries_left == 0 {
                        return Delivery::Answered { status, attempts };
                    }
                }
                Err(e) if e.is_timeout() => return Delivery::TimedOut { attempts },
                Err(_) if retries_left == 0 => return Delivery::ConnectionFailed { attempts },
                Err(_) => {}
            }
            retries_left -= 1;
            tokio::time::sleep(self.options.retry_delay).await;
        }
    }
}
