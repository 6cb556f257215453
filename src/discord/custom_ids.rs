//! The Join buttons' `custom_id`s. An immediate meeting's carries the room and the meeting's end, signed, so a click
//! is served without a database and survives restarts, and nobody can craft an id for a room of their own choosing.
//! A scheduled meeting's carries only the meeting's id: ids are random and unguessable, and the click is checked
//! against the stored meeting, so no signature is needed.

use crate::secret::Secret;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "mj1";
/// The prefix of a scheduled meeting's Join button.
const SCHEDULED_PREFIX: &str = "mm1:";
/// 64 bits of MAC: a forger gets one guess per click, far from enough to find one.
const MAC_HEX: usize = 16;

/// What a Join button stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTarget {
    /// The backend room name.
    pub room: String,
    /// When the meeting ends.
    pub ends_at: DateTime<Utc>,
}

/// Signs and checks Join button ids.
#[derive(Clone)]
pub struct JoinSigner {
    key: Secret,
}

impl std::fmt::Debug for JoinSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinSigner(***)")
    }
}

impl JoinSigner {
    /// A signer keyed by a secret only this bot has (its Discord token), so ids stay valid across restarts.
    pub fn new(key: &Secret) -> Self {
        Self {
            key: Secret::new(format!("meetbot join button v1:{}", key.expose())),
        }
    }

    fn mac(&self, body: &str) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes())
            .expect("HMAC takes any key length");
        m.update(body.as_bytes());
        let bytes = m.finalize().into_bytes();
        bytes
            .iter()
            .take(MAC_HEX / 2)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The `custom_id` for a meeting's Join button (at most 100 characters for generated room names).
    pub fn custom_id(&self, target: &JoinTarget) -> String {
        let body = format!("{PREFIX}:{}:{}", target.room, target.ends_at.timestamp());
        let mac = self.mac(&body);
        format!("{body}:{mac}")
    }

    /// Reads a `custom_id`; `None` when it is not ours or the signature does not match.
    pub fn parse(&self, custom_id: &str) -> Option<JoinTarget> {
        let (body, mac) = custom_id.rsplit_once(':')?;
        let mut parts = body.splitn(3, ':');
        if parts.next()? != PREFIX {
            return None;
        }
        let room = parts.next()?.to_string();
        let ends: i64 = parts.next()?.parse().ok()?;
        // Constant-time comparison is not needed for a value the attacker cannot query freely, but it costs nothing.
        let expected = self.mac(body);
        if expected.len() != mac.len()
            || expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                != 0
        {
            return None;
        }
        Some(JoinTarget {
            room,
            ends_at: Utc.timestamp_opt(ends, 0).single()?,
        })
    }

    /// Whether a `custom_id` belongs to a Join button (signed or not).
    pub fn is_join(custom_id: &str) -> bool {
        custom_id.starts_with("mj1:")
    }
}

/// The `custom_id` of a scheduled meeting's Join button.
pub fn scheduled(meeting_id: &str) -> String {
    format!("{SCHEDULED_PREFIX}{meeting_id}")
}

/// The meeting a scheduled meeting's Join button stands for; `None` when the id is not one.
pub fn scheduled_meeting(custom_id: &str) -> Option<&str> {
    custom_id
        .starts_with(SCHEDULED_PREFIX)
        .then(|| custom_id.trim_start_matches(SCHEDULED_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> JoinSigner {
        JoinSigner::new(&Secret::new("bot-token"))
    }

    #[test]
    fn a_signed_id_reads_back_and_fits_discords_limit() {
        let t = JoinTarget {
            room: format!("{}-{}", "a".repeat(40), "b".repeat(13)),
            ends_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        };
        let id = signer().custom_id(&t);
        assert!(id.len() <= 100, "{} chars", id.len());
        assert_eq!(signer().parse(&id), Some(t));
    }

    #[test]
    fn a_scheduled_id_names_its_meeting_and_is_told_apart_from_a_signed_one() {
        let id = scheduled("AbC-_123xyz0");
        assert_eq!(scheduled_meeting(&id), Some("AbC-_123xyz0"));
        assert!(!JoinSigner::is_join(&id));
        assert_eq!(scheduled_meeting("mj1:room:1:abc"), None);
    }

    #[test]
    fn a_tampered_room_or_time_or_another_key_is_refused() {
        let t = JoinTarget {
            room: "standup-abc".into(),
            ends_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        };
        let id = signer().custom_id(&t);
        assert!(signer().parse(&id.replace("standup", "secret")).is_none());
        assert!(signer()
            .parse(&id.replace("1800000000", "1900000000"))
            .is_none());
        assert!(JoinSigner::new(&Secret::new("other")).parse(&id).is_none());
        assert!(signer().parse("mj1:room:123").is_none());
        assert!(signer().parse("something-else").is_none());
    }
}
