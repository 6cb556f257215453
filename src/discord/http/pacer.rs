//! Client-side pacing for every REST request the bot sends: a global pace, global and per-route
//! pauses after 429s, and pre-emptive per-route waits from Discord's rate-limit headers.
//!
//! Discord counts 401/403/429 answers towards a Cloudflare ban, so the point of pacing ahead of
//! time is to never see a 429 at all, not merely to recover from one.
//!
//! On PostgreSQL the global pace is not this process's own: every slot is drawn from the bot token's
//! [`GlobalBudget`], so all processes together stay at the pace, and a global 429 seen by one pauses all.
//!
//! Two lanes: [`Lane::Urgent`] (a person waiting: replies, audit entries, the caller's own link) and
//! [`Lane::Bulk`] (the DM fan-out, announcements). At most one bulk request queues for the next slot at a
//! time, so an urgent request waits for at most one slot, however many DMs are queued behind it.

use crate::store::GlobalBudget;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Which queue a request waits in for its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    /// Someone is waiting for it (replies, audit): it goes ahead of every bulk request.
    Urgent,
    /// Fan-out work (DMs, announcements): takes the slots urgent requests leave.
    #[default]
    Bulk,
}

/// The pace used when none is configured: below Discord's global 50 requests/s, with headroom for
/// requests serenity sends on its own (interaction responses share the bot's IP).
pub const DEFAULT_PACE_PER_SECOND: u32 = 40;

/// Shared pacing state; one per bot, shared by every request sent through the REST client.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    /// When the last request was let through. Waiters queue on this lock in FIFO order, and the
    /// spacing is measured from the moment the previous request actually left, so a late timer
    /// wake-up never lets the next two requests out closer together than the pace.
    last_sent: tokio::sync::Mutex<Option<Instant>>,
    pauses: Mutex<Pauses>,
    /// The bot token's budget shared with other processes; `None`: this process's own pace.
    shared: Option<Arc<dyn GlobalBudget>>,
    /// Bulk requests queue here first, so at most one of them waits for a slot beside urgent ones.
    bulk_gate: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Pauses {
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
            last_sent: tokio::sync::Mutex::new(None),
            pauses: Mutex::new(Pauses::default()),
            shared: None,
            bulk_gate: tokio::sync::Mutex::new(()),
        }
    }

    /// A pacer whose global slots come from `budget`, shared by every process of the bot (its pace is the
    /// budget's); route pauses and bucket headers stay this process's own.
    pub fn shared(per_second: u32, budget: Arc<dyn GlobalBudget>) -> Self {
        Self {
            shared: Some(budget),
            ..Self::new(per_second)
        }
    }

    /// Whether global slots come from a budget shared with other processes.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The spacing between two consecutive requests.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits until a bulk request on `route` may be sent. Cancel-safe: a dropped wait takes no slot (from a
    /// shared budget: at most the one it booked).
    pub async fn acquire(&self, route: &str) {
        self.acquire_in(route, Lane::Bulk).await
    }

    /// Waits until a request on `route` in `lane` may be sent.
    pub async fn acquire_in(&self, route: &str, lane: Lane) {
        loop {
            // Pauses are waited out before joining the queue, so a paused route never holds up
            // requests on other routes.
            while let Some(until) = self.blocked_until(route) {
                tokio::time::sleep_until(until).await;
            }
            let _gate = match lane {
                Lane::Bulk => Some(self.bulk_gate.lock().await),
                Lane::Urgent => None,
            };
            if self.blocked_until(route).is_some() {
                continue;
            }
            let mut last = self.last_sent.lock().await;
            match &self.shared {
                // The slot is booked only once this request is next, so an urgent request arriving meanwhile
                // is not queued behind slots booked ahead for bulk ones.
                Some(budget) => {
                    budget.acquire().await;
                }
                None => {
                    if let Some(prev) = *last {
                        tokio::time::sleep_until(prev + self.interval).await;
                    }
                }
            }
            // A 429 may have arrived while this request queued; honour it rather than sending
            // into a limit we already know about.
            if self.blocked_until(route).is_some() {
                continue;
            }
            *last = Some(Instant::now());
            return;
        }
    }

    /// How long requests on `route` are still held back by a global or route pause, if at all.
    pub fn blocked_for(&self, route: &str) -> Option<Duration> {
        self.blocked_until(route)
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    fn blocked_until(&self, route: &str) -> Option<Instant> {
        let mut p = self.pauses.lock().expect("pacer lock");
        let now = Instant::now();
        if p.global_until.is_some_and(|u| u <= now) {
            p.global_until = None;
        }
        if p.route_until.get(route).is_some_and(|u| *u <= now) {
            p.route_until.remove(route);
        }
        let global = p.global_until;
        let route = p.route_until.get(route).copied();
        match (global, route) {
            (Some(g), Some(r)) => Some(g.max(r)),
            (g, r) => g.or(r),
        }
    }

    /// A global 429: pauses this process at once and, with a shared budget, every other process from its next
    /// booking on.
    pub async fn report_global_429(&self, after: Duration) {
        self.pause_global(after);
        if let Some(budget) = &self.shared {
            budget.report_global_429(after).await;
        }
    }

    /// Pauses every request of this process until `after` has elapsed (a global 429).
    pub fn pause_global(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut p = self.pauses.lock().expect("pacer lock");
        p.global_until = Some(p.global_until.map_or(until, |u| u.max(until)));
    }

    /// Pauses requests on `route` until `after` has elapsed (a route 429, or an exhausted bucket).
    pub fn pause_route(&self, route: &str, after: Duration) {
        let until = Instant::now() + after;
        let mut p = self.pauses.lock().expect("pacer lock");
        let entry = p.route_until.entry(route.to_owned()).or_insert(until);
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
    async fn an_urgent_request_waits_for_at_most_one_slot_behind_a_queue_of_bulk_ones() {
        let pacer = Arc::new(Pacer::new(10));
        let start = Instant::now();
        pacer.acquire("GET /first").await;
        let mut bulk = Vec::new();
        for i in 0..20 {
            let pacer = pacer.clone();
            bulk.push(tokio::spawn(async move {
                pacer.acquire(&format!("POST /channels/{i}/messages")).await;
                Instant::now() - start
            }));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        pacer
            .acquire_in("POST /channels/99/messages", Lane::Urgent)
            .await;
        let urgent = Instant::now() - start;
        assert!(
            urgent <= Duration::from_millis(300),
            "the urgent request waited {urgent:?} behind 20 bulk ones"
        );
        let mut times = Vec::new();
        for t in bulk {
            times.push(t.await.unwrap());
        }
        times.push(urgent);
        times.sort();
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(100),
                "the pace holds: {times:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_budget_gives_the_slots_and_hears_of_a_global_429() {
        let budget = Arc::new(crate::store::LocalBudget::new(5));
        let pacer = Pacer::shared(40, budget.clone());
        assert!(pacer.is_shared());
        let start = Instant::now();
        for _ in 0..6 {
            pacer.acquire("GET /a").await;
        }
        assert_eq!(
            Instant::now() - start,
            Duration::from_secs(1),
            "the budget's pace, not 40/s"
        );
        pacer.report_global_429(Duration::from_secs(3)).await;
        let reported = Instant::now();
        // The budget itself (which other processes share) is paused, not only this pacer.
        assert!(budget.acquire().await.at >= reported + Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn global_pause_delays_every_waiter_then_releases_them_at_the_pace() {
        let pacer = Arc::new(Pacer::new(10));
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
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        for (k, t) in times.iter().enumerate() {
            assert_eq!(
                *t,
                Duration::from_secs(2) + Duration::from_millis(100) * k as u32
            );
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
        assert_eq!(pacer.blocked_for("POST /channels/2/messages"), None);
        assert_eq!(
            pacer.blocked_for("POST /channels/1/messages"),
            Some(Duration::from_secs(5))
        );
        pacer.acquire("POST /channels/2/messages").await;
        assert!(Instant::now() - start < Duration::from_millis(10));
        pacer.acquire("POST /channels/1/messages").await;
        assert!(Instant::now() - start >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn waiter_on_a_paused_route_does_not_hold_up_other_routes() {
        let pacer = Arc::new(Pacer::new(10));
        let start = Instant::now();
        pacer.pause_route("POST /channels/1/messages", Duration::from_secs(5));
        let paused = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.acquire("POST /channels/1/messages").await;
                Instant::now() - start
            })
        };
        tokio::task::yield_now().await;
        for k in 0..3u32 {
            pacer.acquire("POST /channels/2/messages").await;
            assert_eq!(Instant::now() - start, Duration::from_millis(100) * k);
        }
        assert_eq!(paused.await.unwrap(), Duration::from_secs(5));
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
