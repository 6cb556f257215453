//! jitsi-contrib's `event_sync` component (`mod_event_sync_component.lua`): it POSTs one JSON
//! body per event to `{api_prefix}/events/room/created`, `/room/destroyed`,
//! `/occupant/joined` and `/occupant/left`. Timestamps are unix seconds (`os.time()`); the
//! occupant's `id` is the token's `context.user.id`, absent for jibri, jigasi and tokenless
//! users; `all_occupants` is `{}` when empty (Lua's JSON encoder cannot tell an empty list
//! from an empty table). Breakout rooms report the main room's name with `is_breakout` and
//! `breakout_room_id`.

use super::{
    instant, key, room_name, user_id, EventError, EventKind, EventSource, Parsed, Presence,
    RoomEvent, RoomLife, RoomRef,
};
use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer};
use serde::Deserialize;

impl EventKind {
    /// The `event_name` event_sync puts in bodies of this kind.
    pub fn event_sync_name(self) -> &'static str {
        match self {
            EventKind::RoomCreated => "muc-room-created",
            EventKind::RoomDestroyed => "muc-room-destroyed",
            EventKind::OccupantJoined => "muc-occupant-joined",
            EventKind::OccupantLeft => "muc-occupant-left",
        }
    }

    /// The path under `api_prefix` event_sync posts this kind to.
    pub fn event_sync_path(self) -> &'static str {
        match self {
            EventKind::RoomCreated => "/events/room/created",
            EventKind::RoomDestroyed => "/events/room/destroyed",
            EventKind::OccupantJoined => "/events/occupant/joined",
            EventKind::OccupantLeft => "/events/occupant/left",
        }
    }
}

/// Where the component runs and where it sends: the inputs of its Prosody `Component` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSite<'a> {
    /// The XMPP domain (`meet.example.com`; docker-jitsi-meet: `meet.jitsi`).
    pub xmpp_domain: &'a str,
    /// The MUC host (`conference.meet.example.com`; docker-jitsi-meet: `muc.meet.jitsi`). A
    /// host that does not exist gives no events and no error.
    pub muc_host: &'a str,
    /// The breakout MUC host (`breakout.<domain>`), named so the component need not derive it
    /// from `muc_mapper_domain_base`.
    pub breakout_host: &'a str,
    /// meetbot's events prefix as Prosody reaches it, e.g. `http://meetbot:8080/jitsi`.
    pub api_prefix: &'a str,
}

/// The Prosody `Component` block for `site`. The token is a placeholder: the operator pastes
/// `JITSI_EVENTS_TOKEN` in, so the secret is never printed.
pub fn component_block(site: &ComponentSite<'_>) -> String {
    format!(
        "Component \"esync.{domain}\" \"event_sync_component\"\n    \
         muc_component = \"{muc}\"\n    \
         breakout_component = \"{breakout}\"\n    \
         api_prefix = \"{prefix}\"\n    \
         api_headers = {{\n        [\"Authorization\"] = \"Bearer <JITSI_EVENTS_TOKEN>\";\n    }}\n",
        domain = site.xmpp_domain,
        muc = site.muc_host,
        breakout = site.breakout_host,
        prefix = site.api_prefix.trim_end_matches('/'),
    )
}

/// A unix time in seconds: Lua may encode an integral number as `1796154774` or, from a
/// float, `1796154774.0`; a fractional or non-numeric value is refused.
#[derive(Debug, Clone, Copy)]
struct Seconds(i64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        if let Some(i) = n.as_i64() {
            return Ok(Seconds(i));
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Seconds(f as i64)),
            _ => Err(de::Error::custom("expected whole seconds")),
        }
    }
}

/// The token's user id: a string, or a number some issuers write.
#[derive(Debug, Clone)]
struct UserId(String);

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(UserId(s)),
            serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => Ok(UserId(n.to_string())),
            _ => Err(de::Error::custom("`id` must be a string")),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Occupant {
    occupant_jid: String,
    id: Option<UserId>,
    joined_at: Option<Seconds>,
    left_at: Option<Seconds>,
}

/// `all_occupants`: a list, or `{}` for none; any other object is refused.
#[derive(Debug)]
struct Occupants(Vec<Occupant>);

impl<'de> Deserialize<'de> for Occupants {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| serde_json::from_value(v).map_err(de::Error::custom))
                .collect::<Result<_, _>>()
                .map(Occupants),
            serde_json::Value::Object(map) if map.is_empty() => Ok(Occupants(Vec::new())),
            _ => Err(de::Error::custom(
                "`all_occupants` must be a list (or {} when empty)",
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Body {
    event_name: String,
    room_name: String,
    // Declared to have their types checked, though unused.
    #[allow(dead_code)]
    room_jid: Option<String>,
    #[allow(dead_code)]
    active_occupants_count: Option<u64>,
    is_breakout: Option<bool>,
    breakout_room_id: Option<String>,
    created_at: Option<Seconds>,
    destroyed_at: Option<Seconds>,
    occupant: Option<Occupant>,
    all_occupants: Option<Occupants>,
}

/// Reads a body posted to the endpoint of `kind`.
pub fn parse(kind: EventKind, body: &[u8]) -> Result<Parsed, EventError> {
    let body: Body = serde_json::from_slice(body).map_err(EventError::json)?;
    let expected = kind.event_sync_name();
    if body.event_name != expected {
        return Err(EventError::WrongEndpoint {
            got: body.event_name.chars().take(64).collect(),
            expected,
        });
    }
    room_name(&body.room_name)?;
    let room = RoomRef::from_room_name(&body.room_name);
    let scope = if body.is_breakout == Some(true) {
        key(
            body.breakout_room_id.unwrap_or_default(),
            "breakout_room_id",
        )?
    } else {
        String::new()
    };
    let event = |at, anchor, lives, presences| {
        Parsed::Event(RoomEvent {
            source: EventSource::EventSync,
            kind,
            room: room.clone(),
            at,
            anchor,
            lives,
            presences,
            idempotency_key: None,
        })
    };
    match kind {
        EventKind::RoomCreated => {
            let created = required(body.created_at, "created_at")?;
            let life = RoomLife {
                scope,
                session: session_name(created),
                created_at: Some(created),
                destroyed_at: None,
            };
            Ok(event(created, created, vec![life], Vec::new()))
        }
        EventKind::RoomDestroyed => {
            let created = required(body.created_at, "created_at")?;
            let destroyed = required(body.destroyed_at, "destroyed_at")?;
            let occupants = body
                .all_occupants
                .ok_or(EventError::Missing("all_occupants"))?;
            let presences = occupants
                .0
                .into_iter()
                .map(|o| presence(&scope, o, false))
                .collect::<Result<Vec<_>, _>>()?;
            let life = RoomLife {
                scope,
                session: session_name(created),
                created_at: Some(created),
                destroyed_at: Some(destroyed),
            };
            Ok(event(destroyed, created, vec![life], presences))
        }
        EventKind::OccupantJoined => {
            let occupant = body.occupant.ok_or(EventError::Missing("occupant"))?;
            let p = presence(&scope, occupant, false)?;
            let joined = p
                .joined_at
                .ok_or(EventError::Missing("occupant.joined_at"))?;
            Ok(event(joined, joined, Vec::new(), vec![p]))
        }
        EventKind::OccupantLeft => {
            // The component sends no occupant when it had no record of one (it joined before
            // the component loaded): nothing to apply.
            let Some(occupant) = body.occupant else {
                return Ok(Parsed::Ignored("a left event without an occupant"));
            };
            let p = presence(&scope, occupant, true)?;
            let joined = p
                .joined_at
                .ok_or(EventError::Missing("occupant.joined_at"))?;
            let left = p.left_at.ok_or(EventError::Missing("occupant.left_at"))?;
            Ok(event(left, joined, Vec::new(), vec![p]))
        }
    }
}

/// A room's life is named by its creation time, which both its created and its destroyed
/// events carry.
fn session_name(created: DateTime<Utc>) -> String {
    created.timestamp().to_string()
}

fn required(v: Option<Seconds>, field: &'static str) -> Result<DateTime<Utc>, EventError> {
    instant(v.ok_or(EventError::Missing(field))?.0, field)
}

/// One occupant record. A visit is named by its join time: the component keeps it from the
/// join and repeats it in the left event and in `all_occupants`.
fn presence(scope: &str, o: Occupant, needs_left: bool) -> Result<Presence, EventError> {
    let joined = required(o.joined_at, "occupant.joined_at")?;
    let left = match o.left_at {
        Some(s) => Some(instant(s.0, "occupant.left_at")?),
        None if needs_left => return Err(EventError::Missing("occupant.left_at")),
        None => None,
    };
    Ok(Presence {
        scope: scope.to_string(),
        occupant: key(o.occupant_jid, "occupant.occupant_jid")?,
        visit: session_name(joined),
        user_id: user_id(o.id.map(|u| u.0)),
        joined_at: Some(joined),
        left_at: left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    fn event(kind: EventKind, body: serde_json::Value) -> RoomEvent {
        match parse(kind, body.to_string().as_bytes()) {
            Ok(Parsed::Event(e)) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn error(kind: EventKind, body: &str) -> EventError {
        parse(kind, body.as_bytes()).expect_err("should be refused")
    }

    #[test]
    fn the_component_block_names_the_hosts_and_a_token_placeholder() {
        let block = component_block(&ComponentSite {
            xmpp_domain: "meet.jitsi",
            muc_host: "muc.meet.jitsi",
            breakout_host: "breakout.meet.jitsi",
            api_prefix: "http://meetbot:8080/jitsi/",
        });
        assert_eq!(
            block,
            "Component \"esync.meet.jitsi\" \"event_sync_component\"\n    muc_component = \"muc.meet.jitsi\"\n    breakout_component = \"breakout.meet.jitsi\"\n    api_prefix = \"http://meetbot:8080/jitsi\"\n    api_headers = {\n        [\"Authorization\"] = \"Bearer <JITSI_EVENTS_TOKEN>\";\n    }\n"
        );
    }

    #[test]
    fn joined_event_names_the_visit_by_its_join_time_and_keeps_the_token_id() {
        let e = event(
            EventKind::OccupantJoined,
            json!({"event_name":"muc-occupant-joined","room_name":"standup-7f3k",
                   "room_jid":"standup-7f3k@muc.meet.jitsi","is_breakout":false,
                   "active_occupants_count":1,
                   "occupant":{"occupant_jid":"a1b2@meet.jitsi/AbCd","id":"123456789012345678",
                               "name":"alice","email":"a@example.com","joined_at":1796154774}}),
        );
        assert_eq!(e.room.room, "standup-7f3k");
        assert_eq!(e.at, at(1_796_154_774));
        assert_eq!(
            e.presences,
            vec![Presence {
                scope: String::new(),
                occupant: "a1b2@meet.jitsi/AbCd".into(),
                visit: "1796154774".into(),
                user_id: Some("123456789012345678".into()),
                joined_at: Some(at(1_796_154_774)),
                left_at: None,
            }]
        );
    }

    #[test]
    fn left_event_is_anchored_at_the_join_it_closes() {
        let e = event(
            EventKind::OccupantLeft,
            json!({"event_name":"muc-occupant-left","room_name":"[team]standup",
                   "active_occupants_count":0,
                   "occupant":{"occupant_jid":"x@meet.jitsi/1","joined_at":1796154774,
                               "left_at":1796154790}}),
        );
        assert_eq!(e.room.tenant.as_deref(), Some("team"));
        assert_eq!(e.anchor, at(1_796_154_774));
        assert_eq!(e.at, at(1_796_154_790));
        assert_eq!(e.presences[0].visit, "1796154774");
        assert_eq!(e.presences[0].user_id, None);
    }

    #[test]
    fn empty_all_occupants_may_be_an_empty_object() {
        let e = event(
            EventKind::RoomDestroyed,
            json!({"event_name":"muc-room-destroyed","room_name":"r","created_at":1796154774,
                   "destroyed_at":1796154800,"all_occupants":{}}),
        );
        assert!(e.presences.is_empty());
        assert_eq!(e.lives[0].session, "1796154774");
        assert_eq!(e.lives[0].destroyed_at, Some(at(1_796_154_800)));
        assert_eq!(e.anchor, at(1_796_154_774));
    }

    #[test]
    fn a_non_empty_object_for_all_occupants_is_refused() {
        let e = error(
            EventKind::RoomDestroyed,
            r#"{"event_name":"muc-room-destroyed","room_name":"r","created_at":1796154774,
                "destroyed_at":1796154800,"all_occupants":{"a":1}}"#,
        );
        assert!(matches!(e, EventError::Json(_)), "{e:?}");
    }

    #[test]
    fn destroyed_event_carries_every_visit() {
        let e = event(
            EventKind::RoomDestroyed,
            json!({"event_name":"muc-room-destroyed","room_name":"r","created_at":1796154774,
                   "destroyed_at":1796154800,"all_occupants":[
                       {"occupant_jid":"a@x/1","id":"1","joined_at":1796154774,"left_at":1796154790},
                       {"occupant_jid":"b@x/2","joined_at":1796154775,"left_at":1796154800}]}),
        );
        assert_eq!(e.presences.len(), 2);
        assert_eq!(e.presences[1].left_at, Some(at(1_796_154_800)));
    }

    #[test]
    fn breakout_events_are_scoped_by_their_breakout_id() {
        let e = event(
            EventKind::RoomCreated,
            json!({"event_name":"muc-room-created","room_name":"main","is_breakout":true,
                   "breakout_room_id":"bo-1","created_at":1796154774}),
        );
        assert_eq!(e.lives[0].scope, "bo-1");
        let missing = error(
            EventKind::RoomCreated,
            r#"{"event_name":"muc-room-created","room_name":"main","is_breakout":true,"created_at":1796154774}"#,
        );
        assert_eq!(missing, EventError::Missing("breakout_room_id"));
    }

    #[test]
    fn a_body_posted_to_the_wrong_endpoint_is_refused() {
        let e = error(
            EventKind::OccupantJoined,
            r#"{"event_name":"muc-room-created","room_name":"r","created_at":1796154774}"#,
        );
        assert!(matches!(e, EventError::WrongEndpoint { .. }));
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        let cases = [
            (EventKind::RoomCreated, "not json"),
            (EventKind::RoomCreated, "[]"),
            (
                EventKind::RoomCreated,
                r#"{"event_name":"muc-room-created","room_name":"r","created_at":"yesterday"}"#,
            ),
            (
                EventKind::RoomCreated,
                r#"{"event_name":"muc-room-created","room_name":"r","created_at":1796154774.5}"#,
            ),
            (
                EventKind::RoomCreated,
                r#"{"event_name":"muc-room-created","room_name":"r","created_at":1796154774000}"#,
            ),
            (
                EventKind::RoomCreated,
                r#"{"event_name":"muc-room-created","room_name":"r"}"#,
            ),
            (
                EventKind::RoomCreated,
                r#"{"event_name":"muc-room-created","room_name":"","created_at":1796154774}"#,
            ),
            (
                EventKind::OccupantJoined,
                r#"{"event_name":"muc-occupant-joined","room_name":"r","occupant":{"occupant_jid":"a","id":{"x":1},"joined_at":1796154774}}"#,
            ),
            (
                EventKind::OccupantJoined,
                r#"{"event_name":"muc-occupant-joined","room_name":"r","occupant":{"occupant_jid":"","joined_at":1796154774}}"#,
            ),
            (
                EventKind::OccupantLeft,
                r#"{"event_name":"muc-occupant-left","room_name":"r","occupant":{"occupant_jid":"a","joined_at":1796154774}}"#,
            ),
            (
                EventKind::OccupantJoined,
                r#"{"event_name":"muc-occupant-joined","room_name":"r","is_breakout":"no","occupant":{"occupant_jid":"a","joined_at":1796154774}}"#,
            ),
        ];
        for (kind, body) in cases {
            let e = error(kind, body);
            assert!(!e.to_string().is_empty(), "{body}");
        }
    }

    #[test]
    fn whole_float_seconds_and_numeric_ids_are_read() {
        let e = event(
            EventKind::OccupantJoined,
            json!({"event_name":"muc-occupant-joined","room_name":"r",
                   "occupant":{"occupant_jid":"a","id":42,"joined_at":1796154774.0}}),
        );
        assert_eq!(e.presences[0].user_id.as_deref(), Some("42"));
        assert_eq!(e.at, at(1_796_154_774));
    }

    #[test]
    fn a_left_without_occupant_is_ignored_not_refused() {
        let p = parse(
            EventKind::OccupantLeft,
            br#"{"event_name":"muc-occupant-left","room_name":"r","active_occupants_count":0}"#,
        )
        .unwrap();
        assert!(matches!(p, Parsed::Ignored(_)));
    }

    #[test]
    fn error_messages_never_quote_names_or_emails() {
        let e = error(
            EventKind::OccupantJoined,
            r#"{"event_name":"muc-occupant-joined","room_name":"r","occupant":{"occupant_jid":"a","name":"Secret Name","email":"secret@example.com","joined_at":"bad"}}"#,
        );
        let text = e.to_string();
        assert!(
            !text.contains("Secret Name") && !text.contains("secret@example.com"),
            "{text}"
        );
    }
}
