//! The bot's HTTP side: one listener, off unless configured, for operators and for Jitsi.
//!
//! - `GET /healthz`: the process is up.
//! - `GET /readyz`: the gateway is connected and the database answers (else 503).
//! - `GET /metrics`: Prometheus text format (see `crate::metrics`).
//! - `POST /jitsi/events/{room/created,room/destroyed,occupant/joined,occupant/left}`: the
//!   `event_sync` Prosody component, behind a Bearer token.
//! - `POST /jaas/webhook`: 8x8 JaaS webhooks, signed.
//!
//! Events are merged into the store before the answer (a few milliseconds) and the Discord
//! follow-up is handed to a [`LiveSink`](crate::meeting::live::LiveSink) without waiting, because event_sync never retries a
//! timeout. Bad input gets a 4xx (never retried by Prosody); only a failing database gets a
//! 503, so the sender retries what would otherwise be lost.

mod events;
mod ingest;
mod ops;
mod options;
mod server;
mod state;

pub use options::{WebOptions, WebOptionsError, DEFAULT_BODY_LIMIT, MIN_TOKEN_LEN};
pub use server::{bind, router, serve, serve_with};
pub use state::{Readiness, WebDeps};
