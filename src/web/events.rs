//! The Jitsi endpoints: event_sync behind a Bearer token, JaaS webhooks behind a signature.
//! Every request ends in one verdict, counted in `meetbot_jitsi_events_total`.

use super::ingest;
use super::state::{AppState, APPLY_TIMEOUT};
use crate::jitsi::events::jaas::{self, SIGNATURE_HEADER};
use crate::jitsi::events::{event_sync, EventError, EventKind, EventSource, Parsed};
use crate::metrics::{self, EventVerdict};
use crate::secret::Secret;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;

/// How a request was answered.
struct Answer {
    status: StatusCode,
    verdict: EventVerdict,
    kind: Option<EventKind>,
    /// For whoever sent it; never quotes the body or a secret.
    error: Option<String>,
}

impl Answer {
    fn ok(kind: Option<EventKind>, verdict: EventVerdict) -> Answer {
        Answer {
            status: StatusCode::OK,
            verdict,
            kind,
            error: None,
        }
    }

    fn refused(
        status: StatusCode,
        kind: Option<EventKind>,
        verdict: EventVerdict,
        error: impl Into<String>,
    ) -> Answer {
        Answer {
            status,
            verdict,
            kind,
            error: Some(error.into()),
        }
    }

    fn into_response(self, source: EventSource, started: Instant) -> Response {
        metrics::jitsi_event(source, self.kind, self.verdict, started.elapsed());
        let kind = self.kind.map_or("unknown", EventKind::as_str);
        match &self.error {
            None => tracing::debug!(
                source = source.as_str(),
                kind,
                verdict = self.verdict.as_str(),
                "jitsi event"
            ),
            Some(e) => {
                tracing::warn!(source = source.as_str(), kind, verdict = self.verdict.as_str(), status = self.status.as_u16(), error = %e, "jitsi event refused")
            }
        }
        let body = match self.error {
            None => json!({ "verdict": self.verdict.as_str() }),
            Some(e) => json!({ "verdict": self.verdict.as_str(), "error": e }),
        };
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &Secret) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, presented)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && bool::from(presented.trim().as_bytes().ct_eq(token.expose().as_bytes()))
}

/// The body, or the answer for one that could not be read (413 past the limit).
fn read_body(
    body: Result<Bytes, BytesRejection>,
    kind: Option<EventKind>,
) -> Result<Bytes, Answer> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Answer::refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                kind,
                EventVerdict::TooLarge,
                "the body is larger than this endpoint accepts",
            )
        } else {
            Answer::refused(
                StatusCode::BAD_REQUEST,
                kind,
                EventVerdict::Malformed,
                "the body could not be read",
            )
        }
    })
}

fn malformed(kind: Option<EventKind>, e: &EventError) -> Answer {
    Answer::refused(
        StatusCode::BAD_REQUEST,
        kind,
        EventVerdict::Malformed,
        e.to_string(),
    )
}

/// Parses, applies within the time limit, and says how it went.
async fn settle(app: &AppState, kind: Option<EventKind>, parsed: Parsed) -> Answer {
    let event = match parsed {
        Parsed::Event(event) => event,
        Parsed::Ignored(_) => return Answer::ok(kind, EventVerdict::Ignored),
    };
    let kind = Some(event.kind);
    match tokio::time::timeout(APPLY_TIMEOUT, ingest::apply(&app.deps, event)).await {
        Ok(Ok(verdict)) => Answer::ok(kind, verdict),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a Jitsi event could not be stored; the sender will retry");
            Answer::refused(
                StatusCode::SERVICE_UNAVAILABLE,
                kind,
                EventVerdict::StoreFailed,
                "the database is unavailable, try again",
            )
        }
        Err(_) => Answer::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            kind,
            EventVerdict::StoreFailed,
            "the database is too slow, try again",
        ),
    }
}

async fn event_sync(
    app: Arc<AppState>,
    kind: EventKind,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let answer = async {
        let Some(token) = &app.options.events_token else {
            return Answer::refused(
                StatusCode::NOT_FOUND,
                Some(kind),
                EventVerdict::Disabled,
                "event_sync is not enabled on this bot: set JITSI_EVENTS_TOKEN",
            );
        };
        if !bearer_matches(&headers, token) {
            return Answer::refused(
                StatusCode::UNAUTHORIZED,
                Some(kind),
                EventVerdict::Unauthorized,
                "missing or wrong Bearer token (api_headers Authorization)",
            );
        }
        let body = match read_body(body, Some(kind)) {
            Ok(b) => b,
            Err(answer) => return answer,
        };
        match event_sync::parse(kind, &body) {
            Ok(parsed) => settle(&app, Some(kind), parsed).await,
            Err(e) => malformed(Some(kind), &e),
        }
    }
    .await;
    answer.into_response(EventSource::EventSync, started)
}

pub(super) async fn room_created(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    event_sync(app, EventKind::RoomCreated, headers, body).await
}

pub(super) async fn room_destroyed(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    event_sync(app, EventKind::RoomDestroyed, headers, body).await
}

pub(super) async fn occupant_joined(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    event_sync(app, EventKind::OccupantJoined, headers, body).await
}

pub(super) async fn occupant_left(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    event_sync(app, EventKind::OccupantLeft, headers, body).await
}

pub(super) async fn jaas_webhook(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let answer = async {
        let Some(secret) = &app.options.jaas_secret else {
            return Answer::refused(
                StatusCode::NOT_FOUND,
                None,
                EventVerdict::Disabled,
                "JaaS webhooks are not enabled on this bot: set JAAS_WEBHOOK_SECRET",
            );
        };
        let body = match read_body(body, None) {
            Ok(b) => b,
            Err(answer) => return answer,
        };
        let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        if let Err(e) = jaas::verify_signature(secret, signature, &body, app.deps.clock.now()) {
            return Answer::refused(
                StatusCode::UNAUTHORIZED,
                None,
                EventVerdict::Unauthorized,
                e.to_string(),
            );
        }
        match jaas::parse(&body) {
            Ok(parsed) => settle(&app, None, parsed).await,
            Err(e) => malformed(None, &e),
        }
    }
    .await;
    answer.into_response(EventSource::Jaas, started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_bearer_token_must_match_exactly() {
        let token = Secret::new("0123456789abcdef0123456789abcdef");
        assert!(bearer_matches(
            &with_auth("Bearer 0123456789abcdef0123456789abcdef"),
            &token
        ));
        assert!(bearer_matches(
            &with_auth("bearer 0123456789abcdef0123456789abcdef"),
            &token
        ));
        assert!(!bearer_matches(
            &with_auth("Bearer 0123456789abcdef0123456789abcdeF"),
            &token
        ));
        assert!(!bearer_matches(
            &with_auth("Bearer 0123456789abcdef"),
            &token
        ));
        assert!(!bearer_matches(
            &with_auth("Basic 0123456789abcdef0123456789abcdef"),
            &token
        ));
        assert!(!bearer_matches(
            &with_auth("0123456789abcdef0123456789abcdef"),
            &token
        ));
        assert!(!bearer_matches(&HeaderMap::new(), &token));
    }
}
