//! `/meetbot jitsi` end to end against the simulated Discord: servers set up their own Jitsi from Discord, meetbot
//! signs each server's links with that server's own key (or secret), the key server publishes the public halves, and
//! what admins type cannot reach the operator's network.

mod support;

use base64::Engine as _;
use chrono::Duration as Span;
use discord_sim::{RoleSpec, UserSpec};
use meetbot::clock::Clock as _;
use meetbot::fetch::{FetchPolicy, SafeFetcher};
use meetbot::jitsi::asap::{verify_via_key_server, KeyServerTrust};
use meetbot::jitsi::{verify, Algorithm, Expectations, Verdict, VerifyKey};
use meetbot::seal::MasterKey;
use meetbot::secret::Secret;
use serde_json::{json, Value};
use std::net::SocketAddr;
use support::*;

/// A second server, with its own admin.
const GUILD_B: u64 = 100_000_000_000_000_101;
const CHANNEL_B: u64 = 100_000_000_000_000_102;
const OWNER_B: u64 = 300_000_000_000_000_101;

/// A master key for the whole test binary (hex of 32 distinct bytes).
const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A Jitsi site on 127.0.0.1 whose config.js names `domain`; `/moved/config.js` redirects to `redirect_to`.
async fn jitsi_site(domain: &'static str, redirect_to: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = format!(
        "var config = {{\n  hosts: {{\n    domain: '{domain}',\n    muc: 'conference.{domain}'\n  }},\n}};\n"
    );
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "Jitsi Meet" }))
        .route(
            "/config.js",
            axum::routing::get(move || {
                let c = config.clone();
                async move { c }
            }),
        )
        .route(
            "/moved/config.js",
            axum::routing::get(
                move || async move { axum::response::Redirect::temporary(redirect_to) },
            ),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The environment for a bot that serves servers' own Jitsi: a master key, the key server on a loopback port, and
/// (when `open`) fetching opened to loopback over plain http, as tests need and as an operator would for a LAN.
fn own_env(port: u16, open: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("MEETBOT_MASTER_KEY".to_string(), MASTER.to_string()),
        (
            "MEETBOT_HTTP_LISTEN".to_string(),
            format!("127.0.0.1:{port}"),
        ),
        (
            "MEETBOT_HTTP_PUBLIC_URL".to_string(),
            format!("http://127.0.0.1:{port}"),
        ),
    ];
    if open {
        env.push((
            "MEETBOT_FETCH_ALLOW_NETWORKS".to_string(),
            "127.0.0.1/32".to_string(),
        ));
        env.push(("MEETBOT_FETCH_ALLOW_HTTP".to_string(), "true".to_string()));
    }
    env
}

async fn start(port: u16, open: bool) -> Harness {
    let env = own_env(port, open);
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Harness::start_with(&refs, |sim| {
        sim.add_guild(GUILD_B, "Other community", OWNER_B);
        sim.add_role(GUILD_B, RoleSpec::new(ROLE_MODS + 100, "Moderators", 0, 2));
        sim.add_text_channel(GUILD_B, CHANNEL_B, "general");
        sim.add_member(GUILD_B, UserSpec::new(OWNER_B, "owner-b"), &[]);
    })
    .await
}

fn jitsi_cmd(sub: &str, options: Value) -> Value {
    json!([{ "name": "jitsi", "type": 2, "options": [{ "name": sub, "type": 1, "options": options }] }])
}

async fn jitsi_in(h: &Harness, guild: u64, user: u64, sub: &str, options: Value) -> String {
    let channel = if guild == GUILD { CHANNEL } else { CHANNEL_B };
    let i = h
        .sim
        .invoke_command(guild, channel, user, "meetbot", jitsi_cmd(sub, options))
        .await
        .expect("dispatch");
    h.reply_containing(&i, "").await
}

async fn jitsi(h: &Harness, user: u64, sub: &str, options: Value) -> String {
    jitsi_in(h, GUILD, user, sub, options).await
}

/// `/meet` in `guild` as its owner; the one token of the reply.
async fn meet_token(h: &Harness, guild: u64) -> (String, String) {
    let (channel, user) = if guild == GUILD {
        (CHANNEL, ALICE)
    } else {
        (CHANNEL_B, OWNER_B)
    };
    let i = h
        .sim
        .invoke_command(
            guild,
            channel,
            user,
            "meet",
            json!([opt("topic", "standup")]),
        )
        .await
        .expect("dispatch /meet");
    let reply = h.reply_containing(&i, "Meeting id: `").await;
    let tokens = tokens_in(&reply);
    assert_eq!(tokens.len(), 1, "{reply}");
    (tokens[0].clone(), reply)
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn loopback_fetcher() -> SafeFetcher {
    SafeFetcher::new(FetchPolicy {
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        allow_http: true,
        ..FetchPolicy::default()
    })
    .unwrap()
}

/// What the server `guild`'s Prosody is configured with, per the lines `/meetbot jitsi setup` gave.
fn trust(port: u16, guild: u64, domain: &str, room: &str) -> KeyServerTrust {
    KeyServerTrust {
        asap_key_server: format!("http://127.0.0.1:{port}/asap/{guild}"),
        accepted_issuers: vec![format!("meetbot-{guild}")],
        accepted_audiences: vec!["jitsi".into()],
        sub: Some(domain.into()),
        room: Some(room.into()),
        allow_wildcard_room: false,
    }
}

async fn judge(token: &str, trust: &KeyServerTrust, at: chrono::DateTime<chrono::Utc>) -> Verdict {
    verify_via_key_server(token, trust, &loopback_fetcher(), at).await
}

fn failed(v: &Verdict) -> Vec<String> {
    v.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

/// Nothing secret in `text`: no private key, no sealed value, no shared secret.
fn assert_no_secret(text: &str, secrets: &[&str]) {
    assert!(
        !text.contains("PRIVATE KEY"),
        "a private key leaked: {text}"
    );
    assert!(!text.contains("mbs1."), "a sealed value leaked: {text}");
    for s in secrets {
        assert!(!text.contains(s), "a secret leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_loopback_private_and_metadata_addresses_unless_the_operator_allows_them() {
    let site = jitsi_site("meet.a.test", "http://169.254.169.254/config.js").await;
    let port = free_port();
    let closed = start(port, false).await;
    for (typed, why) in [
        (format!("https://127.0.0.1:{}", site.port()), "loopback"),
        ("https://10.0.0.1".to_string(), "private address"),
        ("https://169.254.169.254".to_string(), "link-local"),
    ] {
        let answer = jitsi(&closed, OWNER, "setup", json!([opt("site", typed.clone())])).await;
        assert!(answer.contains(why), "{typed}: {answer}");
        assert!(answer.contains("Nothing was changed"), "{answer}");
    }
    // Plain http is refused as such while closed.
    let answer = jitsi(
        &closed,
        OWNER,
        "setup",
        json!([opt("site", format!("http://127.0.0.1:{}", site.port()))]),
    )
    .await;
    assert!(answer.contains("http"), "{answer}");
    assert_eq!(closed.store.tenant_jitsi(GUILD).await.unwrap(), None);
    closed.finish().await;

    // Opened to loopback (as the tests need): the site itself is read, but a redirect to the metadata address and a
    // private address typed directly stay refused.
    let open = start(free_port(), true).await;
    let answer = jitsi(
        &open,
        OWNER,
        "setup",
        json!([
            opt("site", format!("http://127.0.0.1:{}/", site.port())),
            opt("tenant", "moved")
        ]),
    )
    .await;
    assert!(
        answer.contains("169.254.169.254") && answer.contains("link-local"),
        "{answer}"
    );
    let answer = jitsi(
        &open,
        OWNER,
        "setup",
        json!([opt("site", "http://10.0.0.1")]),
    )
    .await;
    assert!(answer.contains("private address"), "{answer}");
    assert_eq!(open.store.tenant_jitsi(GUILD).await.unwrap(), None);
    let answer = jitsi(
        &open,
        OWNER,
        "setup",
        json!([opt("site", format!("http://127.0.0.1:{}", site.port()))]),
    )
    .await;
    assert!(answer.contains("VirtualHost \"meet.a.test\""), "{answer}");
    open.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_meet_on_their_own_jitsi_with_their_own_keys_and_rotation_keeps_old_links() {
    let site_a = jitsi_site("meet.a.test", "/").await;
    let site_b = jitsi_site("meet.b.test", "/").await;
    let port = free_port();
    let mut h = start(port, true).await;
    h.sim.copy_guild_commands(GUILD, GUILD_B);

    // Before any setup, the operator's default Jitsi signs (HS256).
    let (default_token, _) = meet_token(&h, GUILD).await;
    assert_eq!(header(&default_token)["alg"], "HS256");

    let answer = jitsi(
        &h,
        OWNER,
        "setup",
        json!([opt("site", format!("http://127.0.0.1:{}", site_a.port()))]),
    )
    .await;
    for line in [
        "VirtualHost \"meet.a.test\"".to_string(),
        "authentication = \"token\"".to_string(),
        format!("asap_key_server = \"http://127.0.0.1:{port}/asap/{GUILD}\""),
        format!("asap_accepted_issuers = {{ \"meetbot-{GUILD}\" }}"),
        "asap_accepted_audiences = { \"jitsi\" }".to_string(),
        format!("JWT_ASAP_KEYSERVER=http://127.0.0.1:{port}/asap/{GUILD}"),
        "AUTH_TYPE=jwt".to_string(),
    ] {
        assert!(answer.contains(&line), "missing {line:?} in {answer}");
    }
    assert_no_secret(&answer, &[]);
    let answer_b = jitsi_in(
        &h,
        GUILD_B,
        OWNER_B,
        "setup",
        json!([opt("site", format!("http://127.0.0.1:{}", site_b.port()))]),
    )
    .await;
    assert!(
        answer_b.contains("VirtualHost \"meet.b.test\""),
        "{answer_b}"
    );

    // Each server's link: its own site, its own key, its own sub and iss; accepted through its own key URL.
    let (token_a, reply_a) = meet_token(&h, GUILD).await;
    let (token_b, reply_b) = meet_token(&h, GUILD_B).await;
    assert!(
        reply_a.contains(&format!("http://127.0.0.1:{}/standup", site_a.port())),
        "{reply_a}"
    );
    assert!(
        reply_b.contains(&format!("http://127.0.0.1:{}/standup", site_b.port())),
        "{reply_b}"
    );
    let (ha, hb) = (header(&token_a), header(&token_b));
    assert_eq!(
        (ha["alg"].as_str(), hb["alg"].as_str()),
        (Some("RS256"), Some("RS256"))
    );
    assert_ne!(ha["kid"], hb["kid"]);
    let (ca, cb) = (decode_claims(&token_a), decode_claims(&token_b));
    assert_eq!(
        (ca["sub"].as_str(), cb["sub"].as_str()),
        (Some("meet.a.test"), Some("meet.b.test"))
    );
    assert_eq!(ca["iss"], format!("meetbot-{GUILD}"));
    assert_eq!(cb["iss"], format!("meetbot-{GUILD_B}"));
    let trust_a = trust(port, GUILD, "meet.a.test", ca["room"].as_str().unwrap());
    let trust_b = trust(port, GUILD_B, "meet.b.test", cb["room"].as_str().unwrap());
    let v = judge(&token_a, &trust_a, h.now()).await;
    assert!(v.accepted(), "{}", v.render());
    let v = judge(&token_b, &trust_b, h.now()).await;
    assert!(v.accepted(), "{}", v.render());
    // A's token at B's Prosody: B's key URL does not have A's key, and the issuer is not B's.
    let v = judge(&token_a, &trust_b, h.now()).await;
    assert!(!v.accepted());
    let why = failed(&v).join("; ");
    assert!(why.contains("key"), "{why}");
    let mut b_with_a_key_url = trust_b.clone();
    b_with_a_key_url.asap_key_server = trust_a.asap_key_server.clone();
    let why = failed(&judge(&token_a, &b_with_a_key_url, h.now()).await).join("; ");
    assert!(why.contains("iss") && why.contains("sub"), "{why}");

    // `test` checks the token, the key URL and the site.
    let answer = jitsi(&h, OWNER, "test", json!([])).await;
    assert!(answer.contains("✅ the key URL serves"), "{answer}");
    assert!(answer.contains("All good"), "{answer}");
    let shown = jitsi(&h, OWNER, "show", json!([])).await;
    assert!(shown.contains(ha["kid"].as_str().unwrap()), "{shown}");
    assert!(shown.contains(&format!("/asap/{GUILD}")), "{shown}");
    assert_no_secret(&shown, &[]);

    // Rotation: new links carry the new key; the old link keeps working until it expires, then its key goes.
    let rotated = jitsi(&h, OWNER, "rotate-key", json!([])).await;
    assert!(rotated.contains("stays at the key URL until"), "{rotated}");
    let (token_a2, _) = meet_token(&h, GUILD).await;
    assert_ne!(header(&token_a2)["kid"], ha["kid"]);
    let old_exp = ca["exp"].as_i64().unwrap();
    let just_before = chrono::DateTime::from_timestamp(old_exp - 5, 0).unwrap();
    h.clock.set(just_before);
    let v = judge(&token_a, &trust_a, just_before).await;
    assert!(
        v.accepted(),
        "the old link still works before it expires: {}",
        v.render()
    );
    let mut trust_a2 = trust_a.clone();
    trust_a2.room = decode_claims(&token_a2)["room"].as_str().map(str::to_owned);
    let v = judge(&token_a2, &trust_a2, just_before).await;
    assert!(v.accepted(), "{}", v.render());
    // Long after: the retired key is no longer served (404), the current one still is.
    let later = h.now() + Span::days(3);
    h.clock.set(later);
    let old_hash = meetbot::jitsi::keys::sha256_hex(ha["kid"].as_str().unwrap());
    let url = format!("http://127.0.0.1:{port}/asap/{GUILD}/{old_hash}.pem");
    let got = loopback_fetcher().get(&url).await.unwrap();
    assert_eq!(got.status, 404);
    let jwks = loopback_fetcher()
        .get(&format!("http://127.0.0.1:{port}/asap/{GUILD}/jwks.json"))
        .await
        .unwrap();
    let jwks: Value = serde_json::from_slice(&jwks.body).unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![header(&token_a2)["kid"].as_str().unwrap()]);
    for k in jwks["keys"].as_array().unwrap() {
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "only public parts: {k}"
        );
    }

    // Reset: back to the operator's Jitsi.
    let reset = jitsi(&h, OWNER, "reset", json!([])).await;
    assert!(reset.contains("default Jitsi again"), "{reset}");
    let (after, _) = meet_token(&h, GUILD).await;
    assert_eq!(header(&after)["alg"], "HS256");

    // Every change is in the audit trail, without secrets.
    let audit = h.store.recent_audit(GUILD, None, 50).await.unwrap();
    let own: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "own_jitsi")
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(own.iter().any(|d| d.contains("rotated")));
    assert!(own.iter().any(|d| d.contains("removed")));
    assert_no_secret(&format!("{own:?}"), &[]);
    assert_no_secret(&logs(), &[MASTER]);

    // A restart with a wrong or missing master key stops the start, with a clear message.
    h.bot.take().unwrap().shutdown().await.unwrap();
    for key in [
        "",
        "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100",
    ] {
        let mut env = h.env.clone();
        env.insert("MEETBOT_MASTER_KEY".into(), key.into());
        let store = meetbot::store::Store::open(&h.db_url).await.unwrap();
        let err = meetbot::discord::start_with(
            config_from(&env),
            meetbot::discord::StartOptions {
                clock: std::sync::Arc::new(h.clock.clone()),
                run_scheduler: false,
                store: Some(store),
            },
        )
        .await
        .err()
        .expect("the start is refused");
        assert!(err.to_string().contains("MEETBOT_MASTER_KEY"), "{err}");
    }
    h.store = meetbot::store::Store::open(&h.db_url).await.unwrap();
    h.connect().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_manage_server_can_neither_read_nor_change_the_setup() {
    let site = jitsi_site("meet.a.test", "/").await;
    let h = start(free_port(), true).await;
    let typed = format!("http://127.0.0.1:{}", site.port());
    jitsi(&h, OWNER, "setup", json!([opt("site", typed.clone())])).await;
    let before = h.store.tenant_jitsi(GUILD).await.unwrap().unwrap();
    for who in [BOB, ALICE] {
        for (sub, options) in [
            ("show", json!([])),
            ("test", json!([])),
            ("setup", json!([opt("site", typed.clone())])),
            ("rotate-key", json!([])),
            ("reset", json!([])),
        ] {
            let answer = jitsi(&h, who, sub, options).await;
            assert!(
                answer.contains("needs the **Manage Server** permission"),
                "{sub}: {answer}"
            );
            assert!(
                !answer.contains("meet.a.test"),
                "{sub} shows the setup: {answer}"
            );
        }
        let i = h
            .sim
            .submit_modal(
                GUILD,
                CHANNEL,
                who,
                "meetbot:jitsi-secret",
                &[
                    ("site", &typed),
                    ("app_id", "x"),
                    ("secret", "a-long-enough-secret-0123456789"),
                ],
            )
            .await
            .unwrap();
        let answer = h.reply_containing(&i, "").await;
        assert!(
            answer.contains("needs the **Manage Server** permission"),
            "{answer}"
        );
    }
    assert_eq!(h.store.tenant_jitsi(GUILD).await.unwrap().unwrap(), before);
    assert_eq!(
        h.store
            .current_signing_key(GUILD)
            .await
            .unwrap()
            .unwrap()
            .generation,
        1
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_own_shared_secret_is_typed_into_a_modal_stored_sealed_and_never_echoed() {
    const THEIR_SECRET: &str = "their-own-prosody-secret-5f2b9c0e7a1d";
    let site = jitsi_site("meet.a.test", "/").await;
    let h = start(free_port(), true).await;
    let typed = format!("http://127.0.0.1:{}", site.port());
    let i = h
        .command(
            OWNER,
            "meetbot",
            jitsi_cmd(
                "setup-secret",
                json!([opt("site", typed.clone()), opt("app_id", "their-app")]),
            ),
        )
        .await;
    // The command answers with the form (callback type 9): site and app_id prefilled, the secret field empty.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let modal = loop {
        if let Some(r) = h
            .sim
            .interaction_responses(&i.token)
            .into_iter()
            .find(|r| r.body["type"] == 9)
        {
            break r.body;
        }
        assert!(std::time::Instant::now() < deadline, "no modal");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(modal["data"]["custom_id"], "meetbot:jitsi-secret");
    let inputs: Vec<&Value> = modal["data"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row["components"][0])
        .collect();
    assert_eq!(inputs.len(), 3);
    assert_eq!(inputs[2]["custom_id"], "secret");
    assert!(inputs[2].get("value").is_none_or(Value::is_null), "{modal}");

    let i = h
        .sim
        .submit_modal(
            GUILD,
            CHANNEL,
            OWNER,
            "meetbot:jitsi-secret",
            &[
                ("site", &typed),
                ("app_id", "their-app"),
                ("secret", THEIR_SECRET),
            ],
        )
        .await
        .unwrap();
    let answer = h.reply_containing(&i, "shared secret").await;
    assert!(answer.contains("meet.a.test"), "{answer}");
    assert_no_secret(&answer, &[THEIR_SECRET]);

    let stored = h.store.tenant_jitsi(GUILD).await.unwrap().unwrap();
    let sealed = stored.sealed_secret.clone().unwrap();
    assert!(!sealed.contains(THEIR_SECRET));
    let (token, _) = meet_token(&h, GUILD).await;
    assert_eq!(header(&token)["alg"], "HS256");
    let mut settings = meetbot::jitsi::JitsiSettings::for_tests(THEIR_SECRET);
    settings.app_id = "their-app".into();
    settings.xmpp_domain = "meet.a.test".into();
    let room = decode_claims(&token)["room"].as_str().unwrap().to_owned();
    let mut expect = Expectations::from_settings(&settings, Some(&room)).unwrap();
    expect.algorithm = Algorithm::Hs256;
    expect.key = VerifyKey::Hmac(Secret::new(THEIR_SECRET));
    expect.issuers = vec!["their-app".into()];
    expect.audience = Some("jitsi".into());
    expect.sub = Some("meet.a.test".into());
    let v = verify(&token, &expect, h.now());
    assert!(v.accepted(), "{}", v.render());
    let answer = jitsi(&h, OWNER, "test", json!([])).await;
    assert!(answer.contains("All good"), "{answer}");
    let shown = jitsi(&h, OWNER, "show", json!([])).await;
    let audit = format!("{:?}", h.store.recent_audit(GUILD, None, 50).await.unwrap());
    for text in [&shown, &answer, &audit, &logs()] {
        assert_no_secret(text, &[THEIR_SECRET]);
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jaas_key_uploaded_as_an_attachment_signs_the_servers_links() {
    let h = start(free_port(), true).await;
    let pair = meetbot::jitsi::keys::generate(1, 1, &mut rand::rngs::OsRng).unwrap();
    let file = h.sim.add_attachment(
        "jaas.pk",
        "application/octet-stream",
        pair.private_pem.expose().as_bytes(),
    );
    let app_id = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef";
    let answer = jitsi(
        &h,
        OWNER,
        "setup-jaas",
        json!([opt("app_id", app_id), opt("key_id", format!("{app_id}/4f4910")), { "name": "private_key", "type": 11, "value": file.to_string() }]),
    )
    .await;
    assert!(answer.contains("8x8 JaaS"), "{answer}");
    assert_no_secret(&answer, &[]);
    let (token, reply) = meet_token(&h, GUILD).await;
    assert!(
        reply.contains(&format!("https://8x8.vc/{app_id}/standup")),
        "{reply}"
    );
    assert_eq!(header(&token)["kid"], format!("{app_id}/4f4910"));
    let claims = decode_claims(&token);
    assert_eq!(claims["sub"], app_id);
    assert_eq!(claims["iss"], "chat");
    let stored = h.store.tenant_jitsi(GUILD).await.unwrap().unwrap();
    assert!(!stored.sealed_secret.unwrap().contains("PRIVATE KEY"));

    // A file that is too big is refused before it is read.
    let big = h
        .sim
        .add_attachment("big.pk", "application/octet-stream", &vec![b'a'; 64 * 1024]);
    let answer = jitsi(
        &h,
        OWNER,
        "setup-jaas",
        json!([opt("app_id", app_id), opt("key_id", "k2"), { "name": "private_key", "type": 11, "value": big.to_string() }]),
    )
    .await;
    assert!(answer.contains("a private key is a few KiB"), "{answer}");
    assert_no_secret(&logs(), &[]);

    // The database goes down: the setup last read still signs, for the server's own Jitsi, not the operator's.
    h.store.close().await;
    let i = h.meet(ALICE, json!([opt("topic", "outage")])).await;
    let reply = h.reply_containing(&i, "The database is unavailable").await;
    let tokens = tokens_in(&reply);
    assert_eq!(tokens.len(), 1, "{reply}");
    assert_eq!(header(&tokens[0])["kid"], format!("{app_id}/4f4910"));
    h.finish().await;
}

#[test]
fn the_test_master_key_is_a_valid_one() {
    assert!(MasterKey::parse(MASTER).is_ok());
    let _ = meetbot::clock::SystemClock.now();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_default_jitsi_a_server_is_told_how_to_set_one_up_and_then_meets_on_its_own() {
    let site = jitsi_site("meet.a.test", "/").await;
    let mut env = own_env(free_port(), true);
    // No operator Jitsi at all (blank counts as unset): only servers' own.
    for k in ["JWT_APP_SECRET", "PUBLIC_URL", "JWT_APP_ID", "XMPP_DOMAIN"] {
        env.push((k.to_string(), String::new()));
    }
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let h = Harness::start_with(&refs, |_| {}).await;
    let i = h.meet(ALICE, json!([opt("topic", "standup")])).await;
    let answer = h.reply_containing(&i, "no Jitsi yet").await;
    assert!(answer.contains("/meetbot jitsi setup"), "{answer}");
    assert!(tokens_in(&answer).is_empty());
    let shown = jitsi(&h, OWNER, "show", json!([])).await;
    assert!(shown.contains("no Jitsi yet"), "{shown}");
    jitsi(
        &h,
        OWNER,
        "setup",
        json!([opt("site", format!("http://127.0.0.1:{}", site.port()))]),
    )
    .await;
    let (token, _) = meet_token(&h, GUILD).await;
    assert_eq!(decode_claims(&token)["sub"], "meet.a.test");
    h.finish().await;
}
