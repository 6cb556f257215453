//! Minting: the claims Jitsi reads, signing them, and the personal link that carries the token.

use super::room::{encode_uri_component_into, Room};
use super::settings::{Algorithm, JitsiSettings, LinkStyle, ModeratorClaims, Preset, SigningKey};
use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use url::Url;

/// JaaS AppIDs all start with this.
pub const JAAS_APP_ID_PREFIX: &str = "vpaas-magic-cookie-";

/// Features JaaS expects in every token; each follows the moderator decision unless configured.
pub const JAAS_DEFAULT_FEATURES: [&str; 4] = [
    "livestreaming",
    "recording",
    "transcription",
    "outbound-call",
];

/// Why a token could not be prepared or minted. Never carries key material or a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The key kind does not fit the algorithm.
    #[error("{algorithm} needs {expected}, but the settings hold {found}")]
    KeyMismatch {
        /// Configured algorithm.
        algorithm: &'static str,
        /// Key kind the algorithm needs.
        expected: &'static str,
        /// Key kind configured.
        found: &'static str,
    },
    /// The key could not be read (the reason names the problem, never the key).
    #[error("the signing key is unusable: {0}")]
    InvalidKey(&'static str),
    /// A setting the token depends on is missing or wrong.
    #[error("invalid Jitsi setting: {0}")]
    Setting(String),
    /// A JaaS rule is broken (AppID, kid, algorithm, audience).
    #[error("JaaS: {0}")]
    Jaas(String),
    /// The grant's validity window is empty, so Jitsi would reject the token on arrival.
    #[error("the grant expires ({expires_at}) no later than it becomes valid ({not_before})")]
    EmptyValidity {
        /// `nbf`.
        not_before: DateTime<Utc>,
        /// `exp`.
        expires_at: DateTime<Utc>,
    },
    /// The claims could not be turned into JSON.
    #[error("could not serialise the token claims: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The crypto backend refused to sign.
    #[error("signing the token failed ({0})")]
    Signing(&'static str),
}

/// The person a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable user id (the Discord id, as a string: the web client ignores numbers).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// E-mail, only put in tokens when the settings allow it.
    pub email: Option<String>,
}

/// What one token allows: who, which room, which role, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The backend room.
    pub room: Room,
    /// Who joins.
    pub identity: Identity,
    /// The moderator decision (guests are `false`).
    pub moderator: bool,
    /// `nbf`.
    pub not_before: DateTime<Utc>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

impl Grant {
    /// A grant valid from `now - nbf_backdate` (Jitsi allows no clock skew) to `now + lifetime`.
    pub fn new(
        room: Room,
        identity: Identity,
        moderator: bool,
        now: DateTime<Utc>,
        settings: &JitsiSettings,
    ) -> Grant {
        Grant {
            room,
            identity,
            moderator,
            not_before: shift(now, settings.nbf_backdate, false),
            expires_at: shift(now, settings.lifetime, true),
        }
    }
}

/// `at ± by`, saturating instead of panicking on absurd durations.
fn shift(at: DateTime<Utc>, by: Duration, forward: bool) -> DateTime<Utc> {
    let delta = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
    let moved = if forward {
        at.checked_add_signed(delta)
    } else {
        at.checked_sub_signed(delta)
    };
    moved.unwrap_or(if forward {
        DateTime::<Utc>::MAX_UTC
    } else {
        DateTime::<Utc>::MIN_UTC
    })
}

/// A claim value that is a boolean in self-hosted forms and a "true"/"false" string for JaaS.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum Flag {
    /// JSON `true`/`false`.
    Bool(bool),
    /// JSON `"true"`/`"false"` (JaaS).
    Text(String),
}

impl Flag {
    fn new(value: bool, as_text: bool) -> Flag {
        if as_text {
            Flag::Text(value.to_string())
        } else {
            Flag::Bool(value)
        }
    }
}

/// The token payload.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Claims {
    /// Audience.
    pub aud: String,
    /// Issuer: the app id (JaaS: "chat").
    pub iss: String,
    /// XMPP domain, or the tenant when there is one.
    pub sub: String,
    /// Exact backend room name.
    pub room: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before (unix seconds).
    pub nbf: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Top-level boolean read by the community token-moderation plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator: Option<bool>,
    /// `context`.
    pub context: ClaimsContext,
}

/// `context`: stored on the session by Prosody, read by the modules.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ClaimsContext {
    /// `context.user`.
    pub user: UserClaims,
    /// `context.features`; absent means "follow moderator status".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<BTreeMap<String, Flag>>,
}

/// `context.user`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UserClaims {
    /// User id, always a string.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// E-mail (only with `include_email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Boolean (mod_token_affiliation) or "true"/"false" (JaaS).
    pub moderator: Flag,
    /// "owner"/"member" for mod_token_affiliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<String>,
    /// `true` lets the contrib token_lobby_bypass module skip the lobby.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lobby_bypass: Option<bool>,
}

/// A personal meeting link. It carries a token, so it prints masked.
#[derive(Clone, PartialEq, Eq)]
pub struct Link(Secret);

impl Link {
    /// The URL itself; hand it only to its owner.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Link(***)")
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A signed token with what it says and the link that carries it.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The compact JWT.
    pub token: Secret,
    /// Its payload.
    pub claims: Claims,
    /// The personal meeting link.
    pub link: Link,
}

/// The prepared signing key.
#[derive(Clone)]
enum Signer {
    /// HMAC state already keyed with the secret: each token costs only its own bytes.
    Hs256(Hmac<Sha256>),
    /// RSA key for jsonwebtoken's RS256 signer.
    Rs256(EncodingKey),
}

/// Signs tokens; the key, header and link base are prepared once.
#[derive(Clone)]
pub struct Minter {
    settings: JitsiSettings,
    signer: Signer,
    /// base64url of the header JSON: the same for every token.
    encoded_header: String,
    /// `https://host/[prefix/][tenant/]`, to which a room name is appended.
    base: String,
    /// Fragment settings that are the same in every link (`config.prejoinConfig.enabled=…`).
    fragment_settings: String,
    iss: String,
    sub: String,
    jaas_forms: bool,
}

// The bot shares one minter across tasks.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Minter>();
};

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("settings", &self.settings)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Name of an algorithm as it appears in a JWT header.
pub(crate) fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Hs256 => "HS256",
        Algorithm::Rs256 => "RS256",
    }
}

/// The `iss` the settings call for.
pub(crate) fn issuer(settings: &JitsiSettings) -> String {
    match settings.preset {
        Preset::Jaas => "chat".to_owned(),
        Preset::SelfHosted => settings.app_id.clone(),
    }
}

/// The `sub` the settings call for: the tenant when set, else the XMPP domain.
pub(crate) fn subject(settings: &JitsiSettings) -> String {
    settings
        .tenant
        .clone()
        .unwrap_or_else(|| settings.xmpp_domain.clone())
}

impl Minter {
    /// Checks the settings and prepares the signing key.
    pub fn new(settings: JitsiSettings) -> Result<Minter, TokenError> {
        let name = algorithm_name(settings.algorithm);
        let (signer, algorithm, kid) = match (&settings.algorithm, &settings.key) {
            (Algorithm::Hs256, SigningKey::Hmac(secret)) => {
                if secret.is_empty() {
                    return Err(TokenError::InvalidKey("the HS256 secret is empty"));
                }
                let mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                    .map_err(|_| TokenError::InvalidKey("HMAC refused the secret"))?;
                (Signer::Hs256(mac), jsonwebtoken::Algorithm::HS256, None)
            }
            (Algorithm::Rs256, SigningKey::Rsa { private_pem, kid }) => {
                if kid.trim().is_empty() {
                    return Err(TokenError::Setting(
                        "RS256 needs a key id (JWT_KID): the server finds the public key by it"
                            .into(),
                    ));
                }
                let key = EncodingKey::from_rsa_pem(private_pem.expose().as_bytes())
                    .map_err(|_| TokenError::InvalidKey("not a PEM-encoded RSA private key"))?;
                // Sign once now so a key the backend rejects fails at start, not at the first mint.
                jsonwebtoken::crypto::sign(b"probe", &key, jsonwebtoken::Algorithm::RS256)
                    .map_err(|_| TokenError::InvalidKey("the RSA backend refused the key"))?;
                (
                    Signer::Rs256(key),
                    jsonwebtoken::Algorithm::RS256,
                    Some(kid.clone()),
                )
            }
            (Algorithm::Hs256, SigningKey::Rsa { .. }) => {
                return Err(TokenError::KeyMismatch {
                    algorithm: name,
                    expected: "a shared secret",
                    found: "an RSA private key",
                })
            }
            (Algorithm::Rs256, SigningKey::Hmac(_)) => {
                return Err(TokenError::KeyMismatch {
                    algorithm: name,
                    expected: "an RSA private key",
                    found: "a shared secret",
                })
            }
        };
        check_settings(&settings, kid.as_deref())?;

        let mut header = Header::new(algorithm);
        header.kid = kid;
        let encoded_header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);

        Ok(Minter {
            signer,
            encoded_header,
            base: link_base(&settings)?,
            fragment_settings: settings
                .prejoin
                .map(|on| format!("config.prejoinConfig.enabled={on}"))
                .unwrap_or_default(),
            iss: issuer(&settings),
            sub: subject(&settings),
            jaas_forms: settings.preset == Preset::Jaas
                || settings.moderator_claims == ModeratorClaims::Jaas,
            settings,
        })
    }

    /// The settings this minter was built from.
    pub fn settings(&self) -> &JitsiSettings {
        &self.settings
    }

    /// The payload for `grant`, exactly as [`Minter::mint`] signs it.
    pub fn claims(&self, grant: &Grant) -> Claims {
        let s = &self.settings;
        let moderator = grant.moderator;
        let user = UserClaims {
            id: grant.identity.id.clone(),
            name: grant.identity.name.clone(),
            avatar: grant.identity.avatar.clone(),
            email: if s.include_email {
                grant.identity.email.clone()
            } else {
                None
            },
            moderator: Flag::new(moderator, self.jaas_forms),
            affiliation: (!self.jaas_forms)
                .then(|| if moderator { "owner" } else { "member" }.to_owned()),
            lobby_bypass: (moderator && s.lobby_bypass_for_moderators).then_some(true),
        };
        let configured = if moderator {
            &s.moderator_features
        } else {
            &s.member_features
        };
        let features = if self.jaas_forms {
            let mut all: BTreeMap<String, Flag> = JAAS_DEFAULT_FEATURES
                .iter()
                .map(|f| ((*f).to_owned(), Flag::new(moderator, true)))
                .collect();
            for (name, on) in configured {
                all.insert(name.clone(), Flag::new(*on, true));
            }
            Some(all)
        } else if configured.is_empty() {
            None
        } else {
            Some(
                configured
                    .iter()
                    .map(|(name, on)| (name.clone(), Flag::Bool(*on)))
                    .collect(),
            )
        };
        let nbf = grant.not_before.timestamp();
        let exp = grant.expires_at.timestamp();
        let backdate = i64::try_from(s.nbf_backdate.as_secs()).unwrap_or(i64::MAX);
        Claims {
            aud: s.audience.clone(),
            iss: self.iss.clone(),
            sub: self.sub.clone(),
            room: grant.room.as_str().to_owned(),
            // The grant keeps only nbf, which is back-dated from the moment of issue.
            iat: nbf.saturating_add(backdate).min(exp),
            nbf,
            exp,
            moderator: (!self.jaas_forms).then_some(moderator),
            context: ClaimsContext { user, features },
        }
    }

    /// Signs a token for `grant` and builds its link.
    pub fn mint(&self, grant: &Grant) -> Result<MintedToken, TokenError> {
        if grant.expires_at.timestamp() <= grant.not_before.timestamp() {
            return Err(TokenError::EmptyValidity {
                not_before: grant.not_before,
                expires_at: grant.expires_at,
            });
        }
        let claims = self.claims(grant);
        // Sized for a typical payload so serialisation does not reallocate as it grows.
        let mut payload = Vec::with_capacity(512);
        serde_json::to_writer(&mut payload, &claims)?;
        let mut token =
            String::with_capacity(self.encoded_header.len() + payload.len() * 4 / 3 + 360);
        token.push_str(&self.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        match &self.signer {
            Signer::Hs256(keyed) => {
                let mut mac = keyed.clone();
                mac.update(token.as_bytes());
                let signature = mac.finalize().into_bytes();
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature, &mut token);
            }
            Signer::Rs256(key) => {
                let signature = jsonwebtoken::crypto::sign(
                    token.as_bytes(),
                    key,
                    jsonwebtoken::Algorithm::RS256,
                )
                .map_err(|_| TokenError::Signing("the RSA key was refused"))?;
                token.push('.');
                token.push_str(&signature);
            }
        }
        let token = Secret::new(token);
        let link = self.link(&grant.room, &token, Some(&grant.identity.name));
        Ok(MintedToken {
            token,
            claims,
            link,
        })
    }

    /// The meeting's address without a token: public URL + tenant + room.
    pub fn room_url(&self, room: &Room) -> Url {
        Url::parse(&format!("{}{}", self.base, room.as_str()))
            .expect("a normalised room name appended to a valid base is a valid URL")
    }

    /// The personal link: room URL, the token by [`LinkStyle`], and the configured fragment settings.
    pub fn link(&self, room: &Room, token: &Secret, display_name: Option<&str>) -> Link {
        let s = &self.settings;
        let name = display_name.filter(|_| s.prefill_display_name);
        let mut url = String::with_capacity(
            self.base.len()
                + room.as_str().len()
                + token.len()
                + self.fragment_settings.len()
                + name.map_or(0, |n| 40 + n.len() * 3),
        );
        url.push_str(&self.base);
        url.push_str(room.as_str());
        url.push_str(match s.link_style {
            LinkStyle::Query => "?jwt=",
            LinkStyle::Fragment => "#jwt=",
        });
        url.push_str(token.expose());
        let mut in_fragment = s.link_style == LinkStyle::Fragment;
        if !self.fragment_settings.is_empty() {
            url.push(if in_fragment { '&' } else { '#' });
            url.push_str(&self.fragment_settings);
            in_fragment = true;
        }
        // The web client JSON-parses fragment values, so the name goes in as a JSON string.
        if let Some(json) = name.and_then(|n| serde_json::to_string(n).ok()) {
            url.push(if in_fragment { '&' } else { '#' });
            url.push_str("userInfo.displayName=");
            encode_uri_component_into(&json, &mut url);
        }
        Link(Secret::new(url))
    }
}

/// Rules the token's claims depend on, beyond the key.
fn check_settings(s: &JitsiSettings, kid: Option<&str>) -> Result<(), TokenError> {
    if !matches!(s.public_url.scheme(), "https" | "http") || s.public_url.host().is_none() {
        return Err(TokenError::Setting(format!(
            "the public URL `{}` is not an http(s) address with a host",
            s.public_url
        )));
    }
    if s.audience.trim().is_empty() {
        return Err(TokenError::Setting(
            "the audience is empty; Jitsi requires `aud`".into(),
        ));
    }
    if s.tenant
        .as_deref()
        .is_some_and(|t| t.is_empty() || t.contains('/'))
    {
        return Err(TokenError::Setting(
            "the tenant must be one non-empty path segment".into(),
        ));
    }
    match s.preset {
        Preset::SelfHosted => {
            if s.app_id.trim().is_empty() {
                return Err(TokenError::Setting(
                    "the app id (JWT_APP_ID) is empty; Jitsi requires `iss`".into(),
                ));
            }
            if s.tenant.is_none() && s.xmpp_domain.trim().is_empty() {
                return Err(TokenError::Setting(
                    "the XMPP domain is empty; Jitsi requires `sub`".into(),
                ));
            }
        }
        Preset::Jaas => {
            let app = s.tenant.as_deref().ok_or_else(|| {
                TokenError::Jaas("the tenant must be the AppID (vpaas-magic-cookie-…)".into())
            })?;
            if !app.starts_with(JAAS_APP_ID_PREFIX) || app.len() == JAAS_APP_ID_PREFIX.len() {
                return Err(TokenError::Jaas(format!(
                    "the AppID `{app}` does not start with `{JAAS_APP_ID_PREFIX}`"
                )));
            }
            if s.algorithm != Algorithm::Rs256 {
                return Err(TokenError::Jaas("tokens must be signed with RS256".into()));
            }
            let kid = kid.unwrap_or_default();
            match kid
                .strip_prefix(app)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                Some(key_id) if !key_id.is_empty() => {}
                _ => {
                    return Err(TokenError::Jaas(format!(
                        "the key id `{kid}` must be `{app}/<key id>`"
                    )))
                }
            }
            if s.audience != "jitsi" {
                return Err(TokenError::Jaas(format!(
                    "the audience must be \"jitsi\", not \"{}\"",
                    s.audience
                )));
            }
        }
    }
    Ok(())
}

/// `https://host/[prefix/][tenant/]` as a string, so each link is one concatenation.
fn link_base(s: &JitsiSettings) -> Result<String, TokenError> {
    let mut url = s.public_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    if let Some(tenant) = &s.tenant {
        path.push_str(tenant);
        path.push('/');
    }
    url.set_path(&path);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    fn ana() -> Identity {
        Identity {
            id: "123456789012345678".into(),
            name: "Ana \"Dev\" Lee".into(),
            avatar: None,
            email: Some("ana@example.com".into()),
        }
    }

    fn grant(settings: &JitsiSettings, moderator: bool) -> Grant {
        let room = Room::from_normalized("weekly-sync".into()).unwrap();
        Grant::new(room, ana(), moderator, now(), settings)
    }

    fn claims_json(settings: JitsiSettings, moderator: bool) -> serde_json::Value {
        let minter = Minter::new(settings.clone()).unwrap();
        serde_json::to_value(minter.claims(&grant(&settings, moderator))).unwrap()
    }

    #[test]
    fn grant_backdates_nbf_and_sets_expiry_from_lifetime() {
        let s = JitsiSettings::for_tests("k");
        let g = grant(&s, false);
        assert_eq!(g.not_before, now() - TimeDelta::seconds(10));
        assert_eq!(g.expires_at, now() + TimeDelta::hours(2));
    }

    #[test]
    fn self_hosted_claims_carry_every_moderator_form() {
        let c = claims_json(JitsiSettings::for_tests("k"), true);
        assert_eq!(c["moderator"], serde_json::json!(true));
        assert_eq!(c["context"]["user"]["moderator"], serde_json::json!(true));
        assert_eq!(c["context"]["user"]["affiliation"], "owner");
        assert_eq!(c["iss"], "meetbot");
        assert_eq!(c["sub"], "meet.jitsi");
        assert_eq!(c["aud"], "jitsi");
        assert_eq!(c["room"], "weekly-sync");
        assert_eq!(c["iat"], now().timestamp());
        assert_eq!(c["nbf"], now().timestamp() - 10);
        assert_eq!(c["exp"], now().timestamp() + 7200);
        assert_eq!(c["context"]["user"]["id"], "123456789012345678");

        let m = claims_json(JitsiSettings::for_tests("k"), false);
        assert_eq!(m["moderator"], serde_json::json!(false));
        assert_eq!(m["context"]["user"]["moderator"], serde_json::json!(false));
        assert_eq!(m["context"]["user"]["affiliation"], "member");
    }

    #[test]
    fn avatar_is_omitted_when_absent_and_present_when_known() {
        let c = claims_json(JitsiSettings::for_tests("k"), false);
        assert!(c["context"]["user"].get("avatar").is_none());
        let s = JitsiSettings::for_tests("k");
        let minter = Minter::new(s.clone()).unwrap();
        let mut g = grant(&s, false);
        g.identity.avatar = Some("https://cdn.example/a.png".into());
        assert_eq!(
            minter.claims(&g).context.user.avatar.as_deref(),
            Some("https://cdn.example/a.png")
        );
    }

    #[test]
    fn email_is_included_only_when_enabled() {
        let c = claims_json(JitsiSettings::for_tests("k"), false);
        assert!(c["context"]["user"].get("email").is_none());
        let mut s = JitsiSettings::for_tests("k");
        s.include_email = true;
        let c = claims_json(s, false);
        assert_eq!(c["context"]["user"]["email"], "ana@example.com");
    }

    #[test]
    fn lobby_bypass_is_a_boolean_for_moderators_only_when_enabled() {
        let mut s = JitsiSettings::for_tests("k");
        assert!(claims_json(s.clone(), true)["context"]["user"]
            .get("lobby_bypass")
            .is_none());
        s.lobby_bypass_for_moderators = true;
        assert_eq!(
            claims_json(s.clone(), true)["context"]["user"]["lobby_bypass"],
            serde_json::json!(true)
        );
        assert!(claims_json(s, false)["context"]["user"]
            .get("lobby_bypass")
            .is_none());
    }

    #[test]
    fn features_follow_the_role_and_are_omitted_when_unconfigured() {
        let mut s = JitsiSettings::for_tests("k");
        assert!(claims_json(s.clone(), true)["context"]
            .get("features")
            .is_none());
        s.moderator_features.insert("recording".into(), true);
        s.member_features.insert("recording".into(), false);
        assert_eq!(
            claims_json(s.clone(), true)["context"]["features"],
            serde_json::json!({"recording": true})
        );
        assert_eq!(
            claims_json(s.clone(), false)["context"]["features"],
            serde_json::json!({"recording": false})
        );
        s.member_features.clear();
        assert!(claims_json(s, false)["context"].get("features").is_none());
    }

    #[test]
    fn jaas_forms_use_strings_and_always_carry_features() {
        let mut s = JitsiSettings::for_tests("k");
        s.moderator_claims = ModeratorClaims::Jaas;
        let c = claims_json(s.clone(), true);
        assert!(c.get("moderator").is_none());
        assert_eq!(c["context"]["user"]["moderator"], "true");
        assert!(c["context"]["user"].get("affiliation").is_none());
        assert_eq!(
            c["context"]["features"],
            serde_json::json!({"livestreaming": "true", "recording": "true",
                               "transcription": "true", "outbound-call": "true"})
        );
        s.member_features.insert("recording".into(), true);
        let m = claims_json(s, false);
        assert_eq!(m["context"]["user"]["moderator"], "false");
        assert_eq!(
            m["context"]["features"],
            serde_json::json!({"livestreaming": "false", "recording": "true",
                               "transcription": "false", "outbound-call": "false"})
        );
    }

    #[test]
    fn tenant_becomes_sub_and_part_of_the_room_url() {
        let mut s = JitsiSettings::for_tests("k");
        s.tenant = Some("acme".into());
        let minter = Minter::new(s.clone()).unwrap();
        assert_eq!(minter.claims(&grant(&s, false)).sub, "acme");
        let room = Room::from_user_input("Café Meeting").unwrap();
        assert_eq!(
            minter.room_url(&room).as_str(),
            "https://meet.example.com/acme/caf%c3%a9%20meeting"
        );
    }

    #[test]
    fn room_url_keeps_a_path_prefix_of_the_public_url() {
        let mut s = JitsiSettings::for_tests("k");
        s.public_url = Url::parse("https://example.com/jitsi").unwrap();
        let minter = Minter::new(s).unwrap();
        let room = Room::from_normalized("team".into()).unwrap();
        assert_eq!(
            minter.room_url(&room).as_str(),
            "https://example.com/jitsi/team"
        );
    }

    #[test]
    fn query_link_puts_extra_settings_after_a_fragment_mark() {
        let mut s = JitsiSettings::for_tests("k");
        s.prejoin = Some(false);
        s.prefill_display_name = true;
        let minter = Minter::new(s).unwrap();
        let room = Room::from_normalized("team".into()).unwrap();
        let link = minter.link(&room, &Secret::new("a.b.c"), Some("Ana Lee"));
        assert_eq!(
            link.expose(),
            "https://meet.example.com/team?jwt=a.b.c#config.prejoinConfig.enabled=false&userInfo.displayName=%22Ana%20Lee%22"
        );
    }

    #[test]
    fn fragment_link_appends_extra_settings_with_ampersands() {
        let mut s = JitsiSettings::for_tests("k");
        s.link_style = LinkStyle::Fragment;
        s.prejoin = Some(true);
        s.prefill_display_name = true;
        let minter = Minter::new(s).unwrap();
        let room = Room::from_normalized("team".into()).unwrap();
        let link = minter.link(&room, &Secret::new("a.b.c"), Some("Zoë"));
        assert_eq!(
            link.expose(),
            "https://meet.example.com/team#jwt=a.b.c&config.prejoinConfig.enabled=true&userInfo.displayName=%22Zo%C3%AB%22"
        );
        let plain = minter.link(&room, &Secret::new("a.b.c"), None);
        assert_eq!(
            plain.expose(),
            "https://meet.example.com/team#jwt=a.b.c&config.prejoinConfig.enabled=true"
        );
    }

    #[test]
    fn display_name_is_left_out_unless_prefill_is_on() {
        let minter = Minter::new(JitsiSettings::for_tests("k")).unwrap();
        let room = Room::from_normalized("team".into()).unwrap();
        let link = minter.link(&room, &Secret::new("t"), Some("Ana"));
        assert_eq!(link.expose(), "https://meet.example.com/team?jwt=t");
    }

    #[test]
    fn minted_token_and_link_print_masked() {
        let s = JitsiSettings::for_tests("super-secret-key");
        let minted = Minter::new(s.clone())
            .unwrap()
            .mint(&grant(&s, true))
            .unwrap();
        let token = minted.token.expose().to_owned();
        assert_eq!(token.split('.').count(), 3);
        assert!(minted.link.expose().contains(&token));
        let printed = format!("{minted:?} {} {:?}", minted.link, minted.link);
        assert!(!printed.contains(&token[..20]));
        assert!(!printed.contains("super-secret-key"));
    }

    #[test]
    fn grant_that_expires_before_it_starts_is_not_minted() {
        let s = JitsiSettings::for_tests("k");
        let mut g = grant(&s, false);
        g.expires_at = g.not_before;
        assert!(matches!(
            Minter::new(s).unwrap().mint(&g),
            Err(TokenError::EmptyValidity { .. })
        ));
    }

    #[test]
    fn key_and_algorithm_must_match() {
        let mut s = JitsiSettings::for_tests("k");
        s.algorithm = Algorithm::Rs256;
        assert!(matches!(
            Minter::new(s),
            Err(TokenError::KeyMismatch { .. })
        ));
        assert!(matches!(
            Minter::new(JitsiSettings::for_tests("")),
            Err(TokenError::InvalidKey(_))
        ));
    }

    #[test]
    fn bad_rsa_key_is_refused_without_echoing_it() {
        let mut s = JitsiSettings::for_tests("k");
        s.algorithm = Algorithm::Rs256;
        s.key = SigningKey::Rsa {
            private_pem: Secret::new(
                "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n-----END RSA PRIVATE KEY-----",
            ),
            kid: "k1".into(),
        };
        let err = Minter::new(s).unwrap_err();
        assert!(matches!(err, TokenError::InvalidKey(_)));
        assert!(!err.to_string().contains("c2VjcmV0"));
    }

    #[test]
    fn self_hosted_settings_need_issuer_audience_and_subject() {
        let mut s = JitsiSettings::for_tests("k");
        s.app_id.clear();
        assert!(matches!(Minter::new(s), Err(TokenError::Setting(_))));
        let mut s = JitsiSettings::for_tests("k");
        s.audience.clear();
        assert!(matches!(Minter::new(s), Err(TokenError::Setting(_))));
        let mut s = JitsiSettings::for_tests("k");
        s.xmpp_domain.clear();
        assert!(matches!(Minter::new(s), Err(TokenError::Setting(_))));
    }
}
