//! Every token meetbot mints must pass Jitsi's checks, and the verifier must catch each way a
//! token goes wrong with the right failing check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hmac::{Hmac, Mac};
use meetbot::jitsi::token::TokenError;
use meetbot::jitsi::{
    verify, Expectations, Grant, Identity, JitsiSettings, LinkStyle, Minter, Room, Verdict,
};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Sha256, Sha512};
use std::sync::OnceLock;

const SECRET: &str = "test-app-secret-of-reasonable-length-42";
const APP: &str = "vpaas-magic-cookie-0123456789abcdef";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 18, 30, 0).unwrap()
}

fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key"))
}

fn pkcs1_pem() -> String {
    rsa_key().to_pkcs1_pem(LineEnding::LF).unwrap().to_string()
}

fn ana() -> Identity {
    Identity {
        id: "80351110224678912".into(),
        name: "Ana".into(),
        avatar: Some("https://cdn.discordapp.com/avatars/1/a.png".into()),
        email: None,
    }
}

fn room(name: &str) -> Room {
    Room::from_user_input(name).unwrap()
}

fn mint(settings: &JitsiSettings, room_name: &str, moderator: bool) -> String {
    let minter = Minter::new(settings.clone()).unwrap();
    let grant = Grant::new(room(room_name), ana(), moderator, now(), settings);
    minter.mint(&grant).unwrap().token.expose().to_owned()
}

fn strict(settings: &JitsiSettings, room_name: &str) -> Expectations {
    Expectations::from_settings(settings, Some(room_name)).unwrap()
}

fn failed(verdict: &Verdict) -> Vec<&'static str> {
    verdict
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect()
}

fn detail<'a>(verdict: &'a Verdict, name: &str) -> &'a str {
    &verdict
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap()
        .detail
}

/// A payload like meetbot's, to be broken one claim at a time.
fn good_payload() -> Value {
    let t = now().timestamp();
    json!({
        "aud": "jitsi", "iss": "meetbot", "sub": "meet.jitsi", "room": "weekly-sync",
        "iat": t, "nbf": t - 10, "exp": t + 3600, "moderator": false,
        "context": {"user": {"id": "1", "name": "Ana", "moderator": false, "affiliation": "member"}}
    })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Signs arbitrary header and payload JSON with HMAC, to build tokens meetbot would never mint.
fn craft(header: Value, payload: Value, secret: &str) -> String {
    let input = format!("{}.{}", b64(&header), b64(&payload));
    let sig = match header["alg"].as_str() {
        Some("HS512") => {
            let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn hs256_header() -> Value {
    json!({"typ": "JWT", "alg": "HS256"})
}

fn judge_crafted(payload: Value) -> Verdict {
    let settings = JitsiSettings::for_tests(SECRET);
    verify(
        &craft(hs256_header(), payload, SECRET),
        &strict(&settings, "weekly-sync"),
        now(),
    )
}

#[test]
fn minted_hs256_token_passes_strict_verification() {
    let settings = JitsiSettings::for_tests(SECRET);
    for moderator in [true, false] {
        let token = mint(&settings, "weekly-sync", moderator);
        let verdict = verify(&token, &strict(&settings, "weekly-sync"), now());
        assert!(verdict.accepted(), "{}", verdict.render());
        let names: Vec<_> = verdict.checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "typ",
                "alg",
                "signature",
                "aud",
                "iss",
                "sub",
                "room",
                "nbf",
                "exp"
            ]
        );
    }
}

#[test]
fn minted_token_for_a_user_typed_room_matches_the_backend_room() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = mint(&settings, "Café Meeting", false);
    let verdict = verify(&token, &strict(&settings, "Café Meeting"), now());
    assert!(verdict.accepted(), "{}", verdict.render());
    assert_eq!(verdict.claims.unwrap()["room"], "caf%c3%a9%20meeting");
}

#[test]
fn every_configuration_variant_still_passes() {
    let mut settings = JitsiSettings::for_tests(SECRET);
    settings.include_email = true;
    settings.lobby_bypass_for_moderators = true;
    settings.link_style = LinkStyle::Fragment;
    settings.prejoin = Some(false);
    settings.prefill_display_name = true;
    settings.moderator_features.insert("recording".into(), true);
    settings.tenant = Some("acme".into());
    let token = mint(&settings, "Team Sync", true);
    let verdict = verify(&token, &strict(&settings, "team sync"), now());
    assert!(verdict.accepted(), "{}", verdict.render());
}

#[test]
fn minted_jaas_rs256_token_passes_strict_verification() {
    let settings = JitsiSettings::for_tests_jaas(&pkcs1_pem(), APP, "4f4910");
    let minter = Minter::new(settings.clone()).unwrap();
    let grant = Grant::new(room("standup"), ana(), true, now(), &settings);
    let minted = minter.mint(&grant).unwrap();
    let token = minted.token.expose();

    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "RS256", "kid": format!("{APP}/4f4910")})
    );
    assert_eq!(minted.claims.iss, "chat");
    assert_eq!(minted.claims.sub, APP);
    assert_eq!(minted.claims.aud, "jitsi");
    assert!(minted
        .link
        .expose()
        .starts_with(&format!("https://8x8.vc/{APP}/standup?jwt=")));

    let verdict = verify(token, &strict(&settings, "standup"), now());
    assert!(verdict.accepted(), "{}", verdict.render());
    assert_eq!(verdict.moderator_by("JaaS"), Some("moderator"));
}

#[test]
fn pkcs8_private_keys_sign_and_verify_too() {
    let pem = rsa_key().to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let settings = JitsiSettings::for_tests_jaas(&pem, APP, "k2");
    let token = mint(&settings, "standup", false);
    assert!(verify(&token, &strict(&settings, "standup"), now()).accepted());
}

#[test]
fn self_hosted_rs256_token_passes_strict_verification() {
    let mut settings = JitsiSettings::for_tests(SECRET);
    settings.algorithm = meetbot::jitsi::Algorithm::Rs256;
    settings.key = meetbot::jitsi::SigningKey::Rsa {
        private_pem: meetbot::secret::Secret::new(pkcs1_pem()),
        kid: "meetbot-2026".into(),
    };
    let token = mint(&settings, "weekly-sync", true);
    let verdict = verify(&token, &strict(&settings, "weekly-sync"), now());
    assert!(verdict.accepted(), "{}", verdict.render());
    assert_eq!(verdict.claims.unwrap()["iss"], "meetbot");
}

#[test]
fn rs256_token_fails_against_another_public_key() {
    let settings = JitsiSettings::for_tests_jaas(&pkcs1_pem(), APP, "k1");
    let token = mint(&settings, "standup", false);
    let other = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let other_pem = other.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let expect = strict(
        &JitsiSettings::for_tests_jaas(&other_pem, APP, "k1"),
        "standup",
    );
    assert_eq!(failed(&verify(&token, &expect, now())), ["signature"]);
}

#[test]
fn jaas_settings_must_keep_jaas_rules() {
    let pem = pkcs1_pem();
    let mut wrong_kid = JitsiSettings::for_tests_jaas(&pem, APP, "k1");
    if let meetbot::jitsi::SigningKey::Rsa { kid, .. } = &mut wrong_kid.key {
        *kid = "vpaas-magic-cookie-other/k1".into();
    }
    assert!(matches!(Minter::new(wrong_kid), Err(TokenError::Jaas(_))));

    let bad_app = JitsiSettings::for_tests_jaas(&pem, "my-app", "k1");
    assert!(matches!(Minter::new(bad_app), Err(TokenError::Jaas(_))));

    let mut bad_aud = JitsiSettings::for_tests_jaas(&pem, APP, "k1");
    bad_aud.audience = "meetbot".into();
    assert!(matches!(Minter::new(bad_aud), Err(TokenError::Jaas(_))));

    let mut no_tenant = JitsiSettings::for_tests_jaas(&pem, APP, "k1");
    no_tenant.tenant = None;
    let err = Minter::new(no_tenant).unwrap_err();
    assert!(matches!(err, TokenError::Jaas(_)));
    assert!(!err.to_string().contains("PRIVATE KEY"));
}

#[test]
fn wrong_secret_fails_only_the_signature() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = mint(&settings, "weekly-sync", false);
    let expect = strict(&JitsiSettings::for_tests("another-secret"), "weekly-sync");
    let verdict = verify(&token, &expect, now());
    assert_eq!(failed(&verdict), ["signature"]);
}

#[test]
fn token_is_rejected_from_the_second_it_expires() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = mint(&settings, "weekly-sync", false);
    let expect = strict(&settings, "weekly-sync");
    let last_valid = now() + TimeDelta::hours(2) - TimeDelta::seconds(1);
    assert!(verify(&token, &expect, last_valid).accepted());
    let at_exp = verify(&token, &expect, now() + TimeDelta::hours(2));
    assert_eq!(failed(&at_exp), ["exp"]);
    let later = verify(
        &token,
        &expect,
        now() + TimeDelta::hours(2) + TimeDelta::minutes(3),
    );
    assert_eq!(detail(&later, "exp"), "expired 3m ago");
}

#[test]
fn nbf_five_seconds_ahead_is_rejected_without_leeway() {
    let mut payload = good_payload();
    payload["nbf"] = json!(now().timestamp() + 5);
    let verdict = judge_crafted(payload);
    assert_eq!(failed(&verdict), ["nbf"]);
    assert!(detail(&verdict, "nbf").contains("5s"));
}

#[test]
fn minted_nbf_is_backdated_so_a_slow_server_clock_still_accepts() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = mint(&settings, "weekly-sync", false);
    let expect = strict(&settings, "weekly-sync");
    assert!(verify(&token, &expect, now() - TimeDelta::seconds(9)).accepted());
    assert_eq!(
        failed(&verify(&token, &expect, now() - TimeDelta::seconds(11))),
        ["nbf"]
    );
}

#[test]
fn token_for_another_room_is_rejected() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = mint(&settings, "weekly-sync", false);
    let verdict = verify(&token, &strict(&settings, "board-meeting"), now());
    assert_eq!(failed(&verdict), ["room"]);
}

#[test]
fn unnormalised_room_claim_is_rejected_with_a_hint() {
    let mut payload = good_payload();
    payload["room"] = json!("Café Meeting");
    let settings = JitsiSettings::for_tests(SECRET);
    let verdict = verify(
        &craft(hs256_header(), payload, SECRET),
        &strict(&settings, "Café Meeting"),
        now(),
    );
    assert_eq!(failed(&verdict), ["room"]);
    assert!(detail(&verdict, "room").contains("not normalised"));
}

#[test]
fn wildcard_room_is_rejected_unless_allowed() {
    let mut payload = good_payload();
    payload["room"] = json!("*");
    let settings = JitsiSettings::for_tests(SECRET);
    let token = craft(hs256_header(), payload, SECRET);
    let mut expect = strict(&settings, "weekly-sync");
    assert_eq!(failed(&verify(&token, &expect, now())), ["room"]);
    expect.allow_wildcard_room = true;
    assert!(verify(&token, &expect, now()).accepted());
}

#[test]
fn room_regex_flag_is_noted() {
    let mut payload = good_payload();
    payload["context"]["room"] = json!({"regex": true});
    let verdict = judge_crafted(payload);
    assert!(verdict.accepted());
    assert!(detail(&verdict, "room").contains("Lua pattern"));
}

#[test]
fn wrong_audience_issuer_or_subject_each_fail_their_own_check() {
    for (claim, value) in [
        ("aud", "other"),
        ("iss", "someone-else"),
        ("sub", "meet.example.com"),
    ] {
        let mut payload = good_payload();
        payload[claim] = json!(value);
        assert_eq!(failed(&judge_crafted(payload)), [claim], "{claim}");
    }
}

#[test]
fn missing_required_claims_each_fail_their_own_check() {
    for claim in ["aud", "iss", "sub", "room"] {
        let mut payload = good_payload();
        payload.as_object_mut().unwrap().remove(claim);
        let verdict = judge_crafted(payload);
        assert_eq!(failed(&verdict), [claim], "{claim}");
        assert!(detail(&verdict, claim).contains("missing"), "{claim}");
    }
}

#[test]
fn audience_list_fails_against_a_named_audience() {
    let mut payload = good_payload();
    payload["aud"] = json!(["jitsi"]);
    assert_eq!(failed(&judge_crafted(payload.clone())), ["aud"]);

    let settings = JitsiSettings::for_tests(SECRET);
    let mut any = strict(&settings, "weekly-sync");
    any.audience = None;
    let token = craft(hs256_header(), payload, SECRET);
    assert!(verify(&token, &any, now()).accepted());
}

#[test]
fn any_audience_still_requires_the_claim() {
    let mut payload = good_payload();
    payload.as_object_mut().unwrap().remove("aud");
    let settings = JitsiSettings::for_tests(SECRET);
    let mut any = strict(&settings, "weekly-sync");
    any.audience = None;
    let verdict = verify(&craft(hs256_header(), payload, SECRET), &any, now());
    assert_eq!(failed(&verdict), ["aud"]);
}

#[test]
fn sub_is_required_even_with_domain_verification_off() {
    let mut payload = good_payload();
    payload.as_object_mut().unwrap().remove("sub");
    let settings = JitsiSettings::for_tests(SECRET);
    let mut off = strict(&settings, "weekly-sync");
    off.sub = None;
    let verdict = verify(&craft(hs256_header(), payload, SECRET), &off, now());
    assert_eq!(failed(&verdict), ["sub"]);
}

#[test]
fn sub_comparison_ignores_case_and_accepts_a_star() {
    for sub in ["MEET.JITSI", "*"] {
        let mut payload = good_payload();
        payload["sub"] = json!(sub);
        assert!(judge_crafted(payload).accepted(), "{sub}");
    }
}

#[test]
fn token_without_typ_is_rejected() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = craft(json!({"alg": "HS256"}), good_payload(), SECRET);
    let verdict = verify(&token, &strict(&settings, "weekly-sync"), now());
    assert_eq!(failed(&verdict), ["typ"]);
}

#[test]
fn typ_must_be_exactly_jwt() {
    let settings = JitsiSettings::for_tests(SECRET);
    for typ in ["jwt", "JWS", "at+jwt"] {
        let token = craft(json!({"typ": typ, "alg": "HS256"}), good_payload(), SECRET);
        let verdict = verify(&token, &strict(&settings, "weekly-sync"), now());
        assert_eq!(failed(&verdict), ["typ"], "{typ}");
    }
}

#[test]
fn hs512_token_fails_on_an_hs256_server() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = craft(
        json!({"typ": "JWT", "alg": "HS512"}),
        good_payload(),
        SECRET,
    );
    let verdict = verify(&token, &strict(&settings, "weekly-sync"), now());
    assert_eq!(failed(&verdict), ["alg", "signature"]);
}

#[test]
fn exp_as_a_string_is_rejected() {
    let mut payload = good_payload();
    payload["exp"] = json!((now().timestamp() + 3600).to_string());
    let verdict = judge_crafted(payload);
    assert_eq!(failed(&verdict), ["exp"]);
    assert!(detail(&verdict, "exp").contains("not a number"));
}

#[test]
fn token_for_another_tenant_fails_the_sub_check() {
    let mut ours = JitsiSettings::for_tests(SECRET);
    ours.tenant = Some("acme".into());
    let token = mint(&ours, "weekly-sync", false);
    let mut theirs = ours.clone();
    theirs.tenant = Some("globex".into());
    let verdict = verify(&token, &strict(&theirs, "weekly-sync"), now());
    assert_eq!(failed(&verdict), ["sub"]);
}

#[test]
fn every_failure_is_reported_at_once_even_with_a_bad_signature() {
    let mut payload = good_payload();
    payload["aud"] = json!("nope");
    payload["exp"] = json!(now().timestamp() - 60);
    let token = craft(hs256_header(), payload, "wrong-secret");
    let settings = JitsiSettings::for_tests(SECRET);
    let verdict = verify(&token, &strict(&settings, "weekly-sync"), now());
    assert_eq!(failed(&verdict), ["signature", "aud", "exp"]);
}

#[test]
fn render_lists_each_check_and_never_the_token() {
    let settings = JitsiSettings::for_tests(SECRET);
    let token = mint(&settings, "weekly-sync", true);
    let late = now() + TimeDelta::hours(2) + TimeDelta::minutes(3);
    let text = verify(&token, &strict(&settings, "weekly-sync"), late).render();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ok   typ  JWT");
    assert!(lines.contains(&"FAIL exp  expired 3m ago"), "{text}");
    assert!(text.contains("jicofo JWT auth: owner"));
    assert!(text.contains("mod_token_affiliation: owner"));
    assert!(text.contains("token_moderation plugin: moderator"));
    assert!(text.contains("lobby: "));
    assert!(text.contains("verdict: rejected (1 failed)"));
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature));
    assert!(!text.contains(&token[..token.find('.').unwrap()]));
    assert!(!text.contains(SECRET));
}

#[test]
fn member_token_is_owner_under_wait_for_host_unless_auto_owners_are_disabled() {
    let settings = JitsiSettings::for_tests(SECRET);
    let expect = strict(&settings, "weekly-sync");
    let member = verify(&mint(&settings, "weekly-sync", false), &expect, now());
    assert_eq!(member.moderator_by("mod_token_affiliation"), Some("member"));
    let wait = member.moderator_by("mod_muc_wait_for_host").unwrap();
    assert!(wait.starts_with("owner: "), "{wait}");
    assert!(
        wait.contains("wait_for_host_disable_auto_owners = true"),
        "{wait}"
    );
    assert!(
        wait.contains("WAIT_FOR_HOST_DISABLE_AUTO_OWNERS=1"),
        "{wait}"
    );
    assert!(wait.ends_with("with that line: member"), "{wait}");
    assert!(member.render().contains("  mod_muc_wait_for_host: owner: "));

    let host = verify(&mint(&settings, "weekly-sync", true), &expect, now());
    assert!(host
        .moderator_by("mod_muc_wait_for_host")
        .unwrap()
        .starts_with("owner ("));
}

#[test]
fn lobby_bypass_decision_follows_the_boolean_claim() {
    let mut settings = JitsiSettings::for_tests(SECRET);
    settings.lobby_bypass_for_moderators = true;
    let expect = strict(&settings, "weekly-sync");
    let host = verify(&mint(&settings, "weekly-sync", true), &expect, now());
    assert!(host.lobby_bypass.starts_with("bypassed"));
    let guest = verify(&mint(&settings, "weekly-sync", false), &expect, now());
    assert!(guest.lobby_bypass.starts_with("waits"));
}
