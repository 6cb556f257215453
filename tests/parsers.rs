//! Everything a person (or an attacker) can type into meetbot's parsers: the time parser behind `when`
//! and its autocomplete, the `invite` option, the `custom_id` a button click carries, and what
//! `meetbot verify` reads (with or without a key server). Arbitrary input never panics, and a refusal
//! always says something short enough to send back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use hmac::{Hmac, Mac};
use meetbot::discord::custom_ids::{scheduled, scheduled_meeting, JoinSigner, JoinTarget, Refused};
use meetbot::fetch::{FetchPolicy, SafeFetcher};
use meetbot::jitsi::asap::{verify_via_key_server, KeyServerTrust};
use meetbot::jitsi::{extract_token, verify, Expectations, JitsiSettings, Verdict};
use meetbot::meeting::invite::parse_invites;
use meetbot::schedule::{
    describe, parse_timezone, parse_when, parse_when_within, timezone_suggestions, WhenError,
};
use meetbot::secret::Secret;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const SECRET: &str = "parsers-test-secret-0123456789abcdef012345";

/// Longest refusal a parser may produce: it goes into a Discord reply (2,000 characters) beside
/// other text, or onto one terminal line per check.
const MAX_MESSAGE: usize = 300;

fn assert_message(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.trim().is_empty(), "empty message");
    prop_assert!(
        message.chars().count() <= MAX_MESSAGE,
        "{} characters: {message}",
        message.chars().count()
    );
    Ok(())
}

fn today() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
}

// --- the named regression: chrono's last day in a zone behind UTC ---

#[test]
fn the_last_representable_day_in_new_york_is_refused_as_too_far_not_a_panic() {
    let err = parse_when("+262142-12-31 23:30", today(), chrono_tz::America::New_York)
        .expect_err("year 262142 is not a meeting time");
    assert!(matches!(err, WhenError::OutOfRange(_)), "{err:?}");
    assert!(err.to_string().contains("too far away"), "{err}");
}

#[test]
fn times_at_either_end_of_chronos_range_are_refused_in_every_form() {
    let max = DateTime::<Utc>::MAX_UTC;
    let min = DateTime::<Utc>::MIN_UTC;
    let cases: &[(&str, DateTime<Utc>, Tz)] = &[
        ("+262142-12-31T23:30", today(), chrono_tz::America::New_York),
        ("-262143-01-01 00:30", today(), chrono_tz::Asia::Tokyo),
        // `now` itself at the end: the local clock there is past chrono's last day.
        ("15:00", max, chrono_tz::Asia::Tokyo),
        ("tomorrow 9:30", max, chrono_tz::UTC),
        ("friday 18:00", max, chrono_tz::UTC),
        ("next monday 8am", max, chrono_tz::Pacific::Kiritimati),
        ("in 2h", max, chrono_tz::UTC),
        ("noon", min, chrono_tz::America::Los_Angeles),
    ];
    for (input, now, tz) in cases {
        let err = parse_when(input, *now, *tz).expect_err(input);
        let message = err.to_string();
        assert!(
            !message.is_empty() && message.len() <= MAX_MESSAGE,
            "{message}"
        );
    }
}

#[test]
fn a_huge_input_is_quoted_only_in_part() {
    let long = "x".repeat(6_000);
    for message in [
        parse_when(&long, today(), chrono_tz::UTC)
            .unwrap_err()
            .to_string(),
        parse_when(&format!("tomorrow {long}"), today(), chrono_tz::UTC)
            .unwrap_err()
            .to_string(),
        parse_timezone(&long).unwrap_err().to_string(),
    ] {
        assert!(message.chars().count() <= MAX_MESSAGE, "{message}");
        assert!(message.contains("xxxxxxxxxx…"), "{message}");
    }
    let missing = parse_when(
        &format!("tomorrow {}", "a".repeat(100)),
        today(),
        chrono_tz::UTC,
    );
    assert!(missing.is_err());
}

// --- strategies ---

/// Any instant chrono can hold, with both ends and the present weighted in.
fn any_now() -> impl Strategy<Value = DateTime<Utc>> {
    let min = DateTime::<Utc>::MIN_UTC.timestamp();
    let max = DateTime::<Utc>::MAX_UTC.timestamp();
    let day = 86_400;
    prop_oneof![
        min..=max,
        min..=min + 10 * day,
        max - 10 * day..=max,
        today().timestamp() - 400 * day..=today().timestamp() + 400 * day,
    ]
    .prop_map(|s| DateTime::from_timestamp(s, 0).expect("inside chrono's range"))
}

fn any_zone() -> impl Strategy<Value = Tz> {
    proptest::sample::select(chrono_tz::TZ_VARIANTS.to_vec())
}

fn any_limit() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::days(366)),
        (0i64..=2_000_000).prop_map(Duration::days),
        Just(Duration::MAX),
        Just(Duration::zero()),
    ]
}

/// What people type, what they might type by mistake, and what an attacker would.
fn any_when() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("today".to_owned()),
        Just("tomorrow".to_owned()),
        Just("next".to_owned()),
        Just("at".to_owned()),
        Just("friday".to_owned()),
        Just("sun".to_owned()),
        Just("in".to_owned()),
        Just("noon".to_owned()),
        Just("midnight".to_owned()),
        "[0-9]{1,3}(:[0-9]{1,3}){0,3} ?([ap]\\.?m\\.?)?",
        "[0-9]{1,8} ?(m|min|h|hours|d|days|w|weeks|and|,)",
        "[+-]?[0-9]{1,6}[-/][0-9]{1,2}[-/][0-9]{1,2}",
        "[+-]?[0-9]{4,6}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|z|[+-][0-9]{2}:?[0-9]{2})?",
        "\\PC{0,12}",
    ];
    prop_oneof![
        any::<String>(),
        "[+-]26214[0-3]-(0[1-9]|1[0-2])-[0-3][0-9][ Tt][0-2][0-9]:[0-5][0-9]",
        proptest::collection::vec(word, 0..6).prop_map(|w| w.join(" ")),
    ]
}

// --- the time parser ---

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_when_is_a_future_time_within_the_limit_or_a_short_refusal(
        input in any_when(),
        now in any_now(),
        tz in any_zone(),
        limit in any_limit(),
    ) {
        match parse_when_within(&input, now, tz, limit) {
            Ok(at) => {
                prop_assert!(at > now, "{input:?} gave {at}, not after {now}");
                prop_assert!(at - now <= limit, "{input:?} gave {at}, beyond {limit}");
                // What the autocomplete shows for it.
                prop_assert!(!describe(at, tz, now).is_empty());
            }
            Err(e) => assert_message(&e.to_string())?,
        }
        match parse_when(&input, now, tz) {
            Ok(at) => prop_assert!(at > now),
            Err(e) => assert_message(&e.to_string())?,
        }
    }

    #[test]
    fn describe_any_instant_in_any_zone_from_any_now(at in any_now(), now in any_now(), tz in any_zone()) {
        let text = describe(at, tz, now);
        prop_assert!(!text.is_empty());
    }

    #[test]
    fn any_zone_name_is_a_zone_or_a_short_refusal(name in prop_oneof![any::<String>(), "[A-Za-z_/ +-]{0,40}"]) {
        if let Err(e) = parse_timezone(&name) {
            assert_message(&e.to_string())?;
        }
    }

    #[test]
    fn zone_suggestions_never_exceed_discords_cap(typed in any::<String>(), limit in any::<usize>()) {
        let found = timezone_suggestions(&typed, limit);
        prop_assert!(found.len() <= 25.min(limit));
    }
}

// --- the invite option ---

proptest! {
    #[test]
    fn any_invite_text_is_a_list_of_its_mentions_or_a_short_refusal(
        text in prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                "(<@[!&]?[0-9]{0,24}>|@everyone|@HeRe|@[a-z]{1,8}|[a-z`<>@&!]{1,50}|,| |\u{200b})",
                0..40,
            )
            .prop_map(|w| w.concat()),
        ]
    ) {
        match parse_invites(&text) {
            Ok(list) => {
                for id in list.users.iter().chain(&list.roles) {
                    prop_assert!(text.contains(&id.to_string()), "{id} not in {text:?}");
                }
            }
            Err(e) => {
                let message = e.to_string();
                // Up to five quoted words of 40 characters each, then the advice.
                prop_assert!(!message.trim().is_empty());
                prop_assert!(message.chars().count() <= 500, "{message}");
            }
        }
    }

    #[test]
    fn mentions_written_any_way_are_read_back(
        ids in proptest::collection::vec((any::<bool>(), 1u64..=u64::MAX, 0usize..3), 0..20)
    ) {
        let text: Vec<String> = ids
            .iter()
            .map(|(role, id, sep)| {
                let mention = if *role { format!("<@&{id}>") } else { format!("<@{id}>") };
                format!("{mention}{}", ["", " ", ", "][*sep])
            })
            .collect();
        let list = parse_invites(&text.concat()).unwrap();
        for (role, id, _) in &ids {
            let side = if *role { &list.roles } else { &list.users };
            prop_assert!(side.contains(id));
        }
    }
}

// --- meetbot verify's input ---

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "\\PC{200,600}".prop_map(Value::from),
        Just(json!("true")),
        Just(json!("owner")),
        Just(json!("*")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("\\PC{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object with the names Prosody and meetbot read, holding anything at all.
fn claim_like(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    proptest::collection::vec(
        (proptest::sample::select(names), any_json()),
        0..names.len(),
    )
    .prop_map(|pairs| {
        let mut map = Map::new();
        for (name, value) in pairs {
            map.insert(name.to_owned(), value);
        }
        Value::Object(map)
    })
}

fn any_header() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_json(),
        claim_like(&["typ", "alg", "kid"]),
        Just(json!({"typ": "JWT", "alg": "HS256"})),
    ]
}

fn any_payload() -> impl Strategy<Value = Value> {
    let context = (
        claim_like(&["room", "features"]),
        claim_like(&["moderator", "affiliation", "lobby_bypass", "id", "name"]),
    )
        .prop_map(|(mut ctx, user)| {
            ctx["user"] = user;
            ctx
        });
    prop_oneof![
        any_json(),
        claim_like(&[
            "aud",
            "iss",
            "sub",
            "room",
            "nbf",
            "exp",
            "iat",
            "moderator",
            "context"
        ]),
        (
            claim_like(&["aud", "iss", "sub", "room", "nbf", "exp", "moderator"]),
            context
        )
            .prop_map(|(mut p, ctx)| {
                p["context"] = ctx;
                p
            }),
    ]
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn hs256_signature(message: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn assert_verdict(verdict: &Verdict) -> Result<(), TestCaseError> {
    prop_assert!(!verdict.checks.is_empty());
    for check in &verdict.checks {
        assert_message(&check.detail)?;
    }
    for (module, decision) in &verdict.moderator {
        prop_assert!(!module.is_empty());
        assert_message(decision)?;
    }
    assert_message(&verdict.lobby_bypass)?;
    let text = verdict.render();
    prop_assert!(text.contains("verdict: "), "{text}");
    Ok(())
}

fn expectations(room: Option<String>, allow_wildcard: bool) -> Expectations {
    let mut expect =
        Expectations::from_settings(&JitsiSettings::for_tests(SECRET), room.as_deref()).unwrap();
    expect.allow_wildcard_room = allow_wildcard;
    expect
}

proptest! {
    #[test]
    fn any_pasted_text_is_judged_or_found_to_hold_no_token(
        text in prop_oneof![
            any::<String>(),
            "(ey[A-Za-z0-9_-]{0,40}\\.){0,4}[A-Za-z0-9_=.-]{0,40}",
            "https://meet\\.example\\.com/[a-z]{0,8}[?#&]?(jwt=)?[A-Za-z0-9_.&#=-]{0,80}",
        ],
        room in proptest::option::of(any::<String>()),
        now in any_now(),
    ) {
        if let Some(token) = extract_token(&text) {
            assert_verdict(&verify(&token, &expectations(room, false), now))?;
        }
    }

    #[test]
    fn any_json_in_a_tokens_parts_is_judged_with_short_details(
        header in any_header(),
        payload in any_payload(),
        signed in any::<bool>(),
        signature in "[A-Za-z0-9_-]{0,400}",
        room in proptest::option::of(prop_oneof![any::<String>(), Just("weekly-sync".to_owned())]),
        allow_wildcard in any::<bool>(),
        now in any_now(),
        as_link in any::<bool>(),
    ) {
        let message = format!("{}.{}", b64(&header), b64(&payload));
        let signature = if signed { hs256_signature(&message) } else { signature };
        let token = format!("{message}.{signature}");
        let pasted = if as_link {
            format!("https://meet.example.com/weekly-sync#jwt={token}&config.prejoinConfig.enabled=false")
        } else {
            token.clone()
        };
        let found = extract_token(&pasted);
        prop_assert_eq!(found.as_deref(), Some(token.as_str()));
        let verdict = verify(&token, &expectations(room, allow_wildcard), now);
        assert_verdict(&verdict)?;
        // A part that decodes to JSON but not to an object stops at the format check.
        if header.is_object() && payload.is_object() {
            prop_assert_eq!(verdict.checks.len(), 9);
        }
    }
}

// --- the custom_id of a click ---

fn join_signer() -> JoinSigner {
    JoinSigner::new(&Secret::new("parsers-bot-token"))
}

/// A Join target as the bot makes them: a normalized room name, an end anywhere in chrono's range.
fn any_target() -> impl Strategy<Value = JoinTarget> {
    (
        any::<u64>(),
        "[a-z0-9][a-z0-9-]{0,59}",
        DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
    )
        .prop_map(|(guild_id, room, ends)| JoinTarget {
            guild_id,
            room,
            ends_at: DateTime::from_timestamp(ends, 0).expect("inside chrono's range"),
        })
}

/// Ids as a forger would try them: anything, and ids shaped like ours with any room, time and MAC.
fn any_custom_id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "mj[12]:[^:]{0,40}:[+-]?[0-9]{0,25}:[0-9a-fA-F]{0,20}",
        "mj2:[^:]{0,10}(:[^:]{0,10}){0,4}",
        "(mm1:){0,3}\\PC{0,20}",
        Just("mj2:".to_owned()),
        Just("mj2:::".to_owned()),
        Just(format!("mj2:room:{}:0123456789abcdef", i64::MAX)),
        Just(format!("mj2:room:{}:0123456789abcdef", i64::MIN)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_clicked_id_is_refused_unless_it_is_one_the_bot_signed(
        id in any_custom_id(),
        guild in any::<u64>(),
    ) {
        match join_signer().parse(&id, guild) {
            // Accepted only if it is exactly what the bot makes for that target in that server.
            Ok(target) => {
                prop_assert_eq!(target.guild_id, guild);
                prop_assert_eq!(&join_signer().custom_id(&target), &id);
            }
            Err(Refused::OldFormat) => prop_assert!(id.starts_with("mj1:")),
            Err(Refused::Invalid) => {}
        }
        // The dispatcher's tests: a Join id and a scheduled one are never the same id.
        prop_assert!(!(JoinSigner::is_join(&id) && scheduled_meeting(&id).is_some()));
        match scheduled_meeting(&id) {
            Some(meeting) => prop_assert_eq!(format!("mm1:{meeting}"), id),
            None => prop_assert!(!id.starts_with("mm1:")),
        }
    }

    #[test]
    fn a_signed_id_reads_back_in_its_server_only_and_not_once_changed(
        target in any_target(),
        other in any::<u64>(),
        at in any::<prop::sample::Index>(),
        with in any::<char>(),
    ) {
        let signer = join_signer();
        let id = signer.custom_id(&target);
        prop_assert!(id.chars().count() <= 100, "{} characters", id.chars().count());
        prop_assert!(JoinSigner::is_join(&id));
        prop_assert_eq!(scheduled_meeting(&id), None);
        prop_assert_eq!(signer.parse(&id, target.guild_id), Ok(target.clone()));
        if other != target.guild_id {
            prop_assert_eq!(signer.parse(&id, other), Err(Refused::Invalid));
        }
        // One character replaced anywhere: refused (a change of case in the MAC's hex too).
        let mut chars: Vec<char> = id.chars().collect();
        let i = at.index(chars.len());
        if chars[i] != with {
            chars[i] = with;
            let changed: String = chars.into_iter().collect();
            prop_assert!(signer.parse(&changed, target.guild_id).is_err(), "{changed} accepted");
        }
        prop_assert!(JoinSigner::new(&Secret::new("another-token")).parse(&id, target.guild_id).is_err());
    }

    #[test]
    fn a_scheduled_id_names_exactly_its_meeting(meeting in prop_oneof![any::<String>(), "(mm1:){0,3}[A-Za-z0-9_-]{0,12}"]) {
        let id = scheduled(&meeting);
        prop_assert_eq!(scheduled_meeting(&id), Some(meeting.as_str()));
    }
}

// --- meetbot verify --key-server ---

/// A token whose header carries a `kid` (what the key server is asked for), or anything at all.
fn any_kid_token() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (any_json(), any_payload(), "[A-Za-z0-9_-]{0,80}").prop_map(|(kid, payload, sig)| {
            format!(
                "{}.{}.{sig}",
                b64(&json!({"alg": "RS256", "typ": "JWT", "kid": kid})),
                b64(&payload)
            )
        }),
        ("\\PC{0,80}", any_payload()).prop_map(|(kid, payload)| {
            format!(
                "{}.{}.c2ln",
                b64(&json!({"alg": "RS256", "kid": kid})),
                b64(&payload)
            )
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_key_server_and_token_get_a_verdict_with_short_details(
        token in any_kid_token(),
        // Nothing here reaches beyond this machine: a key server that is no URL, or one where nobody listens.
        server in prop_oneof![
            any::<String>().prop_filter("no URL", |s| !s.contains("://")),
            "http://127\\.0\\.0\\.1:1(/[a-zA-Z0-9%._~-]{0,12}){0,3}[?#]?\\PC{0,10}",
            "(ftp|file|data|javascript):\\PC{0,20}",
        ],
        issuers in proptest::collection::vec(any::<String>(), 0..3),
        audiences in proptest::collection::vec(any::<String>(), 0..3),
        room in proptest::option::of(any::<String>()),
        allow_wildcard in any::<bool>(),
        now in any_now(),
    ) {
        let mut trust = KeyServerTrust::prosody_defaults(&server, "my-app");
        if !issuers.is_empty() {
            trust.accepted_issuers = issuers;
        }
        if !audiences.is_empty() {
            trust.accepted_audiences = audiences;
        }
        trust.room = room;
        trust.allow_wildcard_room = allow_wildcard;
        // As `meetbot verify` fetches: every network allowed, plain http too.
        let fetcher = SafeFetcher::new(FetchPolicy {
            allow_networks: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
            allow_http: true,
            timeout: std::time::Duration::from_secs(2),
            ..FetchPolicy::default()
        })
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let verdict = rt.block_on(verify_via_key_server(&token, &trust, &fetcher, now));
        // Nothing was fetched, so nothing is accepted.
        prop_assert!(!verdict.accepted());
        assert_verdict(&verdict)?;
    }
}
