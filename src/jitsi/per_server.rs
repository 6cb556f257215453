//! A Discord server's own Jitsi, as the token engine needs it. The operator's settings keep every
//! preference (lifetimes, link style, features, prejoin); the server's setup says where the meeting is and
//! how its tokens are signed.

use super::settings::{Algorithm, JitsiSettings, ModeratorClaims, Preset, SigningKey};
use crate::secret::Secret;
use url::Url;

/// How a server's tokens are signed.
#[derive(Debug, Clone)]
pub enum ServerSigner {
    /// meetbot's own RS256 key for this server, whose public half the key server publishes.
    Asap {
        /// The key id in the token header.
        kid: String,
        /// PEM of the private key (unsealed only while a minter is built).
        private_pem: Secret,
    },
    /// The server's own Prosody `app_secret`.
    Hs256(Secret),
    /// The server's 8x8 JaaS API key.
    Jaas {
        /// The key id from the JaaS console (the part after `<AppID>/`).
        key_id: String,
        /// PEM of the private key the server's admin uploaded.
        private_pem: Secret,
    },
}

/// Where a server meets and how its tokens are made.
#[derive(Debug, Clone)]
pub struct ServerJitsi {
    /// The meeting site without tenant (JaaS: `https://8x8.vc/`).
    pub public_url: Url,
    /// The tenant path segment (JaaS: the AppID).
    pub tenant: Option<String>,
    /// `sub` without a tenant: the site's `hosts.domain`.
    pub xmpp_domain: String,
    /// `iss` (self-hosted: what the site lists in `asap_accepted_issuers`, or its `app_id`).
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// The signing key.
    pub signer: ServerSigner,
}

impl JitsiSettings {
    /// These settings pointed at a server's own Jitsi: site, tenant, `sub`, `iss`, `aud` and key from
    /// `server`, everything else kept.
    pub fn for_server(&self, server: &ServerJitsi) -> JitsiSettings {
        let mut s = self.clone();
        s.public_url = server.public_url.clone();
        s.tenant = server.tenant.clone();
        s.xmpp_domain = server.xmpp_domain.clone();
        s.audience = server.audience.clone();
        match &server.signer {
            ServerSigner::Asap { kid, private_pem } => {
                s.preset = Preset::SelfHosted;
                s.app_id = server.issuer.clone();
                s.algorithm = Algorithm::Rs256;
                s.key = SigningKey::Rsa {
                    private_pem: private_pem.clone(),
                    kid: kid.clone(),
                };
                s.moderator_claims = ModeratorClaims::All;
            }
            ServerSigner::Hs256(secret) => {
                s.preset = Preset::SelfHosted;
                s.app_id = server.issuer.clone();
                s.algorithm = Algorithm::Hs256;
                s.key = SigningKey::Hmac(secret.clone());
                s.moderator_claims = ModeratorClaims::All;
            }
            ServerSigner::Jaas {
                key_id,
                private_pem,
            } => {
                let app = server.tenant.clone().unwrap_or_default();
                s.preset = Preset::Jaas;
                s.app_id = app.clone();
                s.algorithm = Algorithm::Rs256;
                s.key = SigningKey::Rsa {
                    private_pem: private_pem.clone(),
                    kid: format!("{app}/{key_id}"),
                };
                s.moderator_claims = ModeratorClaims::Jaas;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitsi::token::Minter;

    #[test]
    fn hs256_server_keeps_operator_preferences_and_takes_its_own_site_and_claims() {
        let mut operator = JitsiSettings::for_tests("operator-secret-0123456789abcdef");
        operator.lifetime = std::time::Duration::from_secs(1800);
        operator.prejoin = Some(false);
        let server = ServerJitsi {
            public_url: Url::parse("https://meet.acme.example/").unwrap(),
            tenant: None,
            xmpp_domain: "meet.acme.internal".into(),
            issuer: "meetbot-acme".into(),
            audience: "acme".into(),
            signer: ServerSigner::Hs256(Secret::new("acme-secret-0123456789abcdef")),
        };
        let s = operator.for_server(&server);
        assert_eq!(s.lifetime, operator.lifetime);
        assert_eq!(s.prejoin, Some(false));
        let minter = Minter::new(s).unwrap();
        let room = crate::jitsi::Room::from_normalized("standup".into()).unwrap();
        assert_eq!(
            minter.room_url(&room).as_str(),
            "https://meet.acme.example/standup"
        );
        let grant = crate::jitsi::Grant::new(
            room,
            crate::jitsi::Identity {
                id: "1".into(),
                name: "Ana".into(),
                avatar: None,
                email: None,
            },
            false,
            chrono::Utc::now(),
            minter.settings(),
        );
        let claims = minter.claims(&grant);
        assert_eq!(
            (
                claims.iss.as_str(),
                claims.aud.as_str(),
                claims.sub.as_str()
            ),
            ("meetbot-acme", "acme", "meet.acme.internal")
        );
    }

    #[test]
    fn jaas_server_gets_jaas_forms_and_the_app_id_kid() {
        let operator = JitsiSettings::for_tests("operator-secret-0123456789abcdef");
        let server = ServerJitsi {
            public_url: Url::parse("https://8x8.vc/").unwrap(),
            tenant: Some("vpaas-magic-cookie-abc".into()),
            xmpp_domain: String::new(),
            issuer: "chat".into(),
            audience: "jitsi".into(),
            signer: ServerSigner::Jaas {
                key_id: "k1".into(),
                private_pem: Secret::new("pem"),
            },
        };
        let s = operator.for_server(&server);
        assert_eq!(s.preset, Preset::Jaas);
        assert_eq!(s.moderator_claims, ModeratorClaims::Jaas);
        match &s.key {
            SigningKey::Rsa { kid, .. } => assert_eq!(kid, "vpaas-magic-cookie-abc/k1"),
            SigningKey::Hmac(_) => panic!("JaaS signs with RSA"),
        }
    }
}
