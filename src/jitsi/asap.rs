//! Judging a token as a Prosody that trusts keys it does not hold (`asap_key_server`) would: kid →
//! SHA-256 hex → `GET <asap_key_server>/<hex>.pem` → signature → `iss` in `asap_accepted_issuers` →
//! `aud` in `asap_accepted_audiences`, then the claim checks of [`verify`](super::verify::verify).
//! the README (One meetbot for many servers) names the Jitsi code behind each step.

use super::keys::key_url;
use super::settings::Algorithm;
// Details are cut like verify's own: they quote the key server's URL and the token's kid as typed.
use super::verify::{fail, ok as pass, verify, Check, Expectations, Verdict, VerifyKey};
use crate::fetch::SafeFetcher;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// What a Prosody VirtualHost with `asap_key_server` is configured to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyServerTrust {
    /// `asap_key_server`, exactly as configured (a trailing slash matters: Prosody does not trim it).
    pub asap_key_server: String,
    /// `asap_accepted_issuers`; `"*"` accepts any. Prosody's default is `{ app_id }`.
    pub accepted_issuers: Vec<String>,
    /// `asap_accepted_audiences`; `"*"` accepts any. Prosody's default is `{ "*" }`.
    pub accepted_audiences: Vec<String>,
    /// The expected `sub` with domain verification on; `None` = off.
    pub sub: Option<String>,
    /// The room being joined, as typed; `None` skips the comparison.
    pub room: Option<String>,
    /// Whether a `"*"` room claim is acceptable.
    pub allow_wildcard_room: bool,
}

impl KeyServerTrust {
    /// What Prosody accepts with only `app_id` and `asap_key_server` set: issuer `app_id`, any audience.
    pub fn prosody_defaults(asap_key_server: &str, app_id: &str) -> KeyServerTrust {
        KeyServerTrust {
            asap_key_server: asap_key_server.to_owned(),
            accepted_issuers: vec![app_id.to_owned()],
            accepted_audiences: vec!["*".to_owned()],
            sub: None,
            room: None,
            allow_wildcard_room: false,
        }
    }
}

fn rejected(checks: Vec<Check>) -> Verdict {
    Verdict {
        checks,
        claims: None,
        moderator: Vec::new(),
        lobby_bypass: "no token".into(),
    }
}

/// The kid and alg of the token's header, or the check that fails as Prosody would fail it.
fn header_kid(token: &str) -> Result<String, Check> {
    let first = token.split('.').next().unwrap_or_default();
    let header: Option<serde_json::Map<String, Value>> = URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(header) = header else {
        return Err(fail(
            "kid",
            "the header is not base64url JSON (bad token format)",
        ));
    };
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        Some(other) if !other.is_null() => {
            return Err(fail("kid", format!("{other} is not a string")));
        }
        _ => return Err(fail("kid", "missing ('kid' claim is missing)")),
    };
    match header.get("alg").and_then(Value::as_str) {
        None => Err(fail("kid", "no alg ('alg' claim is missing)")),
        Some(alg) if !alg.starts_with("RS") => Err(fail(
            "kid",
            format!("alg {alg}: 'kid' claim only support with RS family"),
        )),
        Some(_) => Ok(kid),
    }
}

/// Fetches the PEM for `kid` as Prosody does: only a 200 or 204 counts, the body is the key.
async fn fetch_key(
    trust: &KeyServerTrust,
    kid: &str,
    fetcher: &SafeFetcher,
) -> Result<String, Check> {
    let url = key_url(&trust.asap_key_server, kid);
    match fetcher.get(&url).await {
        Ok(r) if r.status == 200 || r.status == 204 => match String::from_utf8(r.body) {
            Ok(pem) => Ok(pem),
            Err(_) => Err(fail(
                "key",
                format!("{url} served something that is not text"),
            )),
        },
        Ok(r) => Err(fail(
            "key",
            format!(
                "{url} answered HTTP {} (could not obtain public key)",
                r.status
            ),
        )),
        Err(e) => Err(fail("key", format!("{e} (could not obtain public key)"))),
    }
}

/// `aud` against a list, as `luajwtjitsi`'s `verify_claim` does: `"*"` or an exact, case-sensitive match.
fn check_audiences(claims: Option<&Value>, accepted: &[String]) -> Check {
    let aud = claims.and_then(|c| c.get("aud"));
    let any = accepted.iter().any(|a| a == "*");
    match aud {
        None => fail("aud", "missing ('aud' claim is missing)"),
        Some(v) if any => pass("aud", format!("{v} (any audience accepted)")),
        Some(Value::String(a)) if accepted.contains(a) => pass("aud", a.clone()),
        Some(other) => fail(
            "aud",
            format!(
                "{other} is not an accepted audience ({})",
                accepted.join(", ")
            ),
        ),
    }
}

/// Judges `token` as a Prosody configured per `trust` would at `now`, fetching the key through `fetcher`.
pub async fn verify_via_key_server(
    token: &str,
    trust: &KeyServerTrust,
    fetcher: &SafeFetcher,
    now: DateTime<Utc>,
) -> Verdict {
    let token = token.trim();
    let kid = match header_kid(token) {
        Ok(kid) => kid,
        Err(check) => return rejected(vec![check]),
    };
    let kid_check = pass("kid", format!("{kid} (RS family)"));
    let (key_check, pem) = match fetch_key(trust, &kid, fetcher).await {
        Ok(pem) => (
            pass(
                "key",
                format!(
                    "{} served the public key",
                    key_url(&trust.asap_key_server, &kid)
                ),
            ),
            Some(pem),
        ),
        Err(check) => (check, None),
    };
    let issuers = if trust.accepted_issuers.iter().any(|i| i == "*") {
        Vec::new()
    } else {
        trust.accepted_issuers.clone()
    };
    let expect = Expectations {
        // signature_algorithm defaults to RS256 when a key server is configured.
        algorithm: Algorithm::Rs256,
        key: VerifyKey::RsaPublicPem(pem.clone().unwrap_or_default()),
        audience: None,
        issuers,
        sub: trust.sub.clone(),
        room: trust.room.clone(),
        allow_wildcard_room: trust.allow_wildcard_room,
    };
    let mut verdict = verify(token, &expect, now);
    let audiences = check_audiences(verdict.claims.as_ref(), &trust.accepted_audiences);
    for check in &mut verdict.checks {
        match check.name {
            "aud" => *check = audiences.clone(),
            "signature" if pem.is_none() => {
                *check = fail("signature", "not checked: no public key");
            }
            _ => {}
        }
    }
    verdict.checks.splice(0..0, [kid_check, key_check]);
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_without_kid_or_with_hmac_is_refused_before_any_fetch() {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let no_kid = format!(
            "{}.e30.sig",
            enc(serde_json::json!({"alg":"RS256","typ":"JWT"}))
        );
        assert!(header_kid(&no_kid)
            .unwrap_err()
            .detail
            .contains("'kid' claim is missing"));
        let hs = format!(
            "{}.e30.sig",
            enc(serde_json::json!({"alg":"HS256","typ":"JWT","kid":"k"}))
        );
        assert!(header_kid(&hs).unwrap_err().detail.contains("RS family"));
        assert!(header_kid("!!.e30.sig").is_err());
        let ok = format!(
            "{}.e30.sig",
            enc(serde_json::json!({"alg":"RS256","typ":"JWT","kid":"meetbot/1/1-a"}))
        );
        assert_eq!(header_kid(&ok).unwrap(), "meetbot/1/1-a");
    }

    #[test]
    fn audience_lists_accept_star_or_exact_strings_only() {
        let claims = serde_json::json!({"aud": "jitsi"});
        assert!(check_audiences(Some(&claims), &["*".into()]).passed);
        assert!(check_audiences(Some(&claims), &["a".into(), "jitsi".into()]).passed);
        assert!(!check_audiences(Some(&claims), &["Jitsi".into()]).passed);
        let list = serde_json::json!({"aud": ["jitsi"]});
        assert!(!check_audiences(Some(&list), &["jitsi".into()]).passed);
        assert!(!check_audiences(Some(&serde_json::json!({})), &["*".into()]).passed);
    }
}
