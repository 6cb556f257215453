//! The bot's HTTP side as part of its lifecycle: the listener of `crate::web` (health, readiness, metrics, Jitsi's
//! room events) with the key server of `crate::tenant` beside it, started with the bot and stopped with it. Off
//! unless `http.listen` is set.

use crate::clock::SharedClock;
use crate::config::Config;
use crate::meeting::live::{LiveSink, LiveTimings};
use crate::store::Store;
use crate::web::{Readiness, WebDeps};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// A running listener.
pub struct Listener {
    /// Where it listens (the port is known even when the configuration said 0).
    pub addr: SocketAddr,
    /// The serving task; it ends once shutdown is signalled and requests under way finished.
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `http.listen` (failing at once when the address is taken, so a misconfiguration stops the start) and serves
/// in the background until `shutdown` turns true. `None` when no listener is configured.
pub async fn start(
    config: &Config,
    store: &Store,
    clock: &SharedClock,
    readiness: &Readiness,
    sink: Arc<dyn LiveSink>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<Option<Listener>> {
    let Some(options) = config.http.web.clone() else {
        return Ok(None);
    };
    let listener = crate::web::bind(&options).await?;
    let addr = listener.local_addr()?;
    let deps = WebDeps {
        store: store.clone(),
        clock: clock.clone(),
        readiness: readiness.clone(),
        sink,
        tenant: config.jitsi.tenant.clone(),
        timings: LiveTimings::default(),
    };
    let keys = crate::tenant::http::router(store.clone(), clock.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = crate::web::serve_with(listener, options, deps, keys, shutdown).await {
            tracing::error!(error = %e, "the HTTP listener stopped with an error");
        }
    });
    Ok(Some(Listener { addr, task }))
}
