//! Jitsi's side: token claims and signing, room names and Jitsi's normalisation, links,
//! verification as Prosody judges a token, the matching server configuration, and the room
//! events a deployment reports.
//! Knows nothing of Discord or storage.

pub mod asap;
pub mod events;
pub mod events_config;
pub mod keys;
pub mod per_server;
pub mod room;
pub mod server_config;
pub mod settings;
pub mod site_config;
pub mod token;
pub mod trust_config;
pub mod verify;

pub use per_server::{ServerJitsi, ServerSigner};
pub use room::{normalize_room_name, Room, RoomError};
pub use settings::*;
pub use token::{Claims, Grant, Identity, Link, MintedToken, Minter, TokenError};
pub use verify::{extract_token, verify, Check, Expectations, Verdict, VerifyKey};
