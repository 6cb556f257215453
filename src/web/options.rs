//! The listener's settings and their checks: where it listens, the events token, the JaaS secret, the body limit.

use crate::secret::Secret;
use std::net::{IpAddr, SocketAddr};

/// Largest request body accepted. A `room/destroyed` lists every occupant the room ever had
/// (~250 bytes each, more with `include_user_info`), so 64 KiB could refuse a large meeting's
/// end, which Prosody would never resend.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// Shortest events token accepted, in bytes: it is the only thing between the network and the
/// live state, and it travels in a config file on the Jitsi side.
pub const MIN_TOKEN_LEN: usize = 32;

/// The listener's settings, validated.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Where to listen (`http.listen`, `MEETBOT_HTTP_LISTEN`).
    pub listen: SocketAddr,
    /// The Bearer token event_sync sends (`JITSI_EVENTS_TOKEN`); without it the event
    /// endpoints answer 404.
    pub events_token: Option<Secret>,
    /// The JaaS webhook secret, `whsec_` prefix included (`JAAS_WEBHOOK_SECRET`); without it
    /// the webhook endpoint answers 404.
    pub jaas_secret: Option<Secret>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
}

/// A setting the listener cannot run with, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebOptionsError {
    /// The events token is too short or holds characters a header cannot carry.
    #[error("JITSI_EVENTS_TOKEN must be at least {MIN_TOKEN_LEN} visible ASCII characters without spaces (e.g. `openssl rand -hex 32`)")]
    WeakToken,
    /// The JaaS secret is empty or holds characters no JaaS secret has.
    #[error("JAAS_WEBHOOK_SECRET must be the endpoint's whole secret from the JaaS console (it starts with whsec_)")]
    BadJaasSecret,
    /// A public address without an events token: anyone could post events.
    #[error("http.listen is the public address {0}: set JITSI_EVENTS_TOKEN, or listen on an internal address (127.0.0.1, a private network, or 0.0.0.0 inside a container)")]
    PublicWithoutToken(IpAddr),
    /// The body limit is too small for an event.
    #[error("the HTTP body limit must be at least 4096 bytes")]
    TinyBodyLimit,
}

impl WebOptions {
    /// Validated options from the configured address and the environment's secrets (empty
    /// values count as unset), with the default body limit.
    pub fn new(
        listen: SocketAddr,
        events_token: Option<Secret>,
        jaas_secret: Option<Secret>,
    ) -> Result<WebOptions, WebOptionsError> {
        Self::with_body_limit(listen, events_token, jaas_secret, DEFAULT_BODY_LIMIT)
    }

    /// [`WebOptions::new`] with an explicit body limit.
    pub fn with_body_limit(
        listen: SocketAddr,
        events_token: Option<Secret>,
        jaas_secret: Option<Secret>,
        body_limit: usize,
    ) -> Result<WebOptions, WebOptionsError> {
        let events_token = events_token.filter(|t| !t.is_empty());
        let jaas_secret = jaas_secret.filter(|t| !t.is_empty());
        if let Some(token) = &events_token {
            let visible = token.expose().bytes().all(|b| b.is_ascii_graphic());
            if token.len() < MIN_TOKEN_LEN || !visible {
                return Err(WebOptionsError::WeakToken);
            }
        }
        if let Some(secret) = &jaas_secret {
            if !secret.expose().bytes().all(|b| b.is_ascii_graphic()) {
                return Err(WebOptionsError::BadJaasSecret);
            }
        }
        if events_token.is_none() && is_public(listen.ip()) {
            return Err(WebOptionsError::PublicWithoutToken(listen.ip()));
        }
        if body_limit < 4096 {
            return Err(WebOptionsError::TinyBodyLimit);
        }
        Ok(WebOptions {
            listen,
            events_token,
            jaas_secret,
            body_limit,
        })
    }

    /// Warnings worth logging at start (the options are usable): a JaaS secret without its
    /// `whsec_` prefix (JaaS signs with the whole secret), a public address, all interfaces
    /// without a token.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self
            .jaas_secret
            .as_ref()
            .is_some_and(|s| !s.expose().starts_with("whsec_"))
        {
            out.push("JAAS_WEBHOOK_SECRET does not start with whsec_: JaaS signs with the whole secret, prefix included; copy it whole from the JaaS console".to_string());
        }
        if is_public(self.listen.ip()) {
            out.push(format!("the HTTP listener binds the public address {}: /metrics and /readyz answer anyone and only the static JITSI_EVENTS_TOKEN guards the events; bind an internal address the Jitsi server reaches over a private network", self.listen));
        }
        if self.listen.ip().is_unspecified() && self.events_token.is_none() {
            out.push(format!("the HTTP listener binds every interface ({}) and /metrics has no authentication: keep the port on an internal network", self.listen));
        }
        out
    }
}

/// Globally routable: not loopback, private, link-local, unique-local or unspecified.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn token() -> Option<Secret> {
        Some(Secret::new("0123456789abcdef0123456789abcdef"))
    }

    #[test]
    fn a_public_address_needs_the_events_token() {
        let e = WebOptions::new(addr("203.0.113.7:8080"), None, None).unwrap_err();
        assert!(matches!(e, WebOptionsError::PublicWithoutToken(_)));
        assert!(e.to_string().contains("JITSI_EVENTS_TOKEN"));
        assert!(WebOptions::new(addr("203.0.113.7:8080"), token(), None).is_ok());
        assert!(WebOptions::new(addr("[2001:db8::1]:8080"), None, None).is_err());
    }

    #[test]
    fn a_public_address_is_warned_about_even_with_the_token() {
        for a in ["203.0.113.7:8080", "[2001:db8::1]:8080"] {
            let o = WebOptions::new(addr(a), token(), None).unwrap();
            let w = o.warnings();
            assert!(
                w.iter().any(|w| w.contains("binds the public address")),
                "{a}: {w:?}"
            );
        }
        let o = WebOptions::new(addr("10.0.0.5:8080"), token(), None).unwrap();
        assert!(o.warnings().is_empty());
    }

    #[test]
    fn internal_addresses_may_go_without_a_token() {
        for a in [
            "127.0.0.1:8080",
            "10.0.0.5:8080",
            "172.18.0.3:8080",
            "192.168.1.2:8080",
            "100.64.1.1:8080",
            "0.0.0.0:8080",
            "[::1]:8080",
            "[fd00::5]:8080",
            "[::]:8080",
        ] {
            let o = WebOptions::new(addr(a), None, None).unwrap_or_else(|e| panic!("{a}: {e}"));
            assert!(o.events_token.is_none());
        }
    }

    #[test]
    fn a_short_or_spaced_token_is_refused_and_an_empty_one_is_unset() {
        for bad in ["short", "0123456789abcdef 0123456789abcdef"] {
            assert_eq!(
                WebOptions::new(addr("127.0.0.1:1"), Some(Secret::new(bad)), None).unwrap_err(),
                WebOptionsError::WeakToken
            );
        }
        let o = WebOptions::new(addr("127.0.0.1:1"), Some(Secret::new("")), None).unwrap();
        assert!(o.events_token.is_none());
    }

    #[test]
    fn a_jaas_secret_without_its_prefix_is_warned_about() {
        let o = WebOptions::new(addr("127.0.0.1:1"), None, Some(Secret::new("abc"))).unwrap();
        assert!(o.warnings().iter().any(|w| w.contains("whsec_")));
        let o = WebOptions::new(addr("127.0.0.1:1"), None, Some(Secret::new("whsec_abc"))).unwrap();
        assert!(o.warnings().is_empty());
        assert_eq!(
            WebOptions::new(addr("127.0.0.1:1"), None, Some(Secret::new("whsec_a b"))).unwrap_err(),
            WebOptionsError::BadJaasSecret
        );
    }

    #[test]
    fn option_errors_never_show_the_secrets() {
        let o =
            WebOptions::new(addr("127.0.0.1:1"), token(), Some(Secret::new("whsec_x"))).unwrap();
        let dump = format!("{o:?}");
        assert!(
            !dump.contains("0123456789abcdef") && !dump.contains("whsec_x"),
            "{dump}"
        );
    }
}
