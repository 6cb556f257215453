//! The routes and the serving loop.

use super::options::WebOptions;
use super::state::{AppState, WebDeps};
use super::{events, ops};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The routes, for serving or for driving in tests.
pub fn router(options: WebOptions, deps: WebDeps) -> Router {
    let limit = options.body_limit;
    let state = Arc::new(AppState { options, deps });
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/jitsi/events/room/created", post(events::room_created))
        .route("/jitsi/events/room/destroyed", post(events::room_destroyed))
        .route(
            "/jitsi/events/occupant/joined",
            post(events::occupant_joined),
        )
        .route("/jitsi/events/occupant/left", post(events::occupant_left))
        .route("/jaas/webhook", post(events::jaas_webhook))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Binds the configured address.
pub async fn bind(options: &WebOptions) -> std::io::Result<TcpListener> {
    TcpListener::bind(options.listen).await
}

/// Serves on `listener` until `shutdown` turns true (or its sender goes away), then lets
/// requests under way finish. The bot's entry point:
///
/// ```ignore
/// let listener = web::bind(&options).await?;
/// tokio::spawn(web::serve(listener, options, deps, shutdown_rx));
/// ```
pub async fn serve(
    listener: TcpListener,
    options: WebOptions,
    deps: WebDeps,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve_with(listener, options, deps, Router::new(), shutdown).await
}

/// [`serve`] with more routes beside the listener's own (the key server of servers that trust meetbot's keys),
/// under the same listener, shutdown and body limit.
pub async fn serve_with(
    listener: TcpListener,
    options: WebOptions,
    deps: WebDeps,
    extra: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Warnings about the options were logged with the configuration's at start-up.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, events = options.events_token.is_some(), jaas = options.jaas_secret.is_some(), "HTTP listener started");
    let app = router(options, deps).merge(extra);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        })
        .await?;
    tracing::info!(%addr, "HTTP listener stopped");
    Ok(())
}
