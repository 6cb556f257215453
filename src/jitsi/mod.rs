//! Jitsi's side: token claims and signing, room names and Jitsi's normalisation, links,
//! verification as Prosody judges a token, and the matching server configuration.
//! Knows nothing of Discord or storage.

pub mod settings;

pub use settings::*;
