//! The bot's HTTP side as `meetbot run` starts it: off unless `http.listen` is set; when set, health, readiness,
//! metrics, Jitsi's event endpoints and the key server answer on one listener that stops with the bot.

mod support;

use support::*;

const EVENTS_TOKEN: &str = "events-token-for-the-http-scenario-0123456789";

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("the listener answers");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_http_listen_the_bot_serves_no_http() {
    let h = Harness::start().await;
    assert_eq!(h.bot().http_addr(), None);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_serves_health_readiness_metrics_events_and_keys_and_stops_with_the_bot() {
    let h = Harness::start_with(
        &[
            ("MEETBOT_HTTP_LISTEN", "127.0.0.1:0"),
            ("JITSI_EVENTS_TOKEN", EVENTS_TOKEN),
        ],
        |_| {},
    )
    .await;
    let addr = h.bot().http_addr().expect("a listener was configured");
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    assert_eq!(get(addr, "/healthz").await.0, 200);
    // The harness waits for the commands' registration, which happens once the gateway is READY.
    let mut ready = get(addr, "/readyz").await;
    for _ in 0..50 {
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ready = get(addr, "/readyz").await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);

    let (status, metrics) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("meetbot_"), "{metrics}");

    // The events endpoints are mounted and guarded by the token from the environment.
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/jitsi/events/room/created");
    let body = r#"{"event_name":"muc-room-created","room_name":"nobody-knows-it","room_jid":"nobody-knows-it@muc.meet.jitsi","is_breakout":false,"created_at":1796154774}"#;
    let refused = client
        .post(&url)
        .bearer_auth("wrong-token-wrong-token-wrong-token-00")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let accepted = client
        .post(&url)
        .bearer_auth(EVENTS_TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        accepted.status().as_u16(),
        200,
        "an unknown room is ignored with 200"
    );

    // The key server sits beside them: a server with no keys of meetbot's has none to serve.
    let hash = "0".repeat(64);
    assert_eq!(get(addr, &format!("/asap/{GUILD}/{hash}.pem")).await.0, 404);

    h.finish().await;
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "the listener stopped with the bot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_address_stops_the_start_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let sim = discord_sim::Simulator::start(discord_sim::SimOptions {
        bot_token: BOT_TOKEN.into(),
        ..Default::default()
    })
    .await;
    let mut env = base_env(&sim);
    env.insert("MEETBOT_HTTP_LISTEN".into(), addr.clone());
    let dir = tempfile::tempdir().unwrap();
    env.insert(
        "DATABASE_URL".into(),
        format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
    );
    let err = match meetbot::discord::start(config_from(&env)).await {
        Ok(_) => panic!("started on a taken address"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("http.listen"), "{err}");
}
