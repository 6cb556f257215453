//! What the handlers share: the store, the clock, readiness, the sink the Discord side listens on.

use super::options::WebOptions;
use crate::clock::SharedClock;
use crate::meeting::live::{LiveSink, LiveTimings};
use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long applying one event may take before the sender is told to retry (503).
pub(super) const APPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// How long `/readyz` waits for the database.
pub(super) const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` reports on besides the database; the bot sets it as the gateway connects
/// and disconnects. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    gateway: Arc<AtomicBool>,
}

impl Readiness {
    /// Not ready until told otherwise.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Records whether the gateway is connected.
    pub fn set_gateway_connected(&self, connected: bool) {
        self.gateway.store(connected, Ordering::Relaxed);
    }

    /// Whether the gateway is connected.
    pub fn gateway_connected(&self) -> bool {
        self.gateway.load(Ordering::Relaxed)
    }
}

/// Everything the HTTP side works with.
#[derive(Clone)]
pub struct WebDeps {
    /// The database.
    pub store: Store,
    /// The program's clock (JaaS signature times, gauges).
    pub clock: SharedClock,
    /// Gateway state for `/readyz`.
    pub readiness: Readiness,
    /// Where applied events are reported for the Discord side.
    pub sink: Arc<dyn LiveSink>,
    /// The configured tenant (`jitsi.tenant`; for JaaS the AppID): events for other tenants'
    /// rooms are ignored, as are tenant rooms when none is configured.
    pub tenant: Option<String>,
    /// How events are placed in occurrences' time.
    pub timings: LiveTimings,
}

/// What every handler shares.
pub(super) struct AppState {
    pub(super) options: WebOptions,
    pub(super) deps: WebDeps,
}
