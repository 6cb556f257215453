//! The core of meetings: who moderates, who may host, who may see and join, whom a meeting invites and reminds,
//! what a Join click yields, what a cancel changes, the server's settings. Plain Rust: no Discord, no storage, no
//! Jitsi types, so every rule here is unit-tested directly.

pub mod access;
pub mod cancel;
pub mod channel;
pub mod cooldown;
pub mod invite;
pub mod join;
pub mod live;
pub mod occurrences;
pub mod policy;
pub mod recipients;
pub mod request;
pub mod settings;
pub mod shards;
