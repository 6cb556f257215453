//! Minting one HS256 token against its floor: one HMAC-SHA256 over the same signing input.
//! Target: mint ≤ 3× floor.

use chrono::{TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use meetbot::jitsi::{Grant, Identity, JitsiSettings, Minter, Room};
use sha2::Sha256;

const SECRET: &str = "bench-app-secret-of-a-realistic-length-0123456789";

fn bench_mint(c: &mut Criterion) {
    let mut settings = JitsiSettings::for_tests(SECRET);
    settings.prefill_display_name = true;
    settings.prejoin = Some(false);
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let identity = Identity {
        id: "80351110224678912".into(),
        name: "Ana Lee".into(),
        avatar: Some("https://cdn.discordapp.com/avatars/80351110224678912/a_1b2c3d.png".into()),
        email: None,
    };
    let room = Room::from_normalized("weekly-sync-k3vq7m2xw4pna".into()).unwrap();
    let grant = Grant::new(room, identity, true, now, &settings);
    let minter = Minter::new(settings).unwrap();

    let token = minter.mint(&grant).unwrap().token;
    let signing_input = token.expose()[..token.expose().rfind('.').unwrap()].to_owned();

    let mut group = c.benchmark_group("hs256");
    group.bench_function("mint", |b| {
        b.iter(|| minter.mint(black_box(&grant)).unwrap())
    });
    group.bench_function("floor_one_hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(black_box(SECRET.as_bytes())).unwrap();
            mac.update(black_box(signing_input.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    // For reference only: the HMAC alone when its key schedule is prepared ahead, as mint does.
    let keyed = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    group.bench_function("hmac_sha256_prekeyed", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(signing_input.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    group.finish();

    // Where the rest of mint's time goes.
    let mut parts = c.benchmark_group("hs256_parts");
    parts.bench_function("claims", |b| b.iter(|| minter.claims(black_box(&grant))));
    let claims = minter.claims(&grant);
    parts.bench_function("claims_to_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&claims)).unwrap())
    });
    parts.bench_function("link", |b| {
        b.iter(|| minter.link(black_box(&grant.room), black_box(&token), Some("Ana Lee")))
    });
    parts.finish();
}

criterion_group!(benches, bench_mint);
criterion_main!(benches);
