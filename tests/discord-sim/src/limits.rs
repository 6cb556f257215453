//! Injected faults, forced rate limits and the global request window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Matches `path` against a glob where `*` stands for any run of characters inside one
/// segment and `**` for any run of characters across segments.
pub fn glob_match(glob: &str, path: &str) -> bool {
    fn go(g: &[u8], p: &[u8]) -> bool {
        match g.first() {
            None => p.is_empty(),
            Some(b'*') if g.get(1) == Some(&b'*') => (0..=p.len()).any(|i| go(&g[2..], &p[i..])),
            Some(b'*') => {
                let mut i = 0;
                loop {
                    if go(&g[1..], &p[i..]) {
                        return true;
                    }
                    if i == p.len() || p[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some(c) => p.first() == Some(c) && go(&g[1..], &p[1..]),
        }
    }
    go(glob.as_bytes(), path.as_bytes())
}

/// What a matching rule answers instead of the real route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// A plain error status such as 500 or 502.
    Status(u16),
    /// The request is carried out (a message or event is created), then answered with this status, as when a
    /// proxy in front of Discord times out: the client cannot know it worked.
    StatusAfter(u16),
    /// A 429 with the given `retry_after` seconds and scope.
    RateLimited { retry_after: f64, global: bool },
}

#[derive(Debug, Clone)]
struct FaultRule {
    method: String,
    glob: String,
    kind: FaultKind,
    remaining: u32,
}

/// Faults queued from tests, consumed in the order they were added.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Queues `count` answers of `kind` for requests matching `method` and `glob`.
    pub fn push(&mut self, method: &str, glob: &str, kind: FaultKind, count: u32) {
        if count > 0 {
            self.rules.push(FaultRule {
                method: method.to_ascii_uppercase(),
                glob: glob.to_string(),
                kind,
                remaining: count,
            });
        }
    }

    /// Takes one answer from the first rule matching this request, if any.
    ///
    /// `/gateway` is hit only by a glob naming it exactly: when serenity cannot read it, it
    /// falls back to the real `wss://gateway.discord.gg`, which a test must never reach.
    pub fn take(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let idx = self.rules.iter().position(|r| {
            (r.method == "*" || r.method.eq_ignore_ascii_case(method))
                && if path == "/gateway" {
                    r.glob == "/gateway"
                } else {
                    glob_match(&r.glob, path)
                }
        })?;
        let rule = &mut self.rules[idx];
        let kind = rule.kind;
        rule.remaining -= 1;
        if rule.remaining == 0 {
            self.rules.remove(idx);
        }
        Some(kind)
    }
}

/// A sliding one-second window over admitted requests, like Discord's global limit.
#[derive(Debug)]
pub struct GlobalWindow {
    per_second: u32,
    admitted: VecDeque<Instant>,
}

impl GlobalWindow {
    /// A window admitting at most `per_second` requests in any one second.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            admitted: VecDeque::new(),
        }
    }

    /// Admits the request (`None`) or says how long until a slot frees up.
    pub fn admit(&mut self, now: Instant) -> Option<Duration> {
        let window = Duration::from_secs(1);
        while let Some(&first) = self.admitted.front() {
            if now.duration_since(first) >= window {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if (self.admitted.len() as u32) < self.per_second {
            self.admitted.push_back(now);
            return None;
        }
        let oldest = *self.admitted.front()?;
        Some(window.saturating_sub(now.duration_since(oldest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_star_stays_inside_one_segment() {
        assert!(glob_match("/channels/*/messages", "/channels/12/messages"));
        assert!(!glob_match("/channels/*", "/channels/12/messages"));
        assert!(glob_match("/channels/**", "/channels/12/messages"));
        assert!(!glob_match("/users/@me", "/users/@me/channels"));
    }

    #[test]
    fn fault_rule_is_used_up_after_count_answers() {
        let mut f = Faults::default();
        f.push("post", "/channels/*/messages", FaultKind::Status(502), 2);
        assert_eq!(f.take("GET", "/channels/1/messages"), None);
        assert_eq!(
            f.take("POST", "/channels/1/messages"),
            Some(FaultKind::Status(502))
        );
        assert_eq!(
            f.take("POST", "/channels/2/messages"),
            Some(FaultKind::Status(502))
        );
        assert_eq!(f.take("POST", "/channels/3/messages"), None);
    }

    #[test]
    fn only_an_exact_glob_faults_the_gateway_lookup() {
        let mut f = Faults::default();
        f.push("*", "/**", FaultKind::Status(500), 5);
        assert_eq!(f.take("GET", "/gateway"), None);
        assert_eq!(f.take("GET", "/gateway/bot"), Some(FaultKind::Status(500)));
        f.push("GET", "/gateway", FaultKind::Status(502), 1);
        assert_eq!(f.take("GET", "/gateway"), Some(FaultKind::Status(502)));
    }

    #[test]
    fn window_refuses_the_request_over_the_limit_until_a_second_has_passed() {
        let mut w = GlobalWindow::new(2);
        let t0 = Instant::now();
        assert_eq!(w.admit(t0), None);
        assert_eq!(w.admit(t0 + Duration::from_millis(100)), None);
        let wait = w
            .admit(t0 + Duration::from_millis(200))
            .expect("third request refused");
        assert_eq!(wait, Duration::from_millis(800));
        assert_eq!(w.admit(t0 + Duration::from_millis(1000)), None);
    }
}
