//! Logging set-up at the binary's edge. Nothing logged anywhere in meetbot carries a token or a secret:
//! links and tokens are wrapped in `Secret`, whose `Debug` and `Display` are masked.
//!
//! The libraries underneath are not so careful, and an interaction's token can answer as the bot for
//! 15 minutes. So the operator's filter (`RUST_LOG` or `log.level`) is combined with a second, fixed
//! one that caps those libraries' targets below the levels that print tokens; no directive can lift
//! the cap, since an event must pass both. (Appending `serenity=warn` to the operator's filter was
//! not enough: the most specific directive wins, so `serenity::gateway=info` reopened it.)

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The most each token-bearing target may log, whatever the operator's filter says. A target's most
/// specific entry applies (`serenity::http::client` takes `serenity::http`'s cap).
const TOKEN_SAFE_CAPS: [(&str, LevelFilter); 5] = [
    // serenity 0.12: INFO spans record whole gateway events (an INTERACTION_CREATE holds the token),
    // and DEBUG/TRACE events print them too.
    ("serenity", LevelFilter::WARN),
    // http/client.rs warns "Mismatched successful response status from {route}": the route holds
    // the interaction token of a callback or follow-up.
    ("serenity::http", LevelFilter::ERROR),
    // gateway/ws.rs warns "Err deserializing text: …; text: {payload}" with the whole event.
    ("serenity::gateway::ws", LevelFilter::ERROR),
    // tungstenite 0.21 (through the `log` bridge) traces every gateway frame and message: the
    // events Discord sends and the IDENTIFY with the bot token.
    ("tungstenite", LevelFilter::DEBUG),
    // reqwest 0.12 traces the raw bytes of a connection (request line and Authorization header)
    // when a client turns on connection_verbose; none does today, the cap keeps it that way.
    ("reqwest", LevelFilter::DEBUG),
];

/// The operator's filter: `RUST_LOG` when set and valid, else the configured one, else `info`.
fn operator_filter(rust_log: Option<&str>, configured: &str) -> EnvFilter {
    rust_log
        .and_then(|s| EnvFilter::try_new(s).ok())
        .or_else(|| EnvFilter::try_new(configured).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// The fixed caps; every other target passes untouched.
fn token_safe_caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(TOKEN_SAFE_CAPS)
}

/// What gets logged: the operator's filter (`RUST_LOG` when set and valid, else `configured`) and,
/// on top of it, caps on the libraries that would log interaction or bot tokens.
pub fn filter<S>(rust_log: Option<&str>, configured: &str) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    operator_filter(rust_log, configured).and(token_safe_caps())
}

/// Logs to standard error with `RUST_LOG` or else the configured filter.
pub fn init(configured: &str) {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_filter(filter(rust_log.as_deref(), configured));
    // A second init (tests, embedding) is harmless: keep whichever subscriber came first.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const INTERACTION_TOKEN: &str = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnNlY3JldA";

    /// Runs `f` under the subscriber [`init`] builds (writing into a buffer) and returns what it printed.
    fn printed(rust_log: Option<&str>, configured: &str, f: impl FnOnce()) -> String {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let out = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_target(true)
            .with_writer(move || Writer(out.clone()))
            .with_filter(filter(rust_log, configured));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What serenity 0.12 and tungstenite 0.21 do with an interaction: an INFO span over the gateway
    /// event with the event as a field and events inside it at every level, the deserialisation
    /// warning with the whole text, the HTTP warning naming the route, and the frame traces (which
    /// reach tracing through the `log` bridge under the crate's module path as target).
    fn library_logging() {
        let event = format!("Interaction {{ token: \"{INTERACTION_TOKEN}\" }}");
        let span =
            tracing::info_span!(target: "serenity::gateway::shard", "handle_event", event = %event);
        span.in_scope(|| {
            tracing::warn!(target: "serenity::gateway::shard", "Sequence off; them: 7, us: 5");
            tracing::trace!(target: "serenity::gateway::shard", "dispatching {event}");
            tracing::debug!(target: "serenity::client::dispatch", "An unknown event was received: {event}");
            tracing::info!(target: "serenity::gateway", "{event}");
            tracing::info!(target: "meetbot::discord::meet", "inside serenity's span");
        });
        tracing::warn!(
            target: "serenity::gateway::ws",
            "Err deserializing text: missing field; text: {{\"t\":\"INTERACTION_CREATE\",\"d\":{{\"token\":\"{INTERACTION_TOKEN}\"}}}}"
        );
        tracing::warn!(
            target: "serenity::http::client",
            "Mismatched successful response status from /interactions/1/{INTERACTION_TOKEN}/callback!"
        );
        tracing::trace!(target: "tungstenite::protocol", "Received message {{\"token\":\"{INTERACTION_TOKEN}\"}}");
        tracing::trace!(target: "reqwest::connect", "0000002a write: \"POST /api/v10/interactions/1/{INTERACTION_TOKEN}/callback\"");
        tracing::info!(target: "meetbot::discord::meet", "meeting started");
    }

    /// Filters an operator might set to debug the gateway, each of which would print the token
    /// without the caps.
    const REOPENING_FILTERS: [&str; 10] = [
        "serenity::gateway=trace",
        "serenity=trace",
        "trace",
        "debug",
        "serenity::gateway=info",
        "serenity::http=trace,serenity::gateway::ws=warn",
        "[handle_event]=trace",
        "serenity::gateway::shard[handle_event]=trace",
        "[{event}]=trace",
        "tungstenite=trace,reqwest=trace",
    ];

    #[test]
    fn no_rust_log_prints_the_interaction_token_from_the_libraries() {
        for rust_log in REOPENING_FILTERS {
            let out = printed(Some(rust_log), "info", library_logging);
            assert!(
                !out.contains(INTERACTION_TOKEN),
                "RUST_LOG={rust_log}:\n{out}"
            );
        }
    }

    #[test]
    fn no_configured_filter_prints_the_interaction_token_either() {
        for configured in REOPENING_FILTERS {
            let out = printed(None, configured, library_logging);
            assert!(
                !out.contains(INTERACTION_TOKEN),
                "log.level={configured}:\n{out}"
            );
        }
    }

    #[test]
    fn the_caps_keep_serenitys_safe_warnings_and_every_meetbot_line() {
        let out = printed(Some("trace"), "info", library_logging);
        assert!(out.contains("Sequence off"), "{out}");
        assert!(out.contains("inside serenity's span"), "{out}");
        assert!(out.contains("meeting started"), "{out}");
        // Below the caps the libraries still speak.
        let out = printed(Some("tungstenite=debug"), "info", || {
            tracing::debug!(target: "tungstenite::handshake::client", "Client handshake done.");
        });
        assert!(out.contains("Client handshake done."), "{out}");
    }

    #[test]
    fn the_operators_filter_still_decides_below_the_caps() {
        let out = printed(Some("warn"), "info", library_logging);
        assert!(!out.contains("meeting started"), "{out}");
        assert!(out.contains("Sequence off"), "{out}");
        let out = printed(Some("meetbot=info,serenity=off"), "info", library_logging);
        assert!(!out.contains("Sequence off"), "{out}");
        assert!(out.contains("meeting started"), "{out}");
    }

    #[test]
    fn an_invalid_rust_log_falls_back_to_the_configured_filter() {
        let out = printed(Some("=[bad"), "warn", || {
            tracing::info!(target: "meetbot", "quiet");
            tracing::warn!(target: "meetbot", "loud");
        });
        assert!(!out.contains("quiet") && out.contains("loud"), "{out}");
    }
}
