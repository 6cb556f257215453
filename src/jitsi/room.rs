//! Room names as Jitsi sees them: the web client's backend normalisation, validated
//! room values, and generated names that are hard to guess yet readable.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Longest accepted room name (in bytes of its normalised form).
pub const MAX_ROOM_LEN: usize = 200;

/// Characters the web client strips from a room before anything else.
const DROPPED: &str = ":?#[]@!$&'()*+,;=></\"";

/// Characters `encodeURIComponent` leaves alone besides ASCII letters and digits.
const URI_COMPONENT_KEEP: &[u8] = b"-_.!~*'()";

/// Jitsi web client's backend room name: drop ``:?#[]@!$&'()*+,;=></"``, percent-decode,
/// NFKC, lowercase, percent-encode as `encodeURIComponent` does, lowercase again.
pub fn normalize_room_name(input: &str) -> String {
    let stripped: String = input.chars().filter(|c| !DROPPED.contains(*c)).collect();
    // `decodeURIComponent` throws on malformed input and the client then keeps the text as it was.
    let decoded = decode_uri_component(&stripped).unwrap_or(stripped);
    let folded = decoded.nfkc().collect::<String>().to_lowercase();
    encode_uri_component(&folded).to_lowercase()
}

/// `decodeURIComponent`: `None` where JavaScript would throw (bad escape or invalid UTF-8).
fn decode_uri_component(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `encodeURIComponent` (uppercase hex, as JavaScript writes it).
pub(crate) fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_uri_component_into(s, &mut out);
    out
}

/// [`encode_uri_component`] appending to `out`.
pub(crate) fn encode_uri_component_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || URI_COMPONENT_KEEP.contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// Nothing left after normalisation.
    #[error("the room name is empty")]
    Empty,
    /// `*` would match every room on the server.
    #[error("`*` is not a room name (it would grant every room)")]
    Wildcard,
    /// `.` or `..`, which a browser resolves out of the link's path.
    #[error("`.` and `..` cannot be room names")]
    DotSegment,
    /// Longer than [`MAX_ROOM_LEN`].
    #[error("the room name is {len} characters long once normalised; the limit is {MAX_ROOM_LEN}")]
    TooLong {
        /// Length of the normalised name.
        len: usize,
    },
    /// A stored name that Jitsi would rewrite, so a token for it would never match.
    #[error("`{given}` is not a normalised room name (Jitsi would use `{normalized}`)")]
    NotNormalized {
        /// The name as given.
        given: String,
        /// What Jitsi's normalisation makes of it.
        normalized: String,
    },
}

/// A backend room name exactly as Jitsi compares it with a token's `room` claim.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Room(String);

impl Room {
    /// Normalises what a user typed and accepts it if something usable remains.
    pub fn from_user_input(input: &str) -> Result<Room, RoomError> {
        Self::checked(normalize_room_name(input))
    }

    /// Accepts a name read back from storage or a custom id only if it is already normalised.
    pub fn from_normalized(name: String) -> Result<Room, RoomError> {
        let normalized = normalize_room_name(&name);
        if normalized != name {
            return Err(RoomError::NotNormalized {
                given: name,
                normalized,
            });
        }
        Self::checked(name)
    }

    fn checked(name: String) -> Result<Room, RoomError> {
        if name.is_empty() {
            Err(RoomError::Empty)
        } else if name == "*" {
            Err(RoomError::Wildcard)
        } else if name == "." || name == ".." {
            // A URL path segment of "." or ".." would be resolved away, so the link would miss the room.
            Err(RoomError::DotSegment)
        } else if name.len() > MAX_ROOM_LEN {
            Err(RoomError::TooLong { len: name.len() })
        } else {
            Ok(Room(name))
        }
    }

    /// A fresh, unguessable name: a slug of `topic` (or random words) and a 65-bit random suffix.
    pub fn generate(rng: &mut impl Rng, topic: Option<&str>) -> Room {
        let mut name = topic.map(slugify).unwrap_or_default();
        if name.is_empty() {
            let count = rng.gen_range(2..=3);
            for i in 0..count {
                if i > 0 {
                    name.push('-');
                }
                name.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
            }
        }
        name.push('-');
        // 13 base32 characters carry 65 bits: the suffix alone makes the name unguessable.
        const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        for _ in 0..SUFFIX_LEN {
            name.push(BASE32[rng.gen_range(0..32)] as char);
        }
        Room(name)
    }

    /// The backend room name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Length of the random suffix of generated names.
const SUFFIX_LEN: usize = 13;

/// Longest topic slug kept in a generated name.
const MAX_SLUG_LEN: usize = 40;

/// ASCII-folds a topic into `a-z0-9` words joined by `-`, at most [`MAX_SLUG_LEN`] long.
fn slugify(topic: &str) -> String {
    let mut slug = String::new();
    let mut pending_dash = false;
    // NFKD splits "é" into "e" + accent, so dropping marks keeps the readable base letter.
    for c in topic.nfkd().filter(|c| !is_combining_mark(*c)) {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c);
        } else {
            pending_dash = true;
        }
    }
    if slug.len() > MAX_SLUG_LEN {
        // Cut at a word boundary when one is close enough to keep most of the topic.
        let cut = match slug[..=MAX_SLUG_LEN].rfind('-') {
            Some(at) if at >= MAX_SLUG_LEN / 2 => at,
            _ => MAX_SLUG_LEN,
        };
        slug.truncate(cut);
        while slug.ends_with('-') {
            slug.pop();
        }
    }
    slug
}

/// Short, common, unambiguous words for topic-less rooms.
const WORDS: &[&str] = &[
    "amber", "anchor", "apple", "arrow", "aspen", "autumn", "badger", "bamboo", "beacon", "birch",
    "bison", "breeze", "brook", "cactus", "canyon", "cedar", "cherry", "cloud", "clover", "comet",
    "coral", "cosmos", "cricket", "crystal", "dawn", "delta", "desert", "dolphin", "dune", "eagle",
    "echo", "ember", "falcon", "fern", "field", "firefly", "fjord", "forest", "fox", "galaxy",
    "garden", "glacier", "granite", "harbor", "hazel", "heron", "hill", "island", "ivy", "jade",
    "juniper", "kestrel", "lagoon", "lantern", "lemon", "lily", "lotus", "maple", "meadow",
    "meteor", "mint", "moon", "moss", "nebula", "oak", "ocean", "olive", "orchid", "otter", "owl",
    "panda", "pebble", "pepper", "pine", "planet", "plum", "pond", "prairie", "quartz", "rain",
    "raven", "reef", "river", "robin", "sage", "salmon", "sand", "sequoia", "shore", "sky", "snow",
    "sparrow", "spruce", "star", "stone", "summit", "sun", "swan", "thunder", "tide", "tiger",
    "tulip", "valley", "violet", "walnut", "wave", "willow", "wind", "wolf", "zephyr",
];

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Room {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Room {
    type Error = RoomError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Room::from_normalized(value)
    }
}

impl From<Room> for String {
    fn from(room: Room) -> Self {
        room.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn normalisation_matches_the_web_client() {
        let table = [
            ("Café Meeting", "caf%c3%a9%20meeting"),
            ("My Room", "my%20room"),
            ("a/b?c", "abc"),
            ("MixedCASE", "mixedcase"),
            ("Party 🎉", "party%20%f0%9f%8e%89"),
            ("already%20encoded", "already%20encoded"),
            ("caf%C3%A9", "caf%c3%a9"),
            ("bad%zzescape", "bad%25zzescape"),
            ("ﬁle", "file"),
            ("weekly-sync_2.0", "weekly-sync_2.0"),
            ("<@123456>", "123456"),
        ];
        for (input, expected) in table {
            assert_eq!(normalize_room_name(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn normalisation_is_idempotent_on_its_output() {
        for input in ["Café Meeting", "a b c", "Ünïcödé 🎉", "x%41y"] {
            let once = normalize_room_name(input);
            assert_eq!(normalize_room_name(&once), once);
        }
    }

    #[test]
    fn user_input_is_normalised_and_checked() {
        assert_eq!(
            Room::from_user_input("Café Meeting").unwrap().as_str(),
            "caf%c3%a9%20meeting"
        );
        assert_eq!(Room::from_user_input("?#!"), Err(RoomError::Empty));
        assert_eq!(Room::from_user_input("%2A"), Err(RoomError::Wildcard));
        assert_eq!(
            Room::from_user_input(&"a".repeat(201)),
            Err(RoomError::TooLong { len: 201 })
        );
        assert!(Room::from_user_input(&"a".repeat(200)).is_ok());
        assert_eq!(Room::from_user_input(".."), Err(RoomError::DotSegment));
    }

    #[test]
    fn stored_names_that_jitsi_would_rewrite_are_refused() {
        assert!(matches!(
            Room::from_normalized("Café Meeting".into()),
            Err(RoomError::NotNormalized { .. })
        ));
        assert!(matches!(
            Room::from_normalized("My-Room".into()),
            Err(RoomError::NotNormalized { .. })
        ));
        assert_eq!(
            Room::from_normalized("my-room".into()).unwrap().to_string(),
            "my-room"
        );
        assert_eq!(Room::from_normalized(String::new()), Err(RoomError::Empty));
    }

    #[test]
    fn serde_refuses_unnormalised_names() {
        let room: Room = serde_json::from_str("\"team-sync\"").unwrap();
        assert_eq!(serde_json::to_string(&room).unwrap(), "\"team-sync\"");
        assert!(serde_json::from_str::<Room>("\"Team Sync\"").is_err());
    }

    #[test]
    fn generated_name_uses_topic_slug_and_random_suffix() {
        let mut rng = StdRng::seed_from_u64(7);
        let room = Room::generate(&mut rng, Some("Café Planning: Q3 <@42>!"));
        let (slug, suffix) = room.as_str().rsplit_once('-').unwrap();
        assert_eq!(slug, "cafe-planning-q3-42");
        assert_eq!(suffix.len(), SUFFIX_LEN);
        assert!(suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
    }

    #[test]
    fn generated_name_without_topic_uses_two_or_three_words() {
        let mut rng = StdRng::seed_from_u64(1);
        for topic in [None, Some("🎉🎉"), Some("")] {
            let room = Room::generate(&mut rng, topic);
            let parts: Vec<&str> = room.as_str().split('-').collect();
            assert!((3..=4).contains(&parts.len()), "{room}");
            for word in &parts[..parts.len() - 1] {
                assert!(WORDS.contains(word), "{word} not from the word list");
            }
        }
    }

    #[test]
    fn two_generated_names_for_one_topic_differ() {
        let mut rng = StdRng::seed_from_u64(3);
        let a = Room::generate(&mut rng, Some("standup"));
        let b = Room::generate(&mut rng, Some("standup"));
        assert_ne!(a, b);
    }

    #[test]
    fn long_topics_are_cut_to_the_slug_limit() {
        let mut rng = StdRng::seed_from_u64(5);
        let topic = "the quarterly all hands meeting about everything that happened";
        let room = Room::generate(&mut rng, Some(topic));
        let slug = &room.as_str()[..room.as_str().len() - SUFFIX_LEN - 1];
        assert!(slug.len() <= MAX_SLUG_LEN, "{slug}");
        assert!(topic.replace(' ', "-").starts_with(slug));
        assert!(!slug.ends_with('-'));
    }

    proptest! {
        #[test]
        fn generated_names_are_unchanged_by_normalisation(
            topic in proptest::option::of(any::<String>()),
            seed in any::<u64>(),
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let room = Room::generate(&mut rng, topic.as_deref());
            prop_assert_eq!(normalize_room_name(room.as_str()), room.as_str());
            prop_assert!(room.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            prop_assert!(Room::from_normalized(room.as_str().to_owned()).is_ok());
        }

        #[test]
        fn generated_names_survive_mentions_and_emoji(
            words in proptest::collection::vec("(<@[0-9]{1,19}>|[🎉🚀💥]|[A-Za-zÀ-ÿ]{1,12}|#[a-z]{1,8})", 0..12),
            seed in any::<u64>(),
        ) {
            let topic = words.join(" ");
            let mut rng = StdRng::seed_from_u64(seed);
            let room = Room::generate(&mut rng, Some(&topic));
            prop_assert_eq!(normalize_room_name(room.as_str()), room.as_str());
        }
    }
}
