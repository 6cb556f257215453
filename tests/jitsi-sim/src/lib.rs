//! Plays a Jitsi deployment towards meetbot's HTTP side, on loopback, in tests:
//!
//! - [`event_sync`]: jitsi-contrib's `event_sync` Prosody component — the room model it keeps,
//!   the exact bodies it posts (including `{}` for an empty `all_occupants`), its headers, and
//!   its delivery rules (3 retries 1 s apart with the identical body on connection failure or
//!   5xx only; a timeout is never retried).
//! - [`jaas`]: 8x8 JaaS webhooks, signed with `X-Jaas-Signature`.

pub mod event_sync;
pub mod jaas;
