//! meetbot: personal, tokenized Jitsi Meet links for Discord communities.

pub mod clock;
pub mod discord;
pub mod jitsi;
pub mod secret;
