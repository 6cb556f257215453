//! Fetching admin-typed URLs: non-public addresses are refused directly, after DNS and after redirects,
//! unless the operator's policy opens them; bodies are capped and slow sites time out.
//!
//! Only servers on 127.0.0.1 are ever contacted. The private and metadata addresses below are refused
//! before any connection (the URL check runs first, the redirect check before following, the resolver
//! before connecting); each test asserts the refusal, so a regression fails rather than sends traffic.

use futures::future::BoxFuture;
use meetbot::fetch::{FetchError, FetchPolicy, Lookup, SafeFetcher};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Names to addresses from a table: "a name that resolves to loopback" without touching DNS.
#[derive(Debug)]
struct Table(HashMap<String, Vec<IpAddr>>);

impl Lookup for Table {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(&host).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
        })
    }
}

fn table() -> Arc<dyn Lookup> {
    let mut t = HashMap::new();
    t.insert(
        "loopback.test".to_owned(),
        vec!["127.0.0.1".parse().unwrap()],
    );
    t.insert("lan.test".to_owned(), vec!["192.168.1.10".parse().unwrap()]);
    t.insert(
        "mixed.test".to_owned(),
        vec!["10.1.2.3".parse().unwrap(), "127.0.0.1".parse().unwrap()],
    );
    Arc::new(Table(t))
}

/// A test site on 127.0.0.1 with redirects, a big body, a streamed body and a slow answer.
async fn site() -> SocketAddr {
    use axum::body::Body;
    use axum::extract::Query;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/ok", get(|| async { "hello" }))
        .route(
            "/to",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                Redirect::temporary(&q["url"]).into_response()
            }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route("/big", get(|| async { vec![b'x'; 600 * 1024] }))
        .route(
            "/stream",
            get(|| async {
                let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 16 * 1024]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn closed() -> FetchPolicy {
    FetchPolicy {
        allow_http: true, // only so the refusals below are about addresses, not the scheme
        ..FetchPolicy::default()
    }
}

fn open_loopback() -> FetchPolicy {
    FetchPolicy {
        allow_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        allow_http: true,
        timeout: Duration::from_secs(2),
        ..FetchPolicy::default()
    }
}

fn forbidden(result: Result<meetbot::fetch::Fetched, FetchError>, what: &str) -> String {
    match result {
        Err(e @ FetchError::Forbidden { .. }) => e.to_string(),
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_private_metadata_and_names_that_resolve_there_are_refused() {
    let addr = site().await;
    let port = addr.port();
    let f = SafeFetcher::with_lookup(closed(), table()).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
    ] {
        let msg = forbidden(f.get(&url).await, &url);
        assert!(msg.contains("public addresses"), "{msg}");
    }
    let msg = forbidden(
        f.get(&format!("http://loopback.test:{port}/ok")).await,
        "name",
    );
    assert!(
        msg.contains("resolves to 127.0.0.1") && msg.contains("loopback"),
        "{msg}"
    );
    let msg = forbidden(f.get("http://lan.test/").await, "lan");
    assert!(
        msg.contains("192.168.1.10") && msg.contains("private"),
        "{msg}"
    );

    // The system resolver: localhost is loopback too.
    let system = SafeFetcher::new(closed()).unwrap();
    forbidden(
        system.get(&format!("http://localhost:{port}/ok")).await,
        "localhost",
    );

    // https only unless the operator allows http.
    let strict = SafeFetcher::with_lookup(FetchPolicy::default(), table()).unwrap();
    let err = strict
        .get(&format!("http://127.0.0.1:{port}/ok"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Scheme { .. }), "{err}");
    assert!(err.to_string().contains("https://"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_from_an_allowed_site_to_a_forbidden_address_is_refused() {
    let addr = site().await;
    // Only the test site itself is open; where it redirects to is not.
    let policy = FetchPolicy {
        allow_networks: vec![format!("{}/32", addr.ip()).parse().unwrap()],
        ..closed()
    };
    let f = SafeFetcher::with_lookup(policy, table()).unwrap();
    assert_eq!(
        f.get(&format!("http://{addr}/ok")).await.unwrap().body,
        b"hello"
    );
    for target in [
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{}/ok", addr.port()),
        "http://lan.test/".to_owned(),
    ] {
        let url = format!("http://{addr}/to?url={}", urlencode(&target));
        forbidden(f.get(&url).await, &target);
    }
    // A name resolving to a forbidden and an allowed address connects only to the allowed one.
    let mixed = format!("http://mixed.test:{}/ok", addr.port());
    assert_eq!(f.get(&mixed).await.unwrap().body, b"hello");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_policy_opens_is_reached() {
    let addr = site().await;
    let port = addr.port();
    let f = SafeFetcher::with_lookup(open_loopback(), table()).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://loopback.test:{port}/ok"),
        format!(
            "http://127.0.0.1:{port}/to?url={}",
            urlencode(&format!("http://loopback.test:{port}/ok"))
        ),
    ] {
        let r = f.get(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]), "{url}");
    }
    let system = SafeFetcher::new(open_loopback()).unwrap();
    assert_eq!(
        system
            .get(&format!("http://localhost:{port}/ok"))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_redirect_loops_and_slow_sites_are_cut_off() {
    let addr = site().await;
    let f = SafeFetcher::with_lookup(open_loopback(), table()).unwrap();
    for path in ["big", "stream"] {
        let err = f.get(&format!("http://{addr}/{path}")).await.unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { max_kib: 512, .. }),
            "{path}: {err}"
        );
    }
    let err = f.get(&format!("http://{addr}/loop")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooManyRedirects { max: 3, .. }),
        "{err}"
    );
    let err = f.get(&format!("http://{addr}/slow")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Timeout { seconds: 2, .. }),
        "{err}"
    );
    let err = f.get("http://nowhere.test/").await.unwrap_err();
    assert!(matches!(err, FetchError::NoAddress { .. }), "{err}");
    assert!(err.to_string().contains("does not resolve"), "{err}");
    let err = f.get("not a url").await.unwrap_err();
    assert!(matches!(err, FetchError::BadUrl(_)), "{err}");
}
