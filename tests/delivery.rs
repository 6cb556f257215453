//! The REST client and the DM fan-out against the Discord simulator: faults, rate limits, pacing,
//! shutdown, and what reaches the logs.

use discord_sim::{RecordedRequest, SimOptions, Simulator, UserSpec};
use meetbot::discord::delivery::{deliver_all, deliver_all_with, Dm, DmOutcome};
use meetbot::discord::http::rest::{RestClient, RestError, RetryPolicy, USER_AGENT};
use meetbot::secret::Secret;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing_subscriber::fmt::MakeWriter;

const GUILD: u64 = 1_000;
const LINK_MARK: &str = "jwt=eyJ-PERSONAL-";

fn user(i: u64) -> u64 {
    500_000_000_000_000_000 + i
}

async fn setup(members: u64, pace: u32) -> (Simulator, RestClient) {
    let sim = Simulator::start(SimOptions::default()).await;
    sim.add_guild(GUILD, "Guild", user(0));
    for i in 0..members {
        sim.add_member(GUILD, UserSpec::new(user(i), &format!("user{i}")), &[]);
    }
    let rest = RestClient::new(&sim.base_url(), Secret::new(sim.bot_token()), pace)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            backoff_base: Duration::from_millis(20),
            ..RetryPolicy::default()
        })
        .unwrap();
    (sim, rest)
}

fn dms_for(users: impl IntoIterator<Item = u64>) -> Vec<Dm> {
    users
        .into_iter()
        .map(|u| Dm {
            user_id: u,
            body: json!({ "content": format!("Your link: https://meet.example/room?{LINK_MARK}{u}") }),
        })
        .collect()
}

fn no_shutdown() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    // Keep the sender alive for the whole test so the receiver never sees it closed.
    std::mem::forget(tx);
    rx
}

/// Resolves once the client holds `route` back (after it has read a 429).
async fn until_paused(rest: &RestClient, route: &str) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while rest.pacer().blocked_for(route).is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the client never paused the route");
}

fn message_posts(sim: &Simulator) -> Vec<RecordedRequest> {
    sim.requests_matching("POST", "/channels/*/messages")
}

#[tokio::test]
async fn every_dm_is_delivered_exactly_once_despite_rate_limits_and_server_errors() {
    let (sim, rest) = setup(30, 50).await;
    sim.rate_limit_next("POST", "/users/@me/channels", 0.2, true);
    sim.rate_limit_next("POST", "/channels/*/messages", 0.3, false);
    sim.fail_next("POST", "/channels/*/messages", 500, 3);
    sim.fail_next("POST", "/users/@me/channels", 502, 2);
    let mut input = dms_for((0..30).map(user));
    // A user listed twice gets one DM.
    input.extend(dms_for([user(3), user(7)]));

    let results = deliver_all(&rest, input, 8, no_shutdown()).await;

    let ids: Vec<u64> = results.iter().map(|(u, _)| *u).collect();
    assert_eq!(ids, (0..30).map(user).collect::<Vec<_>>());
    for (u, outcome) in &results {
        let DmOutcome::Delivered { message_id, .. } = outcome else {
            panic!("user {u}: {outcome:?}");
        };
        let got = sim.dms_to(*u);
        assert_eq!(got.len(), 1, "user {u} got {} DMs", got.len());
        assert_eq!(got[0]["id"].as_str().unwrap(), message_id.to_string());
        assert!(got[0]["content"]
            .as_str()
            .unwrap()
            .contains(&format!("{LINK_MARK}{u}")));
    }
    assert_eq!(sim.count_429(), 2, "only the injected 429s");
    assert!(sim.unhandled_routes().is_empty());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[tokio::test]
async fn closed_dms_are_reported_and_their_message_is_not_retried() {
    let (sim, rest) = setup(5, 50).await;
    sim.close_dms(user(2));

    let results = deliver_all(&rest, dms_for((0..5).map(user)), 4, no_shutdown()).await;

    for (u, outcome) in &results {
        if *u == user(2) {
            assert_eq!(outcome, &DmOutcome::DmsClosed);
        } else {
            assert!(
                matches!(outcome, DmOutcome::Delivered { .. }),
                "{outcome:?}"
            );
        }
    }
    // Cached: no second DM-channel request.
    let channel = rest.create_dm(user(2)).await.unwrap();
    assert_eq!(
        sim.requests_matching("POST", "/users/@me/channels").len(),
        5
    );
    let posts = sim.requests_matching("POST", &format!("/channels/{channel}/messages"));
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, 403);
}

#[tokio::test]
async fn forbidden_and_unauthorized_answers_are_never_retried() {
    let (sim, rest) = setup(1, 50).await;
    sim.fail_next("POST", "/channels/*/messages", 403, 5);
    let results = deliver_all(&rest, dms_for([user(0)]), 1, no_shutdown()).await;
    assert!(
        matches!(&results[0].1, DmOutcome::Failed(reason) if reason.contains("403")),
        "{results:?}"
    );
    assert_eq!(message_posts(&sim).len(), 1);
    assert!(sim.dms_to(user(0)).is_empty());

    sim.fail_next("GET", "/guilds/*/roles", 403, 5);
    let err = rest.get_roles(GUILD).await.unwrap_err();
    assert!(matches!(err, RestError::Forbidden { .. }), "{err:?}");
    assert_eq!(err.status(), Some(403));
    sim.fail_next("GET", "/guilds/*/members/*", 401, 5);
    let err = rest.get_member(GUILD, user(0)).await.unwrap_err();
    assert!(matches!(err, RestError::Unauthorized), "{err:?}");
    assert_eq!(sim.requests_matching("GET", "/guilds/*/roles").len(), 1);
    assert_eq!(sim.requests_matching("GET", "/guilds/*/members/*").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let (sim, rest) = setup(1, 50).await;
    sim.fail_next("GET", "/guilds/*/roles", 502, 10);
    let err = rest.get_roles(GUILD).await.unwrap_err();
    assert!(matches!(err, RestError::Server { status: 502 }), "{err:?}");
    // One try plus the policy's three retries.
    assert_eq!(sim.requests_matching("GET", "/guilds/*/roles").len(), 4);
}

#[tokio::test]
async fn route_retry_after_delays_that_route_only() {
    let (sim, rest) = setup(2, 50).await;
    let retry_after = Duration::from_millis(600);
    sim.rate_limit_next(
        "POST",
        "/channels/*/messages",
        retry_after.as_secs_f64(),
        false,
    );
    // The 429'd route is per channel, so look up which channel it was once it happened.
    let (results, roles_at) = tokio::join!(
        deliver_all(&rest, dms_for([user(0)]), 1, no_shutdown()),
        async {
            let limited = sim
                .wait_for_request(|r| r.status == 429, Duration::from_secs(5))
                .await
                .unwrap();
            let route = meetbot::discord::http::pacer::route_key("POST", &limited.path);
            until_paused(&rest, &route).await;
            rest.get_roles(GUILD).await.unwrap();
            let roles = sim.requests_matching("GET", "/guilds/*/roles");
            roles[0].received_at
        }
    );
    assert!(matches!(results[0].1, DmOutcome::Delivered { .. }));
    let posts = message_posts(&sim);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].status, 429);
    assert!(posts[1].received_at.duration_since(posts[0].received_at) >= retry_after);
    // Another route went ahead while the message route waited.
    assert!(roles_at < posts[0].received_at + retry_after);
}

#[tokio::test]
async fn global_retry_after_delays_every_route() {
    let (sim, rest) = setup(2, 50).await;
    let retry_after = Duration::from_millis(600);
    sim.rate_limit_next("GET", "/guilds/*/roles", retry_after.as_secs_f64(), true);
    let member_route =
        meetbot::discord::http::pacer::route_key("GET", &format!("/guilds/{GUILD}/members/1"));
    let (roles, member) = tokio::join!(rest.get_roles(GUILD), async {
        until_paused(&rest, &member_route).await;
        rest.get_member(GUILD, user(1)).await
    });
    roles.unwrap();
    assert_eq!(member.unwrap().unwrap().user_id, user(1));
    let limited = sim.requests_matching("GET", "/guilds/*/roles")[0].clone();
    assert_eq!(limited.status, 429);
    for r in sim.requests().iter().filter(|r| r.seq > limited.seq) {
        assert!(
            r.received_at.duration_since(limited.received_at) >= retry_after,
            "{} {} came {:?} after the global 429",
            r.method,
            r.path,
            r.received_at.duration_since(limited.received_at)
        );
    }
}

#[tokio::test]
async fn global_pace_holds_in_every_one_second_window() {
    let pace = 40;
    let (sim, rest) = setup(50, pace).await;
    sim.enforce_global_rate(pace);

    let results = deliver_all(&rest, dms_for((0..50).map(user)), 20, no_shutdown()).await;

    assert!(results
        .iter()
        .all(|(_, o)| matches!(o, DmOutcome::Delivered { .. })));
    let times: Vec<_> = sim.requests().iter().map(|r| r.received_at).collect();
    assert_eq!(times.len(), 100);
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        assert!(
            in_window <= pace as usize,
            "{in_window} requests in one second"
        );
    }
    assert_eq!(sim.count_429(), 0);
}

#[tokio::test]
async fn shutdown_reports_unsent_dms_and_lets_started_ones_finish() {
    let (sim, rest) = setup(30, 20).await;
    let (tx, rx) = watch::channel(false);
    let mut seen = Vec::new();

    let results = deliver_all_with(&rest, dms_for((0..30).map(user)), 2, rx, |u, o| {
        seen.push((u, o.clone()));
        if seen.len() == 3 {
            tx.send(true).unwrap();
        }
    })
    .await;

    assert_eq!(results.len(), 30);
    assert_eq!(seen.len(), 30, "the hook saw every outcome once");
    let mut not_sent = 0;
    for (u, outcome) in &results {
        match outcome {
            DmOutcome::Delivered { .. } => assert_eq!(sim.dms_to(*u).len(), 1),
            DmOutcome::NotSent(reason) => {
                assert_eq!(reason, "shutting down");
                assert!(sim.dms_to(*u).is_empty());
                not_sent += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // At most the two in flight when the signal came finish after it.
    assert!(not_sent >= 25, "only {not_sent} DMs held back");
    assert_eq!(message_posts(&sim).len(), 30 - not_sent);
}

#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn logs_carry_routes_and_user_ids_but_never_bodies_or_the_token() {
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (sim, rest) = setup(8, 50).await;
    sim.close_dms(user(1));
    sim.rate_limit_next("POST", "/channels/*/messages", 0.1, false);
    sim.fail_next("POST", "/channels/*/messages", 500, 1);
    sim.fail_next("POST", "/users/@me/channels", 403, 1);
    let (tx, rx) = watch::channel(false);
    let mut done = 0;
    let results = deliver_all_with(&rest, dms_for((0..8).map(user)), 1, rx, |_, _| {
        done += 1;
        if done == 5 {
            tx.send(true).unwrap();
        }
    })
    .await;
    let errors = [
        format!("{:?}", results),
        rest.get_roles(GUILD + 1).await.unwrap_err().to_string(),
    ];

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("429"), "the rate limit was logged:\n{text}");
    assert!(text.contains("/channels/"), "routes are logged:\n{text}");
    let unsent = results
        .iter()
        .find(|(_, o)| matches!(o, DmOutcome::NotSent(_)))
        .expect("shutdown held a DM back");
    assert!(
        text.contains(&unsent.0.to_string()),
        "unsent user id logged:\n{text}"
    );
    for haystack in errors.iter().chain([&text]) {
        assert!(!haystack.contains(LINK_MARK), "a body leaked:\n{haystack}");
        assert!(
            !haystack.contains("Your link"),
            "a body leaked:\n{haystack}"
        );
        assert!(
            !haystack.contains(sim.bot_token()),
            "the token leaked:\n{haystack}"
        );
    }
}

#[tokio::test]
async fn requests_carry_bot_authorization_and_user_agent() {
    let (sim, rest) = setup(1, 50).await;
    rest.get_roles(GUILD).await.unwrap();
    let r = &sim.requests()[0];
    assert_eq!(r.path, format!("/guilds/{GUILD}/roles"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bot {}", sim.bot_token()).as_str())
    );
    assert_eq!(r.header("user-agent"), Some(USER_AGENT));
}

#[tokio::test]
async fn members_are_read_one_by_one_or_listed_across_pages() {
    let (sim, rest) = setup(2_300, 1_000).await;
    sim.add_user(UserSpec::new(7, "outsider"));

    let m = rest.get_member(GUILD, user(5)).await.unwrap().unwrap();
    assert_eq!((m.user_id, m.display_name()), (user(5), "user5"));
    assert_eq!(rest.get_member(GUILD, 7).await.unwrap(), None);

    let all = rest.list_members(GUILD).await.unwrap();
    // The guild also lists the bot itself.
    let mut ids: Vec<u64> = all.iter().filter(|m| !m.bot).map(|m| m.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, (0..2_300).map(user).collect::<Vec<_>>());
    assert_eq!(
        sim.requests_matching("GET", &format!("/guilds/{GUILD}/members"))
            .len(),
        3
    );
}

#[tokio::test]
async fn sent_message_can_be_edited() {
    let (sim, rest) = setup(1, 50).await;
    let channel = rest.create_dm(user(0)).await.unwrap();
    let id = rest
        .send_message(channel, &json!({"content": "first"}))
        .await
        .unwrap();
    rest.edit_message(channel, id, &json!({"content": "second"}))
        .await
        .unwrap();
    assert_eq!(sim.message(id).unwrap()["content"], "second");
}

#[tokio::test]
async fn rate_limits_are_retried_a_bounded_number_of_times() {
    let (sim, rest) = setup(1, 50).await;
    for _ in 0..6 {
        sim.rate_limit_next("GET", "/guilds/*/roles", 0.01, false);
    }
    let err = rest.get_roles(GUILD).await.unwrap_err();
    assert!(
        matches!(err, RestError::RateLimited { attempts: 6, .. }),
        "{err:?}"
    );
    assert_eq!(sim.requests_matching("GET", "/guilds/*/roles").len(), 6);
}

#[tokio::test]
async fn a_retry_after_beyond_the_policy_limit_is_given_up_at_once() {
    let (sim, rest) = setup(1, 50).await;
    sim.rate_limit_next("GET", "/guilds/*/roles", 3_600.0, false);
    let err = rest.get_roles(GUILD).await.unwrap_err();
    match err {
        RestError::RateLimited {
            retry_after,
            attempts,
        } => {
            assert_eq!((retry_after, attempts), (Duration::from_secs(3_600), 1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.requests_matching("GET", "/guilds/*/roles").len(), 1);
}

#[tokio::test]
async fn generic_request_reaches_routes_without_a_helper() {
    let (sim, rest) = setup(1, 50).await;
    let event = rest
        .request(
            reqwest::Method::POST,
            &format!("/guilds/{GUILD}/scheduled-events"),
            Some(&json!({
                "name": "Weekly sync",
                "privacy_level": 2,
                "entity_type": 3,
                "scheduled_start_time": "2030-01-01T18:00:00Z",
                "scheduled_end_time": "2030-01-01T19:00:00Z",
                "entity_metadata": { "location": "https://meet.example/weekly-sync" }
            })),
        )
        .await
        .unwrap();
    let id: u64 = event["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        sim.scheduled_event(GUILD, id).unwrap()["name"],
        "Weekly sync"
    );
    let deleted = rest
        .request(
            reqwest::Method::DELETE,
            &format!("/guilds/{GUILD}/scheduled-events/{id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted, serde_json::Value::Null);
    assert!(sim.scheduled_event(GUILD, id).is_none());
}

#[tokio::test]
async fn a_wrong_bot_token_is_unauthorized_and_not_retried() {
    let (sim, _) = setup(1, 50).await;
    let rest = RestClient::new(&sim.base_url(), Secret::new("not-the-bot-token"), 50).unwrap();
    let results = deliver_all(&rest, dms_for([user(0)]), 1, no_shutdown()).await;
    assert!(
        matches!(&results[0].1, DmOutcome::Failed(reason) if reason.contains("401")),
        "{results:?}"
    );
    assert_eq!(sim.requests().len(), 1);
    assert!(sim.dms_to(user(0)).is_empty());
}
