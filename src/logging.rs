//! Logging set-up at the binary's edge. Nothing logged anywhere in meetbot carries a token or a secret:
//! links and tokens are wrapped in `Secret`, whose `Debug` and `Display` are masked.
//!
//! serenity is not so careful: its gateway spans record whole events (an INTERACTION_CREATE carries the
//! interaction's token, which can answer as the bot for 15 minutes) and its HTTP client logs request paths (which
//! hold that token). Whatever filter the operator chooses, those are kept below the level that records them.

use tracing_subscriber::EnvFilter;

/// Appended to every filter, last so they win over a broader setting such as `RUST_LOG=debug`: serenity's INFO
/// spans (whose fields hold gateway events) stay off, and its HTTP client, which warns with request paths,
/// speaks only for errors.
const SECRET_SAFE_DIRECTIVES: [&str; 2] = ["serenity=warn", "serenity::http=error"];

/// The filter from `RUST_LOG` (when set and valid) or else the configured one, with serenity's token-bearing
/// spans and events switched off.
pub fn filter(rust_log: Option<&str>, configured: &str) -> EnvFilter {
    let base = rust_log
        .and_then(|s| EnvFilter::try_new(s).ok())
        .or_else(|| EnvFilter::try_new(configured).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    SECRET_SAFE_DIRECTIVES.iter().fold(base, |f, d| {
        f.add_directive(d.parse().expect("a fixed, valid directive"))
    })
}

/// Logs to standard error with `RUST_LOG` or else the configured filter.
pub fn init(configured: &str) {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    // A second init (tests, embedding) is harmless: keep whichever subscriber came first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(rust_log.as_deref(), configured))
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const INTERACTION_TOKEN: &str = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnNlY3JldA";

    /// Runs `f` under a subscriber built from `filter` and returns what it printed.
    fn printed(filter: EnvFilter, f: impl FnOnce()) -> String {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Writer(out.clone()))
            .finish();
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

    /// What serenity 0.12 does: an INFO span over the gateway event with the event as a field, a warning inside
    /// it, and an HTTP warning naming the request path.
    fn serenity_like_logging() {
        let event = format!("Interaction {{ token: \"{INTERACTION_TOKEN}\" }}");
        let span =
            tracing::info_span!(target: "serenity::gateway::shard", "handle_event", event = %event);
        span.in_scope(|| {
            tracing::warn!(target: "serenity::gateway::shard", "Sequence off; them: 7, us: 5");
        });
        tracing::warn!(
            target: "serenity::http::client",
            "Mismatched successful response status from /interactions/1/{INTERACTION_TOKEN}/callback!"
        );
        tracing::info!(target: "meetbot::discord::meet", "meeting started");
    }

    #[test]
    fn rust_log_debug_does_not_print_interaction_tokens_from_serenity() {
        let out = printed(filter(Some("debug"), "info"), serenity_like_logging);
        assert!(!out.contains(INTERACTION_TOKEN), "{out}");
        // The warning itself still shows, without its span's fields; meetbot's own lines are untouched.
        assert!(out.contains("Sequence off"), "{out}");
        assert!(out.contains("meeting started"), "{out}");
    }

    #[test]
    fn configured_filter_does_not_print_interaction_tokens_from_serenity() {
        let out = printed(
            filter(None, "info,serenity=warn,tracing::span=warn"),
            serenity_like_logging,
        );
        assert!(!out.contains(INTERACTION_TOKEN), "{out}");
        assert!(out.contains("meeting started"), "{out}");
    }

    #[test]
    fn an_invalid_rust_log_falls_back_to_the_configured_filter() {
        let out = printed(filter(Some("=[bad"), "warn"), || {
            tracing::info!(target: "meetbot", "quiet");
            tracing::warn!(target: "meetbot", "loud");
        });
        assert!(!out.contains("quiet") && out.contains("loud"), "{out}");
    }
}
