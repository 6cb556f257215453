//! Every server its own Jitsi: the store (both backends), the start-up master-key check, and the key server
//! with tokens verified through it exactly as Jitsi's token code does.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use meetbot::clock::{Clock, ManualClock, SharedClock};
use meetbot::fetch::{FetchPolicy, SafeFetcher};
use meetbot::jitsi::asap::{verify_via_key_server, KeyServerTrust};
use meetbot::jitsi::keys::{key_url, sha256_hex, Jwks};
use meetbot::jitsi::{Grant, Identity, JitsiSettings, Room, Verdict};
use meetbot::seal::MasterKey;
use meetbot::store::{KeyInstall, SigningKeyRecord, Store, TenantJitsi, TenantKind};
use meetbot::tenant::{
    self, asap_key_server_for, check_master_key, default_issuer, MasterKeyState, Rotation,
    SetupRequest, SetupSigner, TenantError, Tenants,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

#[path = "support/db.rs"]
mod db;

use db::TestDb;

const A: u64 = 1_100_000_000_000_000_001;
const B: u64 = 1_200_000_000_000_000_002;
const ADMIN: u64 = 3_300_000_000_000_000_003;
const HOUR: Duration = Duration::from_secs(3600);

on_both_backends!(
    setup_is_stored_replaced_listed_without_secrets_and_reset,
    keys_rotate_and_retired_ones_are_served_until_serve_until,
    two_instances_installing_at_once_leave_exactly_one_current_key,
    canary_is_stored_once_and_the_first_one_stays,
    start_refuses_a_missing_or_wrong_master_key_once_data_is_sealed,
);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn setup(guild: u64, kind: TenantKind) -> TenantJitsi {
    TenantJitsi {
        guild_id: guild,
        kind,
        site_url: "https://meet.example.org/".into(),
        xmpp_domain: "meet.example.org".into(),
        muc: Some("conference.meet.example.org".into()),
        tenant: None,
        issuer: default_issuer(guild),
        audience: "jitsi".into(),
        jaas_app_id: None,
        jaas_key_id: None,
        sealed_secret: (kind != TenantKind::Asap).then(|| "mbs1.sealed-secret-stand-in".into()),
        updated_by: ADMIN,
        updated_at: now(),
    }
}

fn fake_key(guild: u64, generation: i64, tag: &str) -> SigningKeyRecord {
    let kid = format!("meetbot/{guild}/{generation}-{tag}");
    SigningKeyRecord {
        guild_id: guild,
        kid_sha256: sha256_hex(&kid),
        kid,
        generation,
        public_pem: format!("public-{tag}"),
        sealed_private_key: format!("mbs1.private-{tag}"),
        created_at: now(),
        retired_at: None,
        serve_until: None,
    }
}

async fn setup_is_stored_replaced_listed_without_secrets_and_reset(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.tenant_jitsi(A).await.unwrap(), None);
    assert_eq!(
        s.set_tenant_jitsi(&setup(A, TenantKind::Hs256))
            .await
            .unwrap(),
        None
    );
    let mut changed = setup(A, TenantKind::Asap);
    changed.tenant = Some("acme".into());
    let old = s.set_tenant_jitsi(&changed).await.unwrap().unwrap();
    assert_eq!(old.kind, TenantKind::Hs256);
    assert_eq!(s.tenant_jitsi(A).await.unwrap().unwrap(), changed);
    s.set_tenant_jitsi(&setup(B, TenantKind::Jaas))
        .await
        .unwrap();
    s.install_signing_key(&fake_key(A, 1, "a1"), None, now())
        .await
        .unwrap();

    let list = s.tenant_jitsi_list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0].guild_id, list[0].kind), (A, TenantKind::Asap));
    assert_eq!(list[0].sub, "acme", "the tenant is the sub");
    assert_eq!(
        list[0].current_kid.as_deref(),
        Some("meetbot/1100000000000000001/1-a1")
    );
    assert_eq!(list[1].current_kid, None);
    let printed = format!("{list:?} {:?}", s.tenant_jitsi(B).await.unwrap());
    assert!(!printed.contains("sealed-secret-stand-in"), "{printed}");
    assert!(!printed.contains("private-a1"), "{printed}");

    let until = now() + Span::hours(3);
    let removed = s
        .reset_tenant_jitsi(A, now(), until)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed, changed);
    assert_eq!(s.tenant_jitsi(A).await.unwrap(), None);
    assert_eq!(s.current_signing_key(A).await.unwrap(), None);
    let hash = sha256_hex("meetbot/1100000000000000001/1-a1");
    let served = s.served_public_key(A, &hash, now()).await.unwrap().unwrap();
    assert_eq!(served.serve_until, Some(until));
    assert_eq!(s.served_public_key(A, &hash, until).await.unwrap(), None);
    assert_eq!(s.reset_tenant_jitsi(A, now(), until).await.unwrap(), None);
    // Sealed values still exist (B's secret, A's retired key), so a master key stays required.
    assert_eq!(s.sealed_value_count().await.unwrap(), 2);
}

async fn keys_rotate_and_retired_ones_are_served_until_serve_until(db: &TestDb) {
    let s = &db.store;
    let first = fake_key(A, 1, "one");
    assert_eq!(
        s.install_signing_key(&first, None, now()).await.unwrap(),
        KeyInstall::Installed { retired: None }
    );
    assert_eq!(s.latest_key_generation(A).await.unwrap(), 1);
    assert_eq!(s.latest_key_generation(B).await.unwrap(), 0);

    let until = now() + Span::hours(2);
    let mut second = fake_key(A, 2, "two");
    second.created_at = now() + Span::minutes(1);
    assert_eq!(
        s.install_signing_key(&second, Some(1), until)
            .await
            .unwrap(),
        KeyInstall::Installed {
            retired: Some(first.kid.clone())
        }
    );
    let current = s.current_signing_key(A).await.unwrap().unwrap();
    assert_eq!(
        (current.kid.as_str(), current.generation),
        (second.kid.as_str(), 2)
    );
    let old = |at| s.served_public_key(A, &first.kid_sha256, at);
    assert_eq!(
        old(now() + Span::minutes(90))
            .await
            .unwrap()
            .unwrap()
            .public_pem,
        "public-one"
    );
    assert_eq!(
        old(until - Span::seconds(1)).await.unwrap().unwrap().kid,
        first.kid
    );
    assert_eq!(
        old(until).await.unwrap(),
        None,
        "not served from serve_until on"
    );
    assert!(s
        .served_public_key(A, &second.kid_sha256, until + Span::days(400))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        s.served_public_key(B, &second.kid_sha256, now())
            .await
            .unwrap(),
        None,
        "a key is served only under its own server"
    );
    let all = s
        .served_public_keys(A, now() + Span::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        [second.kid.as_str(), first.kid.as_str()]
    );
    assert_eq!(s.served_public_keys(A, until).await.unwrap().len(), 1);
}

async fn two_instances_installing_at_once_leave_exactly_one_current_key(db: &TestDb) {
    let other = Store::open(&db.url).await.expect("second pool");
    for round in 0..4i64 {
        // Both instances read the same current generation and race to replace it.
        let replaces = (round > 0).then_some(round);
        let g = round + 1;
        let (x, y) = (
            fake_key(A, g, &format!("x{g}")),
            fake_key(A, g, &format!("y{g}")),
        );
        let until = now() + Span::hours(1);
        let (s1, s2) = (db.store.clone(), other.clone());
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { s1.install_signing_key(&x, replaces, until).await }),
            tokio::spawn(async move { s2.install_signing_key(&y, replaces, until).await }),
        );
        let outcomes = [r1.unwrap().unwrap(), r2.unwrap().unwrap()];
        let installed = outcomes
            .iter()
            .filter(|o| matches!(o, KeyInstall::Installed { .. }))
            .count();
        assert_eq!(installed, 1, "round {round}: {outcomes:?}");
        let current = db.store.current_signing_key(A).await.unwrap().unwrap();
        assert_eq!(current.generation, g);
        for o in &outcomes {
            if let KeyInstall::Superseded { current: winner } = o {
                assert_eq!(winner.kid, current.kid, "the loser is told which key won");
            }
        }
    }
    assert_eq!(
        db.store.served_public_keys(A, now()).await.unwrap().len(),
        4
    );
    other.close().await;
}

async fn canary_is_stored_once_and_the_first_one_stays(db: &TestDb) {
    assert_eq!(db.store.seal_canary().await.unwrap(), None);
    assert_eq!(
        db.store
            .init_seal_canary("mbs1.first", now())
            .await
            .unwrap(),
        "mbs1.first"
    );
    assert_eq!(
        db.store
            .init_seal_canary("mbs1.second", now())
            .await
            .unwrap(),
        "mbs1.first"
    );
}

async fn start_refuses_a_missing_or_wrong_master_key_once_data_is_sealed(db: &TestDb) {
    let s = &db.store;
    let key = MasterKey::generate(&mut rand::rngs::OsRng);
    let other = MasterKey::generate(&mut rand::rngs::OsRng);
    assert_eq!(
        check_master_key(s, None, now()).await.unwrap(),
        MasterKeyState::Absent
    );
    assert_eq!(
        check_master_key(s, Some(&key), now()).await.unwrap(),
        MasterKeyState::Ready
    );
    assert_eq!(
        check_master_key(s, Some(&key), now()).await.unwrap(),
        MasterKeyState::Ready
    );
    let missing = check_master_key(s, None, now()).await.unwrap_err();
    assert!(
        matches!(missing, TenantError::MasterKeyMissing),
        "{missing}"
    );
    assert!(
        missing
            .to_string()
            .contains("MEETBOT_MASTER_KEY is not set"),
        "{missing}"
    );
    let wrong = check_master_key(s, Some(&other), now()).await.unwrap_err();
    assert!(matches!(wrong, TenantError::WrongMasterKey), "{wrong}");
    assert!(wrong.to_string().contains("MEETBOT_MASTER_KEY"), "{wrong}");
}

#[tokio::test]
async fn sealed_data_without_a_master_key_or_canary_stops_the_start() {
    let db = db::sqlite_db().await;
    db.store
        .set_tenant_jitsi(&setup(A, TenantKind::Hs256))
        .await
        .unwrap();
    assert!(matches!(
        check_master_key(&db.store, None, now()).await,
        Err(TenantError::MasterKeyMissing)
    ));
    let key = MasterKey::generate(&mut rand::rngs::OsRng);
    assert!(matches!(
        check_master_key(&db.store, Some(&key), now()).await,
        Err(TenantError::CanaryMissing)
    ));
}

// ---- the key server, with real keys: every test below makes one or two (fast with the dev profile) ----

fn operator_defaults() -> JitsiSettings {
    let mut s = JitsiSettings::for_tests("operator-default-secret-0123456789");
    s.lifetime = Duration::from_secs(3600);
    s
}

/// A running key server and meetbot's side of it.
struct Bed {
    _db: TestDb,
    tenants: Tenants,
    clock: ManualClock,
    base: Url,
    fetcher: SafeFetcher,
}

async fn bed() -> Bed {
    let db = db::sqlite_db().await;
    let clock = ManualClock::new(now());
    let shared: SharedClock = Arc::new(clock.clone());
    let key = MasterKey::generate(&mut rand::rngs::OsRng);
    let tenants = Tenants::start(db.store.clone(), Some(key), shared.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let app = tenant::http::router(db.store.clone(), shared);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fetcher = SafeFetcher::new(FetchPolicy {
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        allow_http: true,
        ..FetchPolicy::default()
    })
    .unwrap();
    Bed {
        _db: db,
        tenants,
        clock,
        base: Url::parse(&format!("http://{addr}/")).unwrap(),
        fetcher,
    }
}

fn asap_request(guild: u64, site: &str, domain: &str) -> SetupRequest {
    SetupRequest {
        guild_id: guild,
        actor_id: ADMIN,
        site_url: Url::parse(site).unwrap(),
        tenant: None,
        xmpp_domain: domain.into(),
        muc: Some(format!("conference.{domain}")),
        issuer: None,
        audience: None,
        signer: SetupSigner::Asap,
    }
}

impl Bed {
    /// `/meetbot jitsi setup` for a site `https://<domain>/` trusting meetbot's keys.
    async fn set_up_asap(&self, guild: u64, domain: &str) {
        let site = format!("https://{domain}/");
        self.tenants
            .set_up(
                asap_request(guild, &site, domain),
                &operator_defaults(),
                HOUR,
            )
            .await
            .unwrap();
    }

    async fn mint(&self, guild: u64, room: &str) -> String {
        let minter = self
            .tenants
            .minter(guild, &operator_defaults())
            .await
            .unwrap()
            .expect("the server has its own Jitsi");
        let grant = Grant::new(
            Room::from_normalized(room.into()).unwrap(),
            Identity {
                id: "555".into(),
                name: "Ana".into(),
                avatar: None,
                email: None,
            },
            true,
            self.clock.now(),
            minter.settings(),
        );
        minter.mint(&grant).unwrap().token.expose().to_owned()
    }

    /// What the server's Prosody is told to configure, as `/meetbot jitsi setup` will print it.
    fn trust(&self, guild: u64, domain: &str, room: &str) -> KeyServerTrust {
        KeyServerTrust {
            accepted_issuers: vec![default_issuer(guild)],
            accepted_audiences: vec!["jitsi".into()],
            sub: Some(domain.into()),
            room: Some(room.into()),
            ..KeyServerTrust::prosody_defaults(&asap_key_server_for(&self.base, guild), "unused")
        }
    }

    async fn judge(&self, token: &str, trust: &KeyServerTrust) -> Verdict {
        verify_via_key_server(token, trust, &self.fetcher, self.clock.now()).await
    }
}

fn failed(v: &Verdict) -> Vec<String> {
    v.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_token_verifies_through_the_key_server_exactly_as_jitsi_does() {
    let bed = bed().await;
    bed.set_up_asap(A, "meet.a.example").await;
    let token = bed.mint(A, "standup").await;
    let trust = bed.trust(A, "meet.a.example", "standup");
    let verdict = bed.judge(&token, &trust).await;
    assert!(verdict.accepted(), "{}", verdict.render());
    let names: Vec<&str> = verdict.checks.iter().map(|c| c.name).collect();
    assert_eq!(&names[..2], ["kid", "key"]);
    assert!(names.contains(&"signature") && names.contains(&"iss") && names.contains(&"aud"));

    // Prosody joins with "/" without trimming; the key server answers the doubled slash too.
    let mut slashed = trust.clone();
    slashed.asap_key_server.push('/');
    assert!(bed.judge(&token, &slashed).await.accepted());

    // A Prosody that accepts other issuers or audiences only rejects it as Jitsi would.
    let mut strict = trust.clone();
    strict.accepted_issuers = vec!["someone-else".into()];
    strict.accepted_audiences = vec!["Jitsi".into()];
    let v = bed.judge(&token, &strict).await;
    let f = failed(&v);
    assert!(f.iter().any(|l| l.starts_with("iss:")), "{f:?}");
    assert!(f.iter().any(|l| l.starts_with("aud:")), "{f:?}");
    // Prosody's defaults (iss = app_id, any aud) accept it when app_id is the server's issuer.
    let defaults = KeyServerTrust::prosody_defaults(&trust.asap_key_server, &default_issuer(A));
    assert!(bed.judge(&token, &defaults).await.accepted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_of_server_a_is_rejected_by_server_b_settings() {
    let bed = bed().await;
    let d = operator_defaults();
    bed.set_up_asap(A, "meet.a.example").await;
    bed.set_up_asap(B, "meet.b.example").await;
    let a_token = bed.mint(A, "standup").await;
    let b_token = bed.mint(B, "standup").await;
    let b_trust = bed.trust(B, "meet.b.example", "standup");
    assert!(bed.judge(&b_token, &b_trust).await.accepted());

    let v = bed.judge(&a_token, &b_trust).await;
    assert!(!v.accepted());
    let f = failed(&v);
    assert!(
        f.iter().any(|l| l.starts_with("key:") && l.contains("404")),
        "{f:?}"
    );
    // Even a Prosody of B misconfigured with A's key path rejects A's tokens by issuer and sub.
    let mut confused = b_trust.clone();
    confused.asap_key_server = asap_key_server_for(&bed.base, A);
    let f = failed(&bed.judge(&a_token, &confused).await);
    assert!(f.iter().any(|l| l.starts_with("iss:")), "{f:?}");
    assert!(f.iter().any(|l| l.starts_with("sub:")), "{f:?}");

    // Each token names its own site and sub.
    let a_link = bed.tenants.minter(A, &d).await.unwrap().unwrap();
    assert_eq!(
        a_link.settings().public_url.as_str(),
        "https://meet.a.example/"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_rotation_an_old_token_verifies_until_serve_until_and_not_after() {
    let bed = bed().await;
    let d = operator_defaults();
    bed.set_up_asap(A, "meet.a.example").await;
    let old_token = bed.mint(A, "standup").await;
    let rotation = bed.tenants.rotate_key(A, d.lifetime).await.unwrap();
    let Rotation::Rotated {
        kid,
        retired: Some(retired),
        serve_until,
    } = rotation
    else {
        panic!("expected a rotation with a retired key: {rotation:?}");
    };
    assert_ne!(kid, retired);
    assert_eq!(serve_until, now() + Span::hours(1) + Span::minutes(10));
    let new_token = bed.mint(A, "standup").await;
    assert_ne!(new_token, old_token);
    let trust = bed.trust(A, "meet.a.example", "standup");

    bed.clock.set(now() + Span::minutes(50));
    assert!(bed.judge(&old_token, &trust).await.accepted());
    assert!(bed.judge(&new_token, &trust).await.accepted());

    bed.clock.set(serve_until + Span::seconds(1));
    let v = bed.judge(&old_token, &trust).await;
    let f = failed(&v);
    assert!(
        f.iter().any(|l| l.starts_with("key:") && l.contains("404")),
        "{f:?}"
    );
    // The new key is still served: only the retired one went.
    let new_kid_url = key_url(&trust.asap_key_server, &kid);
    assert_eq!(bed.fetcher.get(&new_kid_url).await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_server_serves_exactly_the_public_keys() {
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    let bed = bed().await;
    let d = operator_defaults();
    bed.set_up_asap(A, "meet.a.example").await;
    bed.tenants.rotate_key(A, d.lifetime).await.unwrap();
    let served = bed
        .tenants
        .store()
        .served_public_keys(A, bed.clock.now())
        .await
        .unwrap();
    assert_eq!(served.len(), 2, "current and retired-but-served");
    let server = asap_key_server_for(&bed.base, A);
    for key in &served {
        let r = bed.fetcher.get(&key_url(&server, &key.kid)).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type.as_deref(), Some("application/x-pem-file"));
        let pem = String::from_utf8(r.body).unwrap();
        assert!(
            rsa::RsaPublicKey::from_public_key_pem(&pem).is_ok(),
            "{pem}"
        );
        assert!(rsa::RsaPrivateKey::from_pkcs8_pem(&pem).is_err());
        assert!(!pem.contains("PRIVATE"));
        assert_eq!(pem, key.public_pem);
    }
    let r = bed
        .fetcher
        .get(&format!("{server}/jwks.json"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let raw: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    for k in raw["keys"].as_array().unwrap() {
        let mut fields: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["alg", "e", "kid", "kty", "n", "use"],
            "no private members"
        );
    }
    let jwks: Jwks = serde_json::from_value(raw).unwrap();
    assert_eq!(jwks.keys.len(), 2);
    for (jwk, key) in jwks.keys.iter().zip(&served) {
        assert_eq!(jwk.kid, key.kid);
        assert_eq!(jwk.to_public_pem().unwrap(), key.public_pem);
    }

    // Caching: a sensible max-age, never past the retired key's serve_until.
    let probe = reqwest::get(format!("{server}/jwks.json")).await.unwrap();
    let cc = probe.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(cc, "public, max-age=300");

    // 404 for what is not a served key.
    for path in [
        format!("{server}/{}.pem", sha256_hex("meetbot/unknown")),
        format!("{server}/{}.PEM", sha256_hex(&served[0].kid)),
        format!("{server}/../{}.pem", sha256_hex(&served[0].kid)),
        format!(
            "{}/{}.pem",
            asap_key_server_for(&bed.base, B),
            sha256_hex(&served[0].kid)
        ),
        format!("{}asap/not-a-guild/jwks.json", bed.base),
        format!("{}/jwks.json", asap_key_server_for(&bed.base, B)),
    ] {
        assert_eq!(bed.fetcher.get(&path).await.unwrap().status, 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setups_are_refused_clearly_without_a_master_key_or_with_bad_settings() {
    let db = db::sqlite_db().await;
    let clock: SharedClock = Arc::new(ManualClock::new(now()));
    let off = Tenants::start(db.store.clone(), None, clock.clone())
        .await
        .unwrap();
    assert!(!off.enabled());
    let err = off
        .set_up(
            asap_request(A, "https://meet.a.example/", "meet.a.example"),
            &operator_defaults(),
            HOUR,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("openssl rand -base64 32"), "{err}");
    assert_eq!(
        off.minter(A, &operator_defaults())
            .await
            .unwrap()
            .map(|_| ()),
        None
    );

    let key = MasterKey::generate(&mut rand::rngs::OsRng);
    let on = Tenants::start(db.store.clone(), Some(key), clock)
        .await
        .unwrap();
    // A server that trusted meetbot's keys and switches to its own secret: meetbot's key retires.
    let asap = asap_request(A, "https://meet.a.example/", "meet.a.example");
    on.set_up(asap, &operator_defaults(), HOUR).await.unwrap();
    let kid = db.store.current_signing_key(A).await.unwrap().unwrap().kid;
    let mut hs = asap_request(A, "https://meet.a.example/", "meet.a.example");
    hs.signer = SetupSigner::Hs256(meetbot::secret::Secret::new(
        "a-long-enough-shared-secret-0123",
    ));
    let err = on
        .set_up(hs.clone(), &operator_defaults(), HOUR)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("app_id"), "{err}");
    hs.issuer = Some("acme-app".into());
    on.set_up(hs, &operator_defaults(), HOUR).await.unwrap();
    assert_eq!(db.store.current_signing_key(A).await.unwrap(), None);
    let retired = db
        .store
        .served_public_key(A, &sha256_hex(&kid), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        retired.serve_until,
        Some(now() + Span::hours(1) + Span::minutes(10))
    );
    let stored = db.store.tenant_jitsi(A).await.unwrap().unwrap();
    let sealed = stored.sealed_secret.clone().unwrap();
    assert!(
        !sealed.contains("a-long-enough-shared-secret"),
        "stored sealed"
    );
    let minter = on.minter(A, &operator_defaults()).await.unwrap().unwrap();
    assert_eq!(minter.settings().app_id, "acme-app");
    assert!(matches!(
        on.rotate_key(A, Duration::from_secs(60)).await,
        Err(TenantError::Invalid(_))
    ));
    // The sealed secret moved to another server's row does not open there.
    let mut moved = stored.clone();
    moved.guild_id = B;
    db.store.set_tenant_jitsi(&moved).await.unwrap();
    assert!(matches!(
        on.minter(B, &operator_defaults()).await,
        Err(TenantError::Seal(_))
    ));
    let mut jaas = asap_request(B, "https://ignored.example/", "");
    jaas.signer = SetupSigner::Jaas {
        app_id: "not-an-app-id".into(),
        key_id: "k".into(),
        private_pem: meetbot::secret::Secret::new("pem"),
    };
    assert!(matches!(
        on.set_up(jaas, &operator_defaults(), HOUR).await,
        Err(TenantError::Token(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sites_config_js_is_fetched_and_read() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/acme/config.js",
        axum::routing::get(|| async {
            "var subdomain = 'acme.';\nconfig.hosts.domain = 'meet.jitsi';\n\
             config.hosts.muc = 'muc.' + subdomain + 'meet.jitsi';\n"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fetcher = SafeFetcher::new(FetchPolicy {
        allow_networks: vec!["127.0.0.1/32".parse().unwrap()],
        allow_http: true,
        ..FetchPolicy::default()
    })
    .unwrap();
    let site = Url::parse(&format!("http://{addr}/")).unwrap();
    let url = meetbot::jitsi::site_config::config_js_url(&site, Some("acme"));
    let body = fetcher.get(url.as_str()).await.unwrap().body;
    let config =
        meetbot::jitsi::site_config::parse_config_js(&String::from_utf8(body).unwrap()).unwrap();
    assert_eq!(config.domain, "meet.jitsi");
    assert_eq!(config.muc.as_deref(), Some("muc.acme.meet.jitsi"));
}
