//! The simulated event_sync delivers as the Prosody component does, against a scripted server.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use jitsi_sim::event_sync::{Delivery, Options, Room, Sender, User};
use jitsi_sim::jaas;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Script {
    /// Status to answer per request, in order; 200 after the list runs out.
    statuses: Vec<u16>,
    /// Delay before answering.
    delay: Duration,
    seen: Vec<(Instant, HeaderMap, Bytes)>,
}

type Shared = Arc<Mutex<Script>>;

async fn handler(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (status, delay) = {
        let mut s = s.lock().unwrap();
        let n = s.seen.len();
        s.seen.push((Instant::now(), headers, body));
        (s.statuses.get(n).copied().unwrap_or(200), s.delay)
    };
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap()
}

async fn server(script: Script) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(script));
    let app = Router::new()
        .route("/jitsi/events/room/created", post(handler))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/jitsi"), shared)
}

fn fast(prefix: &str) -> Options {
    let mut o = Options::new(prefix, Some("tok"));
    o.retry_delay = Duration::from_millis(100);
    o.timeout = Duration::from_millis(500);
    o
}

#[test]
fn the_defaults_are_the_components() {
    let o = Options::new("http://x/jitsi", Some("t"));
    assert_eq!(o.retry_count, 3);
    assert_eq!(o.retry_delay, Duration::from_secs(1));
    assert_eq!(o.timeout, Duration::from_secs(20));
    assert_eq!(o.headers, vec![("Authorization".into(), "Bearer t".into())]);
}

#[tokio::test]
async fn a_5xx_is_retried_three_times_with_the_identical_body_after_the_delay() {
    let (prefix, s) = server(Script {
        statuses: vec![500, 502, 503, 500],
        ..Script::default()
    })
    .await;
    let (_, created) = Room::create("r@muc.meet.jitsi", 1_796_154_774);
    let d = Sender::new(fast(&prefix)).send(&created).await;
    assert_eq!(
        d,
        Delivery::Answered {
            status: 500,
            attempts: 4
        }
    );
    let s = s.lock().unwrap();
    assert_eq!(s.seen.len(), 4);
    for pair in s.seen.windows(2) {
        assert_eq!(pair[0].2, pair[1].2);
        assert!(pair[1].0 - pair[0].0 >= Duration::from_millis(100));
    }
    let (_, headers, _) = &s.seen[0];
    assert_eq!(headers["authorization"], "Bearer tok");
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_4xx_or_2xx_is_final() {
    for first in [400u16, 401, 404, 413, 200, 204] {
        let (prefix, s) = server(Script {
            statuses: vec![first],
            ..Script::default()
        })
        .await;
        let (_, created) = Room::create("r@muc", 1_796_154_774);
        let d = Sender::new(fast(&prefix)).send(&created).await;
        assert_eq!(
            d,
            Delivery::Answered {
                status: first,
                attempts: 1
            }
        );
        assert_eq!(s.lock().unwrap().seen.len(), 1);
    }
}

#[tokio::test]
async fn a_timeout_is_never_retried() {
    let (prefix, s) = server(Script {
        delay: Duration::from_secs(2),
        ..Script::default()
    })
    .await;
    let (_, created) = Room::create("r@muc", 1_796_154_774);
    let d = Sender::new(fast(&prefix)).send(&created).await;
    assert_eq!(d, Delivery::TimedOut { attempts: 1 });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.lock().unwrap().seen.len(), 1);
}

#[tokio::test]
async fn a_connection_failure_is_retried_then_given_up() {
    // A port nobody listens on: bind, learn it, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_, created) = Room::create("r@muc", 1_796_154_774);
    let started = Instant::now();
    let d = Sender::new(fast(&format!("http://127.0.0.1:{port}/jitsi")))
        .send(&created)
        .await;
    assert_eq!(d, Delivery::ConnectionFailed { attempts: 4 });
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn the_room_model_builds_the_components_bodies() {
    let (mut room, created) = Room::create("[team]standup@conference.meet.example.com", 100);
    assert_eq!(created.path, "/events/room/created");
    assert_eq!(
        created.body,
        json!({"event_name":"muc-room-created","room_name":"[team]standup",
               "room_jid":"[team]standup@conference.meet.example.com","is_breakout":false,
               "created_at":100})
    );
    let joined = room.join("a@meet/1", &User::member("42", "alice"), 101);
    assert_eq!(joined.body["active_occupants_count"], 1);
    assert_eq!(
        joined.body["occupant"],
        json!({"occupant_jid":"a@meet/1","id":"42","name":"alice","joined_at":101})
    );
    let anon = room.join("jibri@x/1", &User::anonymous(), 102);
    assert_eq!(
        anon.body["occupant"],
        json!({"occupant_jid":"jibri@x/1","joined_at":102})
    );
    let left = room.leave("a@meet/1", 110);
    assert_eq!(left.body["occupant"]["left_at"], 110);
    assert_eq!(left.body["occupant"]["joined_at"], 101);
    assert_eq!(left.body["active_occupants_count"], 1);
    let unknown = room.leave("nobody@x/1", 111);
    assert!(unknown.body.get("occupant").is_none());
    let end = room.destroy(120);
    assert_eq!(end.len(), 2, "jibri leaves first");
    assert_eq!(end[1].body["all_occupants"].as_array().unwrap().len(), 2);
    assert_eq!(end[1].body["created_at"], 100);
}

#[test]
fn an_empty_room_destroyed_sends_an_empty_object() {
    let (mut room, _) = Room::create("r@muc", 100);
    let end = room.destroy(101);
    assert_eq!(end.len(), 1);
    assert_eq!(end[0].body["all_occupants"], json!({}));
}

#[test]
fn breakout_rooms_name_the_main_room() {
    let (mut room, created) = Room::create_breakout("main@muc", "bo-1", 100);
    assert_eq!(created.body["room_name"], "main");
    assert_eq!(created.body["is_breakout"], true);
    assert_eq!(
        room.join("a@x/1", &User::anonymous(), 101).body["breakout_room_id"],
        "bo-1"
    );
}

#[test]
fn jaas_signatures_are_hmac_sha256_of_t_dot_body() {
    // Same value as meetbot's own unit test computes, independently of it (openssl).
    assert_eq!(
        jaas::signature_header("whsec_test", 1_632_490_060, b"{}"),
        "t=1632490060,v1=ee714IvRL1iregh1xwWWF7HtKKZPb1tdaigQ9/j4I5s="
    );
    let mut s = jaas::Session::new("vpaas-magic-cookie-1", "Room", "s1");
    let a = s.joined("p1", Some("42"), 1_600_951_800_112);
    let b = s.left("p1", Some("42"), 1_600_951_900_000);
    assert_ne!(a.idempotency_key(), b.idempotency_key());
    assert_eq!(a.body["fqn"], "vpaas-magic-cookie-1/Room");
    assert_eq!(b.body["data"]["disconnectReason"], "left");
}
