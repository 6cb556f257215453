//! The core of meetings: who moderates, who may host, whom a meeting invites. Plain Rust: no Discord types,
//! so every rule here is unit-tested directly.

pub mod cooldown;
pub mod invite;
pub mod live;
pub mod policy;
pub mod request;
