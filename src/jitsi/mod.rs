//! Jitsi's side: token claims and signing, room names and Jitsi's normalisation, links,
//! verification as Prosody judges a token, the matching server configuration, and the room
//! events a deployment reports.
//! Knows nothing of Discord or storage.

pub mod events;
pub mod room;
pub mod server_config;
pub mod settings;
pub mod token;
pub mod verify;

pub use room::{normalize_room_name, Room, RoomError};
pub use settings::*;
pub use token::{Claims, Grant, Identity, Link, MintedToken, Minter, TokenError};
pub use verify::{extract_token, verify, Check, Expectations, Verdict, VerifyKey};
