//! The key server: where a server's Prosody finds meetbot's public keys for it.
//!
//! - `GET /asap/<guild id>/<sha256 hex of kid>.pem`: the PEM public key, for `asap_key_server =
//!   "<base>/asap/<guild id>"`. Served while the key is current, and after rotation until its
//!   `serve_until`; 404 otherwise.
//! - `GET /asap/<guild id>/jwks.json`: the same keys as a JWKS, for `cache_keys_url`.
//!
//! Why a path per server rather than one flat `/asap/<hash>.pem`: one meetbot signs for many servers, and
//! Prosody accepts any key its key server hands out. With a flat path, a community's Prosody would also
//! accept tokens signed with another community's key (only `iss` would tell them apart); under its own
//! path it can fetch only its own keys. The `//` that Prosody asks for when an admin writes the URL with a
//! trailing slash is answered too.

use crate::clock::SharedClock;
use crate::jitsi::keys::{is_sha256_hex, Jwk, Jwks};
use crate::store::{ServedPublicKey, Store};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Where the key paths start.
pub const KEY_PREFIX: &str = "/asap";

/// The JWKS file name under a server's key path.
pub const JWKS_FILE: &str = "jwks.json";

/// How long a cache may keep an answer. Prosody itself keeps a fetched PEM until restart and refreshes
/// the JWKS at max-age minus 60 s; five minutes lets a rotated key reach a JWKS reader quickly.
pub const MAX_AGE_SECS: i64 = 300;

/// A server's key path: its `asap_key_server` without meetbot's base URL.
pub fn key_path(guild_id: u64) -> String {
    format!("{KEY_PREFIX}/{guild_id}")
}

#[derive(Clone)]
struct KeyServer {
    store: Store,
    clock: SharedClock,
}

/// The key server's routes, for the HTTP listener to mount at its root.
pub fn router(store: Store, clock: SharedClock) -> Router {
    Router::new()
        .route(&format!("{KEY_PREFIX}/{{guild}}/{{file}}"), get(serve))
        .route(&format!("{KEY_PREFIX}/{{guild}}//{{file}}"), get(serve))
        .with_state(KeyServer { store, clock })
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        "no such key\n",
    )
        .into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "30"),
        ],
        "the key store is unavailable, try again\n",
    )
        .into_response()
}

fn cached(max_age: i64, content_type: &'static str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={}", max_age.max(0))) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// Seconds a cache may keep `keys`: never past the moment the first of them stops being served.
fn max_age(keys: &[ServedPublicKey], now: chrono::DateTime<chrono::Utc>) -> i64 {
    keys.iter()
        .filter_map(|k| k.serve_until)
        .map(|until| (until - now).num_seconds())
        .fold(MAX_AGE_SECS, i64::min)
}

async fn serve(
    State(ks): State<KeyServer>,
    Path((guild, file)): Path<(String, String)>,
) -> Response {
    let Ok(guild) = guild.parse::<u64>() else {
        return not_found();
    };
    let now = ks.clock.now();
    if file == JWKS_FILE {
        let keys = match ks.store.served_public_keys(guild, now).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, guild, "key server: cannot read the keys");
                return unavailable();
            }
        };
        if keys.is_empty() {
            return not_found();
        }
        let jwks = Jwks {
            keys: keys
                .iter()
                .filter_map(|k| Jwk::from_public_pem(&k.kid, &k.public_pem).ok())
                .collect(),
        };
        let Ok(body) = serde_json::to_string(&jwks) else {
            return unavailable();
        };
        return cached(max_age(&keys, now), "application/json", body);
    }
    let Some(hash) = file.strip_suffix(".pem").filter(|h| is_sha256_hex(h)) else {
        return not_found();
    };
    match ks.store.served_public_key(guild, hash, now).await {
        Ok(Some(key)) => {
            let age = max_age(std::slice::from_ref(&key), now);
            cached(age, "application/x-pem-file", key.public_pem)
        }
        Ok(None) => not_found(),
        Err(e) => {
            tracing::warn!(error = %e, guild, "key server: cannot read the key");
            unavailable()
        }
    }
}
