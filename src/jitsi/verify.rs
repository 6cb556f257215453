//! Judging a token as Jitsi's Prosody would, strictly (no clock leeway), one check at a time,
//! so an operator sees every reason a token fails rather than the first.

use super::room::normalize_room_name;
use super::settings::{Algorithm, JitsiSettings, SigningKey};
use super::token::{algorithm_name, issuer, subject, TokenError};
use crate::secret::Secret;
use crate::text::clip;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::Value;
use std::fmt::Write as _;

/// The key a server checks signatures with.
#[derive(Debug, Clone)]
pub enum VerifyKey {
    /// The shared `app_secret` (HS256).
    Hmac(Secret),
    /// The PEM public key the server fetches by `kid` (RS256).
    RsaPublicPem(String),
}

/// What the server is configured to accept.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The server's algorithm.
    pub algorithm: Algorithm,
    /// The server's key.
    pub key: VerifyKey,
    /// `asap_accepted_audiences`; `None` accepts any value (Jitsi's default), but `aud` must still exist.
    pub audience: Option<String>,
    /// `asap_accepted_issuers` (default: just the app id); empty accepts any.
    pub issuers: Vec<String>,
    /// The expected `sub` with domain verification on; `None` = verification off.
    pub sub: Option<String>,
    /// The room being joined, as the user would type it; `None` skips the room comparison.
    pub room: Option<String>,
    /// Whether a `"*"` room claim is acceptable.
    pub allow_wildcard_room: bool,
}

impl Expectations {
    /// Strict expectations matching what a [`Minter`](super::token::Minter) with `settings` signs.
    pub fn from_settings(
        settings: &JitsiSettings,
        room: Option<&str>,
    ) -> Result<Expectations, TokenError> {
        let key = match &settings.key {
            SigningKey::Hmac(secret) => VerifyKey::Hmac(secret.clone()),
            SigningKey::Rsa { private_pem, .. } => {
                VerifyKey::RsaPublicPem(public_pem_from_private(private_pem)?)
            }
        };
        Ok(Expectations {
            algorithm: settings.algorithm,
            key,
            audience: Some(settings.audience.clone()),
            issuers: vec![issuer(settings)],
            sub: Some(subject(settings)),
            room: room.map(str::to_owned),
            allow_wildcard_room: false,
        })
    }
}

/// The public half of a PKCS#1 or PKCS#8 RSA private key, as SPKI PEM.
fn public_pem_from_private(private_pem: &Secret) -> Result<String, TokenError> {
    let pem = private_pem.expose();
    let key = RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|_| TokenError::InvalidKey("not a PEM-encoded RSA private key"))?;
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| TokenError::InvalidKey("could not encode the RSA public key"))
}

/// One rule and how the token fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short rule name: typ, alg, signature, aud, iss, sub, room, nbf, exp (or format).
    pub name: &'static str,
    /// Whether the token passes it.
    pub passed: bool,
    /// What was found, in words (never the token or signature).
    pub detail: String,
}

/// Every check, the decoded payload, and how each moderator/lobby module would read it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The checks, in Prosody's order.
    pub checks: Vec<Check>,
    /// The payload, when it could be decoded.
    pub claims: Option<Value>,
    /// (module, decision) for each way a server picks moderators.
    pub moderator: Vec<(String, String)>,
    /// What the contrib token_lobby_bypass module would do.
    pub lobby_bypass: String,
}

impl Verdict {
    /// What the moderator mechanism named `module` (as listed in [`Verdict::moderator`]) decides.
    pub fn moderator_by(&self, module: &str) -> Option<&str> {
        self.moderator
            .iter()
            .find(|(m, _)| m == module)
            .map(|(_, d)| d.as_str())
    }

    /// Whether Prosody would let this token in.
    pub fn accepted(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// One line per check, then the moderator and lobby decisions; never the token itself.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = if c.passed { "ok" } else { "FAIL" };
            let _ = writeln!(out, "{mark:<4} {:<4} {}", c.name, c.detail);
        }
        if !self.moderator.is_empty() {
            out.push_str("moderator, by server setup:\n");
            for (module, decision) in &self.moderator {
                let _ = writeln!(out, "  {module}: {decision}");
            }
            let _ = writeln!(out, "lobby: {}", self.lobby_bypass);
        }
        let failed = self.checks.iter().filter(|c| !c.passed).count();
        if self.accepted() {
            out.push_str("verdict: accepted\n");
        } else {
            let _ = writeln!(out, "verdict: rejected ({failed} failed)");
        }
        out
    }
}

/// How much of a claim's value a detail quotes: a token's claims are whatever its author wrote.
const QUOTE_CHARS: usize = 60;

/// The longest detail line; the quoted values are clipped first, this only backs them up.
const DETAIL_CHARS: usize = 300;

/// `detail` in at most [`DETAIL_CHARS`] characters, its `…` included.
fn detail_line(detail: &str) -> String {
    clip(detail, DETAIL_CHARS - 1)
}

/// A claim value as a detail quotes it (JSON, clipped).
fn show(value: &Value) -> String {
    clip(&value.to_string(), QUOTE_CHARS)
}

/// A string claim (or expectation) as a detail quotes it.
fn show_str(s: &str) -> String {
    clip(s, QUOTE_CHARS)
}

/// A passed check; shared with the key-server judge ([`super::asap`]), whose details quote what the operator typed.
pub(crate) fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    let detail = detail.into();
    Check {
        name,
        passed: true,
        // An empty claim can pass (an empty room against an empty --room): say so rather than nothing.
        detail: if detail.is_empty() {
            "\"\" (empty)".to_owned()
        } else {
            detail_line(&detail)
        },
    }
}

/// A failed check (see [`ok`]).
pub(crate) fn fail(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        passed: false,
        detail: detail_line(&detail.into()),
    }
}

/// A decoded JSON object from one base64url part, or why not.
fn decode_part(part: &str) -> Result<serde_json::Map<String, Value>, &'static str> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| "not base64url")?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not a JSON object"),
        Err(_) => Err("not JSON"),
    }
}

/// Finds the token in what an operator pasted: a bare token, a link with `?jwt=` or `#jwt=`, or either
/// quoted in a longer message.
pub fn extract_token(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some(i) = text.find("jwt=") {
        let value = text[i + "jwt=".len()..]
            .split(|c: char| c == '&' || c == '#' || c.is_whitespace())
            .next()
            .unwrap_or_default();
        return looks_like_jwt(value).then(|| value.to_string());
    }
    if looks_like_jwt(text) {
        return Some(text.to_string());
    }
    // Inside prose only a word that starts like a JSON header ("ey" is base64url for `{`) counts, so a
    // version number such as 1.2.3 is not taken for a token.
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '<' | '>' | '(' | ')')))
        .find(|w| w.starts_with("ey") && looks_like_jwt(w))
        .map(str::to_string)
}

fn looks_like_jwt(s: &str) -> bool {
    s.split('.').count() == 3
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Judges `token` as a server configured per `expect` would at `now`.
pub fn verify(token: &str, expect: &Expectations, now: DateTime<Utc>) -> Verdict {
    let token = token.trim();
    let rejected = |check: Check| Verdict {
        checks: vec![check],
        claims: None,
        moderator: Vec::new(),
        lobby_bypass: "no token".into(),
    };
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return rejected(fail(
            "format",
            format!(
                "not a signed JWT: {} dot-separated parts instead of 3",
                parts.len()
            ),
        ));
    }
    let header = match decode_part(parts[0]) {
        Ok(h) => h,
        Err(why) => return rejected(fail("format", format!("header is {why}"))),
    };
    let payload = match decode_part(parts[1]) {
        Ok(p) => p,
        Err(why) => return rejected(fail("format", format!("payload is {why}"))),
    };

    let checks = vec![
        check_typ(&header),
        check_alg(&header, expect),
        check_signature(&header, &parts, expect),
        check_aud(&payload, expect),
        check_iss(&payload, expect),
        check_sub(&payload, expect),
        check_room(&payload, expect),
        check_nbf(&payload, now),
        check_exp(&payload, now),
    ];
    let (moderator, lobby_bypass) = role_decisions(&payload);
    Verdict {
        checks,
        claims: Some(Value::Object(payload)),
        moderator,
        lobby_bypass,
    }
}

type Json = serde_json::Map<String, Value>;

fn check_typ(header: &Json) -> Check {
    match header.get("typ") {
        Some(Value::String(t)) if t == "JWT" => ok("typ", "JWT"),
        Some(other) => fail(
            "typ",
            format!("{} is not \"JWT\" (Prosody: Invalid typ)", show(other)),
        ),
        None => fail("typ", "missing (Prosody: Invalid typ)"),
    }
}

fn check_alg(header: &Json, expect: &Expectations) -> Check {
    let wanted = algorithm_name(expect.algorithm);
    match header.get("alg") {
        Some(Value::String(a)) if a == wanted => ok("alg", wanted),
        Some(other) => fail(
            "alg",
            format!(
                "{} but the server uses {wanted} (Invalid or incorrect alg)",
                show(other)
            ),
        ),
        None => fail("alg", "missing"),
    }
}

fn check_signature(header: &Json, parts: &[&str], expect: &Expectations) -> Check {
    let wanted = algorithm_name(expect.algorithm);
    if header.get("alg").and_then(Value::as_str) != Some(wanted) {
        return fail(
            "signature",
            "not checked: the alg does not match the server's",
        );
    }
    let message = format!("{}.{}", parts[0], parts[1]);
    let (key, algorithm, what) = match (expect.algorithm, &expect.key) {
        (Algorithm::Hs256, VerifyKey::Hmac(secret)) => (
            DecodingKey::from_secret(secret.expose().as_bytes()),
            jsonwebtoken::Algorithm::HS256,
            "HMAC with app_secret",
        ),
        (Algorithm::Rs256, VerifyKey::RsaPublicPem(pem)) => {
            if header
                .get("kid")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return fail(
                    "signature",
                    "no kid in the header: the server cannot find the public key",
                );
            }
            match DecodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(k) => (k, jsonwebtoken::Algorithm::RS256, "RSA public key"),
                Err(_) => return fail("signature", "not checked: the public key is unreadable"),
            }
        }
        _ => {
            return fail(
                "signature",
                "not checked: the key does not fit the algorithm",
            )
        }
    };
    match jsonwebtoken::crypto::verify(parts[2], message.as_bytes(), &key, algorithm) {
        Ok(true) => ok("signature", format!("valid ({what})")),
        Ok(false) => fail("signature", format!("does not match the {what}")),
        Err(_) => fail("signature", "unreadable (not base64url)"),
    }
}

fn check_aud(payload: &Json, expect: &Expectations) -> Check {
    match (payload.get("aud"), &expect.audience) {
        (None, _) => fail(
            "aud",
            "missing (Jitsi requires aud even when any value is accepted)",
        ),
        (Some(Value::String(a)), Some(want)) if a == want => ok("aud", show_str(a)),
        (Some(Value::String(a)), Some(want)) => fail(
            "aud",
            format!(
                "\"{}\" is not the accepted \"{}\"",
                show_str(a),
                show_str(want)
            ),
        ),
        (Some(Value::String(a)), None) => {
            ok("aud", format!("{} (any audience accepted)", show_str(a)))
        }
        (Some(other), Some(want)) => fail(
            "aud",
            format!(
                "{} is not a plain string; the server accepts \"{}\"",
                show(other),
                show_str(want)
            ),
        ),
        (Some(other), None) => ok(
            "aud",
            format!(
                "{} (not a plain string: fails once audiences are restricted)",
                show(other)
            ),
        ),
    }
}

fn check_iss(payload: &Json, expect: &Expectations) -> Check {
    match payload.get("iss") {
        None => fail("iss", "missing"),
        Some(Value::String(i)) if expect.issuers.is_empty() || expect.issuers.contains(i) => {
            ok("iss", show_str(i))
        }
        Some(other) => fail(
            "iss",
            format!(
                "{} is not an accepted issuer ({})",
                show(other),
                show_str(&expect.issuers.join(", "))
            ),
        ),
    }
}

fn check_sub(payload: &Json, expect: &Expectations) -> Check {
    let sub = match payload.get("sub") {
        None => return fail("sub", "missing (sub claim is missing)"),
        Some(Value::String(s)) => s,
        Some(other) => return fail("sub", format!("{} is not a string", show(other))),
    };
    match &expect.sub {
        None => ok(
            "sub",
            format!("{} (domain verification off)", show_str(sub)),
        ),
        Some(_) if sub == "*" => ok("sub", "* (any domain)"),
        Some(want) if sub.eq_ignore_ascii_case(want) => ok("sub", show_str(sub)),
        Some(want) => fail(
            "sub",
            format!(
                "\"{}\" but the server expects \"{}\" (XMPP domain, or the tenant)",
                show_str(sub),
                show_str(want)
            ),
        ),
    }
}

fn check_room(payload: &Json, expect: &Expectations) -> Check {
    let claim = match payload.get("room") {
        None => return fail("room", "missing (required by default)"),
        Some(Value::String(r)) => r,
        Some(other) => return fail("room", format!("{} is not a string", show(other))),
    };
    let pattern = payload
        .get("context")
        .and_then(|c| c.get("room"))
        .and_then(|r| r.get("regex"))
        .and_then(Value::as_bool)
        == Some(true);
    let note = if pattern {
        " (context.room.regex: the server reads the claim as a Lua pattern; compared literally here)"
    } else {
        ""
    };
    if claim == "*" {
        return if expect.allow_wildcard_room {
            ok("room", format!("* (any room){note}"))
        } else {
            fail("room", "\"*\" (every room) is not allowed here")
        };
    }
    let Some(want) = &expect.room else {
        return ok(
            "room",
            format!("{} (no room to compare with){note}", show_str(claim)),
        );
    };
    let want = normalize_room_name(want);
    if claim.to_lowercase() == want {
        ok("room", format!("{}{note}", show_str(claim)))
    } else {
        let hint = if normalize_room_name(claim) == want {
            " — the claim is not normalised as Jitsi does"
        } else {
            ""
        };
        fail(
            "room",
            format!(
                "\"{}\" but the backend room is \"{}\"{hint}{note}",
                show_str(claim),
                show_str(&want)
            ),
        )
    }
}

/// A claim that must be a JSON number when present.
fn numeric(payload: &Json, name: &str) -> Result<Option<f64>, String> {
    match payload.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(format!("{} is not a number", show(other))),
    }
}

fn check_nbf(payload: &Json, now: DateTime<Utc>) -> Check {
    let now = now.timestamp() as f64;
    match numeric(payload, "nbf") {
        Err(why) => fail("nbf", why),
        Ok(None) => ok("nbf", "absent (optional)"),
        Ok(Some(nbf)) if now < nbf => fail(
            "nbf",
            format!(
                "not valid for another {} (no clock leeway)",
                human(nbf - now)
            ),
        ),
        Ok(Some(nbf)) => ok("nbf", format!("valid since {} ago", human(now - nbf))),
    }
}

fn check_exp(payload: &Json, now: DateTime<Utc>) -> Check {
    let now = now.timestamp() as f64;
    match numeric(payload, "exp") {
        Err(why) => fail("exp", why),
        Ok(None) => ok("exp", "absent (never expires)"),
        Ok(Some(exp)) if now >= exp => fail("exp", format!("expired {} ago", human(now - exp))),
        Ok(Some(exp)) => ok("exp", format!("expires in {}", human(exp - now))),
    }
}

/// "45s", "3m", "2h 5m", "3d 4h".
fn human(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    for (i, (size, unit)) in units.iter().enumerate() {
        if s >= *size || *size == 1 {
            let major = s / size;
            let rest = s % size;
            return match units.get(i + 1) {
                Some((next, next_unit)) if rest / next > 0 => {
                    format!("{major}{unit} {}{next_unit}", rest / next)
                }
                _ => format!("{major}{unit}"),
            };
        }
    }
    unreachable!("the one-second unit always matches")
}

/// How each moderator mechanism, and the lobby-bypass module, would read the payload.
fn role_decisions(payload: &Json) -> (Vec<(String, String)>, String) {
    let user = payload.get("context").and_then(|c| c.get("user"));
    let user_moderator = user.and_then(|u| u.get("moderator"));
    let affiliation = user
        .and_then(|u| u.get("affiliation"))
        .and_then(Value::as_str);

    let affiliation_owner = matches!(affiliation, Some("owner" | "moderator" | "teacher"))
        || matches!(user_moderator, Some(Value::Bool(true)))
        || matches!(user_moderator, Some(Value::String(s)) if s == "true");
    let token_affiliation = if affiliation_owner { "owner" } else { "member" };

    let plugin = match payload.get("moderator") {
        Some(Value::Bool(true)) => "moderator".to_owned(),
        Some(Value::Bool(false)) | None => "not moderator".to_owned(),
        Some(other) => format!("not moderator ({} is not a boolean)", show(other)),
    };

    let jaas = match user_moderator {
        Some(Value::String(s)) if s == "true" => "moderator".to_owned(),
        Some(Value::Bool(true)) => {
            "unclear: boolean true (JaaS documents the string \"true\")".to_owned()
        }
        _ => "not moderator".to_owned(),
    };

    let lobby = match user.and_then(|u| u.get("lobby_bypass")) {
        Some(Value::Bool(true)) => "bypassed (token_lobby_bypass)".to_owned(),
        Some(Value::String(s)) if s == "true" => {
            "waits: \"true\" is a string, token_lobby_bypass needs the boolean".to_owned()
        }
        _ => "waits in the lobby when one is on".to_owned(),
    };

    // mod_muc_wait_for_host sets owner on muc-occupant-joined for every occupant with a token (outside
    // moderated rooms), which runs after token_affiliation's muc-occupant-pre-join decision.
    let wait_for_host = if affiliation_owner {
        "owner (it makes every token user owner as they join)".to_owned()
    } else {
        "owner: it makes every token user owner as they join, after token_affiliation said member, \
         unless wait_for_host_disable_auto_owners = true is set on the conference MUC \
         (docker-jitsi-meet: WAIT_FOR_HOST_DISABLE_AUTO_OWNERS=1); with that line: member"
            .to_owned()
    };

    (
        vec![
            (
                "jicofo JWT auth".into(),
                "owner (every token user, whatever the claims)".into(),
            ),
            ("mod_token_affiliation".into(), token_affiliation.into()),
            ("mod_muc_wait_for_host".into(), wait_for_host),
            ("token_moderation plugin".into(), plugin),
            ("JaaS".into(), jaas),
        ],
        lobby,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human(0.0), "0s");
        assert_eq!(human(45.0), "45s");
        assert_eq!(human(180.0), "3m");
        assert_eq!(human(200.0), "3m 20s");
        assert_eq!(human(7_500.0), "2h 5m");
        assert_eq!(human(273_600.0), "3d 4h");
    }

    #[test]
    fn garbage_is_rejected_as_a_format_failure() {
        let expect = Expectations::from_settings(&JitsiSettings::for_tests("k"), None).unwrap();
        for token in ["", "abc", "a.b", "!!.e30.sig", "e30.!!.sig", "WzFd.e30.sig"] {
            let v = verify(token, &expect, Utc::now());
            assert!(!v.accepted(), "{token}");
            assert_eq!(v.checks[0].name, "format", "{token}");
        }
    }

    #[test]
    fn moderator_modules_read_each_form_as_jitsi_does() {
        let payload: Json = serde_json::from_value(serde_json::json!({
            "moderator": "true",
            "context": {"user": {"moderator": "true", "lobby_bypass": "true"}}
        }))
        .unwrap();
        let (decisions, lobby) = role_decisions(&payload);
        let by = |d: &[(String, String)], module: &str| {
            d.iter().find(|(m, _)| m == module).unwrap().1.clone()
        };
        assert_eq!(by(&decisions, "mod_token_affiliation"), "owner");
        assert!(by(&decisions, "mod_muc_wait_for_host").starts_with("owner ("));
        assert!(by(&decisions, "token_moderation plugin").starts_with("not moderator"));
        assert_eq!(by(&decisions, "JaaS"), "moderator");
        assert!(lobby.starts_with("waits"));

        let payload: Json = serde_json::from_value(serde_json::json!({
            "moderator": true,
            "context": {"user": {"moderator": false, "affiliation": "member", "lobby_bypass": true}}
        }))
        .unwrap();
        let (decisions, lobby) = role_decisions(&payload);
        assert_eq!(by(&decisions, "mod_token_affiliation"), "member");
        let wait = by(&decisions, "mod_muc_wait_for_host");
        assert!(wait.starts_with("owner: "), "{wait}");
        assert!(
            wait.contains("wait_for_host_disable_auto_owners = true"),
            "{wait}"
        );
        assert!(wait.ends_with("with that line: member"), "{wait}");
        assert_eq!(by(&decisions, "token_moderation plugin"), "moderator");
        assert_eq!(by(&decisions, "JaaS"), "not moderator");
        assert!(lobby.starts_with("bypassed"));
    }
}
