//! 8x8 JaaS webhooks: a signed JSON body per event, `{idempotencyKey, customerId, appId,
//! eventType, sessionId, timestamp (ms), fqn ("<AppID>/<room>"), data}`. The header
//! `X-Jaas-Signature: t=<unix seconds>,v1=<signature>[,v1=…]` carries base64(HMAC-SHA256(key =
//! the whole webhook secret, `whsec_` prefix included, message = `t + "." + raw body`)); other
//! schemes than `v1` are ignored, as 8x8 asks (downgrade protection).
//!
//! 8x8 documents the payload frame and ROOM_CREATED's `data` (`conference`, `isBreakout`,
//! `breakoutRoomId`); for participants `data` holds the token's `context.user` fields (`id` =
//! the token's user id) plus the participant's own ids. Which participant id is per
//! connection is not documented, so the first present of `participantId`, `participantJid`,
//! `participantFullJid`, `id` names the occupant. 8x8 publishes no signature test vector.

use super::{
    key, room_name, user_id, EventError, EventKind, EventSource, Parsed, Presence, RoomEvent,
    RoomLife, RoomRef,
};
use crate::secret::Secret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The header the signature rides in.
pub const SIGNATURE_HEADER: &str = "x-jaas-signature";

/// How far the signature's `t` may be from our clock, either way.
pub const MAX_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Why a webhook's signature was refused. Never names the secret or the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Jaas-Signature` header.
    #[error("the X-Jaas-Signature header is missing")]
    Missing,
    /// The header lacks `t=` or any `v1=`, or `t` is not a number.
    #[error("the X-Jaas-Signature header is malformed (expected t=<unix time>,v1=<signature>)")]
    Malformed,
    /// `t` is more than five minutes from our clock: a replay, or a clock that is off.
    #[error("the signature's timestamp is more than 5 minutes from this server's clock")]
    Stale,
    /// No `v1` signature matches.
    #[error("the signature does not match")]
    Mismatch,
}

type HmacSha256 = Hmac<Sha256>;

fn mac_for(secret: &Secret, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1` signature of `body` at `t` (what JaaS puts after `v1=`).
pub fn sign(secret: &Secret, t: i64, body: &[u8]) -> String {
    STANDARD.encode(mac_for(secret, t, body).finalize().into_bytes())
}

/// Checks a webhook's `X-Jaas-Signature` against `body` and `now`, in constant time.
pub fn verify_signature(
    secret: &Secret,
    header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut candidates = Vec::new();
    for element in header.split(',') {
        let Some((prefix, value)) = element.split_once('=') else {
            continue;
        };
        match prefix.trim() {
            "t" => {
                t = Some(
                    value
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => candidates.push(value.trim()),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let signed_at = Utc
        .timestamp_opt(t, 0)
        .single()
        .ok_or(SignatureError::Stale)?;
    if (now - signed_at).abs() > MAX_SKEW {
        return Err(SignatureError::Stale);
    }
    let mac = mac_for(secret, t, body);
    let matched = candidates.iter().any(|c| match STANDARD.decode(c) {
        // verify_slice compares in constant time.
        Ok(bytes) => mac.clone().verify_slice(&bytes).is_ok(),
        Err(_) => false,
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    idempotency_key: String,
    event_type: String,
    session_id: Option<String>,
    timestamp: Option<i64>,
    fqn: Option<String>,
    data: Option<Data>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    id: Option<String>,
    participant_id: Option<String>,
    participant_jid: Option<String>,
    participant_full_jid: Option<String>,
    is_breakout: Option<bool>,
    breakout_room_id: Option<String>,
}

/// Reads a (signature-checked) webhook body.
pub fn parse(body: &[u8]) -> Result<Parsed, EventError> {
    let body: Body = serde_json::from_slice(body).map_err(EventError::json)?;
    let idempotency_key = key(body.idempotency_key, "idempotencyKey")?;
    let kind = match body.event_type.as_str() {
        "ROOM_CREATED" => EventKind::RoomCreated,
        "ROOM_DESTROYED" => EventKind::RoomDestroyed,
        "PARTICIPANT_JOINED" => EventKind::OccupantJoined,
        "PARTICIPANT_LEFT" => EventKind::OccupantLeft,
        _ => return Ok(Parsed::Ignored("an event type meetbot does not follow")),
    };
    let fqn = body.fqn.ok_or(EventError::Missing("fqn"))?;
    room_name(&fqn)?;
    let room = RoomRef::from_fqn(&fqn).ok_or(EventError::Invalid {
        field: "fqn",
        why: "not <AppID>/<room>",
    })?;
    let session = key(body.session_id.unwrap_or_default(), "sessionId")?;
    let millis = body.timestamp.ok_or(EventError::Missing("timestamp"))?;
    let at = super::instant(millis.div_euclid(1000), "timestamp")?;
    let data = body.data.unwrap_or_default();
    let scope = if data.is_breakout == Some(true) {
        key(
            data.breakout_room_id.unwrap_or_default(),
            "data.breakoutRoomId",
        )?
    } else {
        String::new()
    };
    let mut lives = Vec::new();
    let mut presences = Vec::new();
    match kind {
        EventKind::RoomCreated | EventKind::RoomDestroyed => {
            let created = kind == EventKind::RoomCreated;
            lives.push(RoomLife {
                scope,
                session,
                created_at: created.then_some(at),
                destroyed_at: (!created).then_some(at),
            });
        }
        EventKind::OccupantJoined | EventKind::OccupantLeft => {
            let joined = kind == EventKind::OccupantJoined;
            let occupant = data
                .participant_id
                .or(data.participant_jid)
                .or(data.participant_full_jid)
                .or_else(|| data.id.clone())
                .unwrap_or_else(|| "anonymous".to_string());
            presences.push(Presence {
                scope,
                occupant: key(occupant, "data.participantId")?,
                // Without a join time in its left event, a JaaS visit is named by the
                // session: a rejoin in one session updates the same row (see live_visits).
                visit: session,
                user_id: user_id(data.id),
                joined_at: joined.then_some(at),
                left_at: (!joined).then_some(at),
            });
        }
    }
    Ok(Parsed::Event(RoomEvent {
        source: EventSource::Jaas,
        kind,
        room,
        at,
        anchor: at,
        lives,
        presences,
        idempotency_key: Some(idempotency_key),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_0123456789abcdefghijklmnopqrstuv";

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_632_490_060, 0).unwrap()
    }

    #[test]
    fn a_signature_made_with_the_whole_secret_verifies() {
        let secret = Secret::new(SECRET);
        let body = br#"{"eventType":"ROOM_CREATED"}"#;
        let header = format!("t=1632490060,v1={}", sign(&secret, 1_632_490_060, body));
        assert_eq!(
            verify_signature(&secret, Some(&header), body, now()),
            Ok(())
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body_keyed_with_the_whsec_secret() {
        // Computed independently: printf '1632490060.{}' | openssl dgst -sha256 -hmac
        // 'whsec_test' -binary | base64
        let secret = Secret::new("whsec_test");
        assert_eq!(
            sign(&secret, 1_632_490_060, b"{}"),
            "ee714IvRL1iregh1xwWWF7HtKKZPb1tdaigQ9/j4I5s="
        );
    }

    #[test]
    fn the_secret_without_its_prefix_is_a_different_key() {
        let body = b"{}";
        let with = sign(&Secret::new(SECRET), 1_632_490_060, body);
        let without = sign(
            &Secret::new(SECRET.trim_start_matches("whsec_")),
            1_632_490_060,
            body,
        );
        assert_ne!(with, without);
    }

    #[test]
    fn a_changed_body_or_secret_does_not_verify() {
        let secret = Secret::new(SECRET);
        let header = format!("t=1632490060,v1={}", sign(&secret, 1_632_490_060, b"{}"));
        assert_eq!(
            verify_signature(&secret, Some(&header), b"{ }", now()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&Secret::new("whsec_other"), Some(&header), b"{}", now()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_matching_v1_among_several_verifies_and_other_schemes_are_ignored() {
        let secret = Secret::new(SECRET);
        let good = sign(&secret, 1_632_490_060, b"{}");
        let header = format!("t=1632490060, v0={good}, v1=AAAA, v1={good}");
        assert_eq!(
            verify_signature(&secret, Some(&header), b"{}", now()),
            Ok(())
        );
        let only_v0 = format!("t=1632490060,v0={good}");
        assert_eq!(
            verify_signature(&secret, Some(&only_v0), b"{}", now()),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_timestamp_beyond_five_minutes_either_way_is_stale() {
        let secret = Secret::new(SECRET);
        for t in [1_632_490_060 - 301, 1_632_490_060 + 301] {
            let header = format!("t={t},v1={}", sign(&secret, t, b"{}"));
            assert_eq!(
                verify_signature(&secret, Some(&header), b"{}", now()),
                Err(SignatureError::Stale),
                "{t}"
            );
        }
        let t = 1_632_490_060 - 299;
        let header = format!("t={t},v1={}", sign(&secret, t, b"{}"));
        assert_eq!(
            verify_signature(&secret, Some(&header), b"{}", now()),
            Ok(())
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let secret = Secret::new(SECRET);
        for h in ["", "v1=abc", "t=abc,v1=abc", "t=1632490060", "garbage"] {
            assert_eq!(
                verify_signature(&secret, Some(h), b"{}", now()),
                Err(SignatureError::Malformed),
                "{h}"
            );
        }
        assert_eq!(
            verify_signature(&secret, None, b"{}", now()),
            Err(SignatureError::Missing)
        );
    }

    fn event(body: serde_json::Value) -> RoomEvent {
        match parse(body.to_string().as_bytes()) {
            Ok(Parsed::Event(e)) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn participant_joined_maps_to_a_visit_named_by_the_session() {
        let e = event(json!({
            "idempotencyKey":"k1","customerId":"c","appId":"vpaas-magic-cookie-abc",
            "eventType":"PARTICIPANT_JOINED","sessionId":"s-1","timestamp":1600951800112_i64,
            "fqn":"vpaas-magic-cookie-abc/Standup",
            "data":{"moderator":"true","name":"Alice","email":"a@example.com",
                    "id":"123456789012345678","participantId":"p-1"}}));
        assert_eq!(e.kind, EventKind::OccupantJoined);
        assert_eq!(e.room.tenant.as_deref(), Some("vpaas-magic-cookie-abc"));
        assert_eq!(e.room.room, "standup");
        assert_eq!(e.at, Utc.timestamp_opt(1_600_951_800, 0).unwrap());
        let p = &e.presences[0];
        assert_eq!((p.occupant.as_str(), p.visit.as_str()), ("p-1", "s-1"));
        assert_eq!(p.user_id.as_deref(), Some("123456789012345678"));
        assert_eq!(e.idempotency_key.as_deref(), Some("k1"));
    }

    #[test]
    fn room_events_map_to_a_room_life_named_by_the_session() {
        let e = event(json!({
            "idempotencyKey":"k2","eventType":"ROOM_DESTROYED","sessionId":"s-1",
            "timestamp":1600951900000_i64,"fqn":"app/room","data":{"conference":"room@conference.app.8x8.vc"}}));
        assert_eq!(e.lives[0].session, "s-1");
        assert!(e.lives[0].created_at.is_none() && e.lives[0].destroyed_at.is_some());
    }

    #[test]
    fn other_event_types_are_ignored() {
        let p = parse(
            br#"{"idempotencyKey":"k","eventType":"RECORDING_STARTED","timestamp":1,"fqn":"a/b"}"#,
        )
        .unwrap();
        assert!(matches!(p, Parsed::Ignored(_)));
    }

    #[test]
    fn malformed_webhooks_are_refused() {
        for body in [
            "nope",
            r#"{"eventType":"ROOM_CREATED"}"#,
            r#"{"idempotencyKey":"k","eventType":"ROOM_CREATED","sessionId":"s","timestamp":1600951800112}"#,
            r#"{"idempotencyKey":"k","eventType":"ROOM_CREATED","sessionId":"s","timestamp":1600951800112,"fqn":"noslash"}"#,
            r#"{"idempotencyKey":"k","eventType":"ROOM_CREATED","timestamp":1600951800112,"fqn":"a/b"}"#,
            r#"{"idempotencyKey":"k","eventType":"ROOM_CREATED","sessionId":"s","timestamp":"x","fqn":"a/b"}"#,
            r#"{"idempotencyKey":"k","eventType":"ROOM_CREATED","sessionId":"s","timestamp":1600951800,"fqn":"a/b"}"#,
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body}");
        }
    }
}
