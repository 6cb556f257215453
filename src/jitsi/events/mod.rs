//! What a Jitsi deployment reports about its rooms, read from the wire into one shape: a room
//! event says which room, when, which lives of the room and which visits of occupants it
//! knows about. Both sources map onto it: jitsi-contrib's `event_sync` Prosody component
//! ([`event_sync`]) and 8x8 JaaS webhooks ([`jaas`]).
//!
//! Reading is strict about what is used (types, ranges, required fields) and ignores fields
//! it does not use (`include_user_info` copies arbitrary token claims into occupants, other
//! modules add room attributes). Display names and e-mails are never read: names shown in
//! Discord come from the server's own members, never from what a guest can type.

pub mod event_sync;
pub mod jaas;

use chrono::{DateTime, TimeZone, Utc};
use std::fmt;

/// Longest occupant, session or breakout id kept; longer ones are refused as malformed.
pub const MAX_KEY_LEN: usize = 512;
/// Longest room name read (a tenant plus a room name of at most 200 bytes fits easily).
pub const MAX_ROOM_NAME_LEN: usize = 512;
/// Longest token user id kept; a longer one is not one of ours and counts as no id.
pub const MAX_USER_ID_LEN: usize = 128;

/// Who sent an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    /// jitsi-contrib's `event_sync` Prosody component.
    EventSync,
    /// An 8x8 JaaS webhook.
    Jaas,
}

impl EventSource {
    /// A short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::EventSync => "event_sync",
            EventSource::Jaas => "jaas",
        }
    }
}

/// The four events meetbot follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A room was created (someone is trying to join: the join may still be refused).
    RoomCreated,
    /// A room was destroyed (its last occupant left).
    RoomDestroyed,
    /// An occupant joined.
    OccupantJoined,
    /// An occupant left.
    OccupantLeft,
}

impl EventKind {
    /// A short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RoomCreated => "room_created",
            EventKind::RoomDestroyed => "room_destroyed",
            EventKind::OccupantJoined => "occupant_joined",
            EventKind::OccupantLeft => "occupant_left",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A room as an event names it: the tenant (event_sync `[tenant]room`, JaaS the AppID) and
/// the room name, both lowercased as Prosody's JID preparation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRef {
    /// The tenant, if the name carries one.
    pub tenant: Option<String>,
    /// The room name without tenant.
    pub room: String,
}

impl RoomRef {
    /// Reads event_sync's `room_name`: `"[tenant]room"` for tenant rooms, else `"room"`.
    pub fn from_room_name(name: &str) -> RoomRef {
        let name = name.to_lowercase();
        if let Some(rest) = name.strip_prefix('[') {
            if let Some((tenant, room)) = rest.split_once(']') {
                if !tenant.is_empty() && !room.is_empty() {
                    return RoomRef {
                        tenant: Some(tenant.to_string()),
                        room: room.to_string(),
                    };
                }
            }
        }
        RoomRef {
            tenant: None,
            room: name,
        }
    }

    /// Reads JaaS's `fqn`, `"<AppID>/<room>"`; `None` without a `/` or with an empty part.
    pub fn from_fqn(fqn: &str) -> Option<RoomRef> {
        let (app, room) = fqn.split_once('/')?;
        if app.is_empty() || room.is_empty() {
            return None;
        }
        Some(RoomRef {
            tenant: Some(app.to_lowercase()),
            room: room.to_lowercase(),
        })
    }
}

/// One life of a room, as far as one event knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLife {
    /// `""` for the main room, the breakout room's id otherwise.
    pub scope: String,
    /// Names this life (event_sync: its creation time; JaaS: the sessionId).
    pub session: String,
    /// When it was created, if the event says.
    pub created_at: Option<DateTime<Utc>>,
    /// When it was destroyed, if the event says.
    pub destroyed_at: Option<DateTime<Utc>>,
}

/// One visit of one occupant, as far as one event knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// `""` for the main room, the breakout room's id otherwise.
    pub scope: String,
    /// The occupant: its JID (event_sync) or participant id (JaaS).
    pub occupant: String,
    /// Names this visit (event_sync: its join time; JaaS: the sessionId).
    pub visit: String,
    /// The token's `context.user.id` (a Discord id for meetbot's own members' links).
    pub user_id: Option<String>,
    /// When the occupant joined, if the event says.
    pub joined_at: Option<DateTime<Utc>>,
    /// When the occupant left, if the event says.
    pub left_at: Option<DateTime<Utc>>,
}

/// One event in the common shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEvent {
    /// Who sent it.
    pub source: EventSource,
    /// What happened.
    pub kind: EventKind,
    /// Which room.
    pub room: RoomRef,
    /// When it happened (the sender's clock).
    pub at: DateTime<Utc>,
    /// The instant that places it in a meeting's time: the room's creation for a
    /// `destroyed`, the occupant's join for a `left` (so both halves of a visit, and both
    /// ends of a room's life, land in the same occurrence), else `at`.
    pub anchor: DateTime<Utc>,
    /// Room lives it reports.
    pub lives: Vec<RoomLife>,
    /// Visits it reports.
    pub presences: Vec<Presence>,
    /// A delivery id to apply once only (JaaS `idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// What reading an event gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An event to apply.
    Event(RoomEvent),
    /// Well-formed, but nothing meetbot follows (another JaaS event type, a `left` the sender
    /// had no record of); the text says which.
    Ignored(&'static str),
}

/// Why an event could not be read. The message is for whoever sent it; it never quotes the
/// body (which may carry names and e-mails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is not JSON, or a field has the wrong type.
    #[error("the body is not a valid event: {0}")]
    Json(String),
    /// A field the event needs is missing or empty.
    #[error("the event lacks `{0}`")]
    Missing(&'static str),
    /// A field has a value out of range.
    #[error("`{field}` is invalid: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The body's `event_name` is not the event of the URL it was posted to.
    #[error("`event_name` {got:?} does not match this endpoint (expected {expected:?})")]
    WrongEndpoint {
        /// What the body says.
        got: String,
        /// What the URL means.
        expected: &'static str,
    },
}

impl EventError {
    pub(crate) fn json(e: serde_json::Error) -> EventError {
        // serde_json's message names the field and the expected type, never the value.
        EventError::Json(e.to_string())
    }
}

/// Earliest instant accepted (2000-01-01): a smaller number is no timestamp of ours.
const MIN_SECS: i64 = 946_684_800;
/// Latest instant accepted (3000-01-01): a larger "seconds" value is milliseconds by mistake.
const MAX_SECS: i64 = 32_503_680_000;

/// A unix time in seconds within the accepted range.
pub(crate) fn instant(secs: i64, field: &'static str) -> Result<DateTime<Utc>, EventError> {
    if !(MIN_SECS..=MAX_SECS).contains(&secs) {
        return Err(EventError::Invalid {
            field,
            why: "not a unix time in seconds between 2000 and 3000",
        });
    }
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or(EventError::Invalid {
            field,
            why: "not a unix time",
        })
}

/// A key field (occupant, session, breakout id): non-empty and not absurdly long.
pub(crate) fn key(value: String, field: &'static str) -> Result<String, EventError> {
    if value.is_empty() {
        return Err(EventError::Missing(field));
    }
    if value.len() > MAX_KEY_LEN {
        return Err(EventError::Invalid {
            field,
            why: "longer than 512 bytes",
        });
    }
    Ok(value)
}

/// A token user id worth keeping: non-empty and short; anything else counts as no id.
pub(crate) fn user_id(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty() && v.len() <= MAX_USER_ID_LEN)
}

/// A room reference read from a name of bounded length.
pub(crate) fn room_name(value: &str) -> Result<(), EventError> {
    if value.is_empty() {
        return Err(EventError::Missing("room_name"));
    }
    if value.len() > MAX_ROOM_NAME_LEN {
        return Err(EventError::Invalid {
            field: "room_name",
            why: "longer than 512 bytes",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_room_names_split_into_tenant_and_room() {
        assert_eq!(
            RoomRef::from_room_name("[Team-A]Standup-7f3k"),
            RoomRef {
                tenant: Some("team-a".into()),
                room: "standup-7f3k".into()
            }
        );
        assert_eq!(
            RoomRef::from_room_name("standup-7f3k"),
            RoomRef {
                tenant: None,
                room: "standup-7f3k".into()
            }
        );
    }

    #[test]
    fn half_bracketed_names_are_plain_rooms() {
        for name in ["[abc", "[]room", "[abc]"] {
            assert_eq!(RoomRef::from_room_name(name).tenant, None, "{name}");
        }
    }

    #[test]
    fn fqn_needs_an_app_and_a_room() {
        assert_eq!(
            RoomRef::from_fqn("vpaas-magic-cookie-abc/TestRoom"),
            Some(RoomRef {
                tenant: Some("vpaas-magic-cookie-abc".into()),
                room: "testroom".into()
            })
        );
        assert_eq!(RoomRef::from_fqn("noslash"), None);
        assert_eq!(RoomRef::from_fqn("/room"), None);
        assert_eq!(RoomRef::from_fqn("app/"), None);
    }

    #[test]
    fn milliseconds_are_not_mistaken_for_seconds() {
        assert!(instant(1_796_154_774, "t").is_ok());
        assert!(instant(1_796_154_774_000, "t").is_err());
        assert!(instant(0, "t").is_err());
        assert!(instant(-5, "t").is_err());
    }

    #[test]
    fn over_long_user_ids_count_as_none() {
        assert_eq!(user_id(Some("x".repeat(129))), None);
        assert_eq!(user_id(Some(String::new())), None);
        assert_eq!(user_id(Some("42".into())), Some("42".into()));
    }
}
