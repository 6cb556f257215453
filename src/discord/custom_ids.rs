//! The Join buttons' `custom_id`s. An immediate meeting's carries the room and the meeting's end, signed together
//! with its server's id, so a click is served without a database and survives restarts, nobody can craft an id for
//! a room of their own choosing, and a button copied into another server does not work there (the click's server
//! is what the signature is checked against; ids stay as short as before).
//! A scheduled meeting's carries only the meeting's id: ids are random and unguessable, and the click is checked
//! against the stored meeting, so no signature is needed.

use crate::secret::Secret;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "mj2";
/// The prefix of the first format, signed without the server: refused with a message of its own.
const OLD_PREFIX: &str = "mj1:";
/// The prefix of a scheduled meeting's Join button.
const SCHEDULED_PREFIX: &str = "mm1:";
/// 64 bits of MAC: a forger gets one guess per click, far from enough to find one.
const MAC_HEX: usize = 16;

/// Why a Join button's id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// An id of the first format, not bound to a server.
    OldFormat,
    /// Not ours, tampered with, or made for another server.
    Invalid,
}

/// What a Join button stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTarget {
    /// The server it was posted in.
    pub guild_id: u64,
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

    /// The `custom_id` for a meeting's Join button (at most 100 characters for generated room names). The server's
    /// id is signed, not written: the click names its server.
    pub fn custom_id(&self, target: &JoinTarget) -> String {
        let body = format!("{PREFIX}:{}:{}", target.room, target.ends_at.timestamp());
        let mac = self.mac(&format!("{}:{body}", target.guild_id));
        format!("{body}:{mac}")
    }

    /// Reads a `custom_id` clicked in server `guild_id`.
    pub fn parse(&self, custom_id: &str, guild_id: u64) -> Result<JoinTarget, Refused> {
        if custom_id.starts_with(OLD_PREFIX) {
            return Err(Refused::OldFormat);
        }
        self.parse_current(custom_id, guild_id)
            .ok_or(Refused::Invalid)
    }

    fn parse_current(&self, custom_id: &str, guild_id: u64) -> Option<JoinTarget> {
        let (body, mac) = custom_id.rsplit_once(':')?;
        let mut parts = body.splitn(3, ':');
        if parts.next()? != PREFIX {
            return None;
        }
        let room = parts.next()?.to_string();
        let ends: i64 = parts.next()?.parse().ok()?;
        // Constant-time comparison is not needed for a value the attacker cannot query freely, but it costs nothing.
        let expected = self.mac(&format!("{guild_id}:{body}"));
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
            guild_id,
            room,
            ends_at: Utc.timestamp_opt(ends, 0).single()?,
        })
    }

    /// Whether a `custom_id` belongs to an immediate meeting's Join button (either format).
    pub fn is_join(custom_id: &str) -> bool {
        custom_id.starts_with("mj2:") || custom_id.starts_with(OLD_PREFIX)
    }
}

/// The `custom_id` of a scheduled meeting's Join button.
pub fn scheduled(meeting_id: &str) -> String {
    format!("{SCHEDULED_PREFIX}{meeting_id}")
}

/// The meeting a scheduled meeting's Join button stands for; `None` when the id is not one.
pub fn scheduled_meeting(custom_id: &str) -> Option<&str> {
    // The prefix once: `trim_start_matches` took every repetition, so "mm1:mm1:x" read as meeting "x".
    custom_id.strip_prefix(SCHEDULED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 100_000_000_000_000_001;

    fn signer() -> JoinSigner {
        JoinSigner::new(&Secret::new("bot-token"))
    }

    #[test]
    fn a_signed_id_reads_back_and_fits_discords_limit() {
        let t = JoinTarget {
            guild_id: G,
            room: format!("{}-{}", "a".repeat(40), "b".repeat(13)),
            ends_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        };
        let id = signer().custom_id(&t);
        assert!(id.len() <= 100, "{} chars", id.len());
        assert_eq!(signer().parse(&id, G), Ok(t));
    }

    #[test]
    fn a_scheduled_id_names_its_meeting_and_is_told_apart_from_a_signed_one() {
        let id = scheduled("AbC-_123xyz0");
        assert_eq!(scheduled_meeting(&id), Some("AbC-_123xyz0"));
        assert!(!JoinSigner::is_join(&id));
        assert_eq!(scheduled_meeting("mj2:room:1:abc"), None);
    }

    #[test]
    fn a_tampered_room_or_time_or_another_key_is_refused() {
        let t = JoinTarget {
            guild_id: G,
            room: "standup-abc".into(),
            ends_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        };
        let id = signer().custom_id(&t);
        let bad = Err(Refused::Invalid);
        assert_eq!(signer().parse(&id.replace("standup", "secret"), G), bad);
        assert_eq!(
            signer().parse(&id.replace("1800000000", "1900000000"), G),
            bad
        );
        assert_eq!(JoinSigner::new(&Secret::new("other")).parse(&id, G), bad);
        assert_eq!(signer().parse("mj2:room:123", G), bad);
        assert_eq!(signer().parse("something-else", G), bad);
    }

    #[test]
    fn a_button_clicked_in_another_server_is_refused() {
        let t = JoinTarget {
            guild_id: G,
            room: "standup-abc".into(),
            ends_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        };
        let id = signer().custom_id(&t);
        assert_eq!(signer().parse(&id, G + 1), Err(Refused::Invalid));
    }

    #[test]
    fn an_id_of_the_first_format_is_told_apart() {
        let old = "mj1:standup-abc:1800000000:0123456789abcdef";
        assert!(JoinSigner::is_join(old));
        assert_eq!(signer().parse(old, G), Err(Refused::OldFormat));
    }
}
