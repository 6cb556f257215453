//! The token caps of `meetbot::logging` also hold for libraries that log through the `log` crate
//! (tungstenite, reqwest): the subscriber's initialisation bridges their records into tracing, with
//! the crate's module path as target. Its own test binary, since the bridge is process-wide.

use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

const BOT_TOKEN: &str = "MTAxMjM0NTY3ODkwMTIzNDU2.GaBcDe.bot-token-secret-part_XYZ";
const INTERACTION_TOKEN: &str = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnNlY3JldA";

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn frames_and_raw_bytes_logged_through_the_log_crate_stay_out_even_at_trace() {
    let buf = Buffer(Arc::new(Mutex::new(Vec::new())));
    let w = buf.clone();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || w.clone())
        .with_filter(meetbot::logging::filter(Some("trace"), "info"));
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .expect("the only subscriber of this test binary");

    // tungstenite 0.21, protocol/mod.rs and protocol/frame/mod.rs.
    log::trace!(target: "tungstenite::protocol", "Received message {{\"t\":\"INTERACTION_CREATE\",\"d\":{{\"token\":\"{INTERACTION_TOKEN}\"}}}}");
    log::trace!(target: "tungstenite::protocol", "Sending frame: {{\"op\":2,\"d\":{{\"token\":\"{BOT_TOKEN}\"}}}}");
    // reqwest 0.12, connect.rs with connection_verbose.
    log::trace!(target: "reqwest::connect::verbose", "00000001 write: \"POST /api/v10/interactions/1/{INTERACTION_TOKEN}/callback HTTP/1.1\\r\\nauthorization: Bot {BOT_TOKEN}\"");
    // Below the caps they still speak, and so does meetbot.
    log::debug!(target: "tungstenite::handshake::client", "Client handshake done.");
    log::debug!(target: "reqwest::connect", "starting new connection: https://discord.com/");
    tracing::trace!(target: "meetbot::discord", "meetbot at trace");

    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(!out.contains(INTERACTION_TOKEN), "{out}");
    assert!(!out.contains(BOT_TOKEN), "{out}");
    assert!(out.contains("Client handshake done."), "{out}");
    assert!(out.contains("starting new connection"), "{out}");
    assert!(out.contains("meetbot at trace"), "{out}");
}
