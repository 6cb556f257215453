//! Logging set-up at the binary's edge. Nothing logged anywhere in meetbot carries a token or a secret:
//! links and tokens are wrapped in `Secret`, whose `Debug` and `Display` are masked.

use tracing_subscriber::EnvFilter;

/// Logs to standard error with `RUST_LOG` or else the configured filter.
pub fn init(configured: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(configured))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, embedding) is harmless: keep whichever subscriber came first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
