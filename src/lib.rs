//! meetbot: personal, tokenized Jitsi Meet links for Discord communities.

pub mod clock;
pub mod jitsi;
pub mod schedule;
pub mod secret;
pub mod store;
