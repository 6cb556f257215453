//! Client-side pacing for every REST request the bot sends: a global pace, global and per-route
//! pauses after 429s, and pre-emptive per-route waits from Discord's rate-limit headers.
//!
//! Discord counts 401/403/429 answers towards a Cloudflare ban, so the point of pacing ahead of
//! time is to never see a 429 at all, not merely to recover from one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The pace used when none is configured: below Discord's global 50 requests/s, with headroom for
/// requests serenity sends on its own (interaction responses share the bot's IP).
pub const DEFAULT_PACE_PER_SECOND: u32 = 40;

/// Shared pacing state; one per bot, shared by every request sent through the REST client.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The earliest instant the next request may take its global slot.
    next_slot: Instant,
    /// Set after a global 429: nobody sends before it.
    global_until: Option<Instant>,
    /// Per-route bucket: nobody sends on that route before the instant.
    route_until: HashMap<String, Instant>,
}

impl Pacer {
    /// A pacer that lets at most `per_second` requests start per second, evenly spaced.
    /// A pace of 0 is treated as 1 so the pacer can never stall forever.
    pub fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        Self {
            interval: Duration::from_secs(1) / per_second,
            state: Mutex::new(State {
                next_slot: Instant::now(),
                global_until: None,
                route_until: HashMap::new(),
            }),
        }
    }

    /// The spacing between two consecutive requests.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits until a request on `route` may be sent, then claims its global slot.
    pub async fn acquire(&self, route: &str) {
        loop {
            let (wait_until, claimed) = {
                let mut st = self.state.lock().expect("pacer lock");
                let now = Instant::now();
                let blocked = st.blocked_until(route, now);
                match blocked {
                    Some(until) => (until, false),
                    None => {
                        let slot = st.next_slot.max(now);
                        st.next_slot = slot + self.interval;
                        (slot, true)
                    }
                }
            };
            if wait_until > Instant::now() {
                tokio::time::sleep_until(wait_until).await;
            }
            if claimed {
                // A pause may have been set while this request waited for its slot; honour it
                // rather than sending into a limit we already know about.
                let still_blocked = {
                    let mut st = self.state.lock().expect("pacer lock");
                    st.blocked_until(route, Instant::now()).is_some()
                };
                if !still_blocked {
                    return;
                }
            }
        }
    }

    /// Pauses every request until `after` has elapsed (a global 429).
    pub fn pause_global(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut st = self.state.lock().expect("pacer lock");
        st.global_until = Some(st.global_until.map_or(until, |u| u.max(until)));
    }

    /// Pauses requests on `route` until `after` has elapsed (a route 429, or an exhausted bucket).
    pub fn pause_route(&self, route: &str, after: Duration) {
        let until = Instant::now() + after;
        let mut st = self.state.lock().expect("pacer lock");
        let entry = st.route_until.entry(route.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Applies Discord's `X-RateLimit-Remaining` / `X-RateLimit-Reset-After` headers: an exhausted
    /// bucket pauses its route until the reset, before any request can hit a 429.
    pub fn observe(&self, route: &str, remaining: Option<u64>, reset_after: Option<Duration>) {
        if let (Some(0), Some(reset_after)) = (remaining, reset_after) {
            self.pause_route(route, reset_after);
        }
    }
}

impl State {
    fn blocked_until(&mut self, route: &str, now: Instant) -> Option<Instant> {
        if self.global_until.is_some_and(|u| u <= now) {
            self.global_until = None;
        }
        if self.route_until.get(route).is_some_and(|u| *u <= now) {
            self.route_until.remove(route);
        }
        let global = self.global_until;
        let route = self.route_until.get(route).copied();
        match (global, route) {
            (Some(g), Some(r)) => Some(g.max(r)),
            (g, r) => g.or(r),
        }
    }
}

/// The rate-limit bucket of a request: method plus path, keeping the major parameter (the id after
/// `channels`, `guilds` or `webhooks`) and collapsing other ids, so e.g. every
/// `POST /channels/{id}/messages` for one channel shares a bucket.
/// Webhook and interaction tokens are replaced, so a route is always safe to log.
pub fn route_key(method: &str, path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut out = String::with_capacity(path.len() + method.len() + 1);
    out.push_str(method);
    out.push(' ');
    let mut prev: Option<&str> = None;
    let mut before_prev: Option<&str> = None;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        let is_id = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
        let after_token_owner = matches!(before_prev, Some("webhooks") | Some("interactions"))
            && prev.is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if is_id {
            let major = matches!(prev, Some("channels") | Some("guilds") | Some("webhooks"));
            if major {
                out.push_str(seg);
            } else {
                out.push_str("{id}");
            }
        } else if after_token_owner {
            out.push_str("{token}");
        } else {
            out.push_str(seg);
        }
        before_prev = prev;
        prev = Some(seg);
    }
    if out.ends_with(' ') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn n_requests_at_pace_r_take_n_minus_one_over_r() {
        let pacer = Pacer::new(40);
        let start = Instant::now();
        for _ in 0..41 {
            pacer.acquire("GET /gateway").await;
        }
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_are_spaced_evenly_without_bursts() {
        let pacer = Arc::new(Pacer::new(10));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let pacer = pacer.clone();
            tasks.push(tokio::spawn(async move {
                // Different routes: the global pace alone must space them.
                pacer.acquire(&format!("POST /channels/{i}/messages")).await;
                Instant::now() - start
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        for (k, t) in times.iter().enumerate() {
            assert_eq!(*t, Duration::from_millis(100) * k as u32);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn global_pause_delays_every_waiter() {
        let pacer = Arc::new(Pacer::new(1000));
        let start = Instant::now();
        pacer.pause_global(Duration::from_secs(2));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let pacer = pacer.clone();
            tasks.push(tokio::spawn(async move {
                pacer.acquire(&format!("GET /guilds/{i}/roles")).await;
                Instant::now() - start
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap() >= Duration::from_secs(2));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn global_pause_set_while_waiting_for_a_slot_is_honoured() {
        let pacer = Arc::new(Pacer::new(1));
        let start = Instant::now();
        pacer.acquire("GET /a").await;
        let waiter = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.acquire("GET /b").await;
                Instant::now() - start
            })
        };
        // The waiter holds the slot at 1 s; a 429 at 0.5 s says nobody may send before 3.5 s.
        tokio::time::sleep(Duration::from_millis(500)).await;
        pacer.pause_global(Duration::from_secs(3));
        assert!(waiter.await.unwrap() >= Duration::from_millis(3500));
    }

    #[tokio::test(start_paused = true)]
    async fn route_pause_delays_only_that_route() {
        let pacer = Pacer::new(1000);
        let start = Instant::now();
        pacer.pause_route("POST /channels/1/messages", Duration::from_secs(5));
        pacer.acquire("POST /channels/2/messages").await;
        assert!(Instant::now() - start < Duration::from_millis(10));
        pacer.acquire("POST /channels/1/messages").await;
        assert!(Instant::now() - start >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_bucket_header_waits_for_reset_before_next_request() {
        let pacer = Pacer::new(1000);
        let start = Instant::now();
        pacer.observe(
            "GET /guilds/1/members",
            Some(0),
            Some(Duration::from_millis(1500)),
        );
        pacer.observe(
            "GET /guilds/2/members",
            Some(3),
            Some(Duration::from_secs(9)),
        );
        pacer.acquire("GET /guilds/2/members").await;
        assert!(Instant::now() - start < Duration::from_millis(10));
        pacer.acquire("GET /guilds/1/members").await;
        assert!(Instant::now() - start >= Duration::from_millis(1500));
    }

    #[test]
    fn route_key_keeps_major_parameter_and_collapses_other_ids() {
        assert_eq!(
            route_key("POST", "/channels/123/messages"),
            "POST /channels/123/messages"
        );
        assert_eq!(
            route_key("PATCH", "/channels/123/messages/456"),
            "PATCH /channels/123/messages/{id}"
        );
        assert_eq!(
            route_key("GET", "/guilds/9/members/77?limit=1"),
            "GET /guilds/9/members/{id}"
        );
        assert_eq!(
            route_key("POST", "/users/@me/channels"),
            "POST /users/@me/channels"
        );
        assert_eq!(route_key("GET", "/users/42"), "GET /users/{id}");
    }

    #[test]
    fn route_key_never_contains_webhook_or_interaction_tokens() {
        let key = route_key(
            "POST",
            "/webhooks/11/aW50ZXJhY3Rpb24tdG9rZW4/messages/@original",
        );
        assert_eq!(key, "POST /webhooks/11/{token}/messages/@original");
        let key = route_key("POST", "/interactions/22/c2VjcmV0/callback");
        assert_eq!(key, "POST /interactions/{id}/{token}/callback");
    }
}
