//! Everything the token engine needs to know, already validated by `config`.

use crate::secret::Secret;
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// Which kind of Jitsi deployment the tokens are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// A self-hosted Jitsi (Prosody `authentication = "token"`).
    SelfHosted,
    /// 8x8 Jitsi as a Service: RS256 with `kid`, `iss` "chat", `sub` = AppID.
    Jaas,
}

/// Signing algorithm; must equal the server's configured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA256 with the shared `app_secret` (Jitsi's default).
    Hs256,
    /// RSA-SHA256 with a private key; the server finds the public key by `kid`.
    Rs256,
}

/// The key that signs tokens.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// Shared secret for HS256 (JWT_APP_SECRET).
    Hmac(Secret),
    /// PEM-encoded RSA private key (JWT_PRIVATE_KEY_FILE) and the key id (JWT_KID).
    Rsa { private_pem: Secret, kid: String },
}

/// Where the token rides in the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStyle {
    /// `?jwt=<token>`: the seed article's form, works on every Jitsi version.
    Query,
    /// `#jwt=<token>`: never reaches web-server logs.
    Fragment,
}

/// Which claim forms carry the moderator decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeratorClaims {
    /// Top-level boolean `moderator`, `context.user.moderator` (boolean) and
    /// `context.user.affiliation` ("owner"/"member") all at once.
    All,
    /// JaaS: `context.user.moderator` as the string "true"/"false".
    Jaas,
}

/// Validated token-engine settings.
#[derive(Debug, Clone)]
pub struct JitsiSettings {
    /// Self-hosted or JaaS.
    pub preset: Preset,
    /// The meeting site without tenant, e.g. `https://meet.example.com/` (JaaS: `https://8x8.vc/`).
    pub public_url: Url,
    /// Tenant path segment, if any (JaaS: the AppID).
    pub tenant: Option<String>,
    /// `iss` for self-hosted (JWT_APP_ID); ignored for JaaS (`iss` is "chat").
    pub app_id: String,
    /// `sub` when there is no tenant: the XMPP domain (docker-jitsi-meet: `meet.jitsi`).
    pub xmpp_domain: String,
    /// `aud` (default "jitsi").
    pub audience: String,
    /// Signing algorithm.
    pub algorithm: Algorithm,
    /// Signing key, matching `algorithm`.
    pub key: SigningKey,
    /// Default token lifetime.
    pub lifetime: Duration,
    /// How far `nbf` is back-dated (Jitsi allows no clock skew).
    pub nbf_backdate: Duration,
    /// Where the token rides in the link.
    pub link_style: LinkStyle,
    /// Which claim forms carry the moderator decision.
    pub moderator_claims: ModeratorClaims,
    /// Put `context.user.lobby_bypass = true` in moderators' tokens.
    pub lobby_bypass_for_moderators: bool,
    /// `context.features` for moderators (empty map and `None` for members: no `features` object).
    pub moderator_features: BTreeMap<String, bool>,
    /// `context.features` for everyone else.
    pub member_features: BTreeMap<String, bool>,
    /// Whether to put `context.user.email` in tokens (privacy: off by default).
    pub include_email: bool,
    /// Fragment `config.prejoinConfig.enabled=<bool>` in links; `None` leaves the server default.
    pub prejoin: Option<bool>,
    /// Fragment `userInfo.displayName="<name>"` prefilled in links.
    pub prefill_display_name: bool,
}

impl JitsiSettings {
    /// Self-hosted HS256 settings for tests: `https://meet.example.com/`, app id `meetbot`,
    /// XMPP domain `meet.jitsi`, audience `jitsi`, 2 h lifetime, `nbf` 10 s back, `?jwt=` links.
    #[doc(hidden)]
    pub fn for_tests(secret: &str) -> JitsiSettings {
        JitsiSettings {
            preset: Preset::SelfHosted,
            public_url: Url::parse("https://meet.example.com/").expect("static URL"),
            tenant: None,
            app_id: "meetbot".into(),
            xmpp_domain: "meet.jitsi".into(),
            audience: "jitsi".into(),
            algorithm: Algorithm::Hs256,
            key: SigningKey::Hmac(Secret::new(secret)),
            lifetime: Duration::from_secs(2 * 3600),
            nbf_backdate: Duration::from_secs(10),
            link_style: LinkStyle::Query,
            moderator_claims: ModeratorClaims::All,
            lobby_bypass_for_moderators: false,
            moderator_features: BTreeMap::new(),
            member_features: BTreeMap::new(),
            include_email: false,
            prejoin: None,
            prefill_display_name: false,
        }
    }

    /// JaaS settings for tests: RS256 with `private_pem`, tenant = `app_id`, kid `<app_id>/<key_id>`.
    #[doc(hidden)]
    pub fn for_tests_jaas(private_pem: &str, app_id: &str, key_id: &str) -> JitsiSettings {
        JitsiSettings {
            preset: Preset::Jaas,
            public_url: Url::parse("https://8x8.vc/").expect("static URL"),
            tenant: Some(app_id.into()),
            app_id: app_id.into(),
            algorithm: Algorithm::Rs256,
            key: SigningKey::Rsa {
                private_pem: Secret::new(private_pem),
                kid: format!("{app_id}/{key_id}"),
            },
            moderator_claims: ModeratorClaims::Jaas,
            ..JitsiSettings::for_tests("unused")
        }
    }
}
