//! The operator's endpoints: liveness, readiness and metrics.

use super::state::{AppState, PING_TIMEOUT};
use crate::meeting::live::{view, LiveState};
use crate::metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::sync::Arc;

/// The process is up and serving.
pub(super) async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// Ready when the gateway is connected and the database answers; 503 with the reason else.
pub(super) async fn readyz(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let gateway = app.deps.readiness.gateway_connected();
    let database = matches!(
        tokio::time::timeout(PING_TIMEOUT, app.deps.store.ping()).await,
        Ok(Ok(()))
    );
    let text = format!(
        "gateway: {}\ndatabase: {}\n",
        if gateway {
            "connected"
        } else {
            "not connected"
        },
        if database { "ok" } else { "not answering" }
    );
    let status = if gateway && database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, text)
}

/// Prometheus text. Gauges that describe the database (live meetings, pending jobs) are
/// refreshed from it first, so every instance reports the same truth; if it does not answer,
/// they keep their last values.
pub(super) async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let refresh = async {
        let now = app.deps.clock.now();
        let (due, later) = app.deps.store.pending_jobs(now).await?;
        metrics::set_pending_jobs(due, later);
        let timings = &app.deps.timings;
        // Older records cannot be live any more (see LiveTimings::max_overrun).
        let since = now - timings.max_overrun - chrono::Duration::days(1);
        let (mut meetings, mut people) = (0u64, 0u64);
        for (occurrence, record) in app.deps.store.live_records_unsettled(since).await? {
            let v = view(Some(&record), &occurrence, now, timings);
            if matches!(v.state, LiveState::Live { .. }) {
                meetings += 1;
                people += u64::from(v.in_call());
            }
        }
        metrics::set_live(meetings, people);
        Ok::<(), crate::store::StoreError>(())
    };
    match tokio::time::timeout(PING_TIMEOUT, refresh).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: database gauges not refreshed"),
        Err(_) => tracing::warn!("metrics: database gauges not refreshed (timed out)"),
    }
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::encode(),
    )
}
