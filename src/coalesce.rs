//! Coalescing bursts of updates into paced deliveries: for each key, at most one delivery
//! starts per window and a delivery starts no sooner than a window after the previous one
//! ended, however fast updates come; the last state always lands, and a key's deliveries never
//! overlap (so edits of one message arrive in order).
//!
//! Meant for message edits (Discord allows a few per message per five seconds): the live post
//! of a meeting changes with every join and leave, but only the latest state matters.

use crate::meeting::live::{LiveChange, LiveSink};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Per-key bookkeeping.
struct Slot<V> {
    /// The latest state not yet delivered.
    pending: Option<V>,
    /// A delivery for this key is running.
    in_flight: bool,
    /// The earliest start of the next delivery: a window after the last one started, and a
    /// window after it ended.
    next_at: Instant,
}

struct State<K, V> {
    slots: HashMap<K, Slot<V>>,
    closed: bool,
}

struct Shared<K, V> {
    state: Mutex<State<K, V>>,
    wake: Notify,
    window: Duration,
}

impl<K, V> Shared<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        // A panic while holding the lock leaves plain bookkeeping behind: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Delivers the latest value per key through `deliver`, paced per key by a window.
///
/// `deliver` returns `Err(value)` to have that value tried again a window later (unless a
/// newer one arrived meanwhile); it should return `Ok` for failures no retry can mend.
pub struct Coalescer<K, V> {
    shared: Arc<Shared<K, V>>,
}

impl<K, V> Clone for Coalescer<K, V> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Send + 'static,
{
    /// Starts the delivering task. Deliveries of different keys run concurrently.
    pub fn start<F, Fut>(window: Duration, deliver: F) -> (Coalescer<K, V>, JoinHandle<()>)
    where
        F: Fn(K, V) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), V>> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                slots: HashMap::new(),
                closed: false,
            }),
            wake: Notify::new(),
            window,
        });
        let task = tokio::spawn(drive(shared.clone(), Arc::new(deliver)));
        (Coalescer { shared }, task)
    }

    /// Records the latest state for `key`; never blocks on a delivery. Ignored after
    /// [`Coalescer::close`].
    pub fn push(&self, key: K, value: V) {
        let mut state = self.shared.lock();
        if state.closed {
            return;
        }
        let now = Instant::now();
        state
            .slots
            .entry(key)
            .or_insert(Slot {
                pending: None,
                in_flight: false,
                next_at: now,
            })
            .pending = Some(value);
        drop(state);
        self.shared.wake.notify_one();
    }

    /// How many keys have a state waiting to be delivered.
    pub fn waiting(&self) -> usize {
        self.shared
            .lock()
            .slots
            .values()
            .filter(|s| s.pending.is_some())
            .count()
    }

    /// Stops taking updates; the task delivers what is waiting (still paced) and then ends.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// Clears a slot's in-flight mark even if the delivery panicked, so the key is not stuck.
struct InFlight<K: Eq + Hash, V> {
    shared: Arc<Shared<K, V>>,
    key: K,
    retry: Option<V>,
}

impl<K: Eq + Hash, V> InFlight<K, V> {
    /// Ends the delivery; `retry` is the value to try again, if it failed.
    fn finish(mut self, retry: Option<V>) {
        self.retry = retry;
    }
}

impl<K: Eq + Hash, V> Drop for InFlight<K, V> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(slot) = state.slots.get_mut(&self.key) {
            slot.in_flight = false;
            // The window counts from the end of a delivery too: an edit that waited on a rate limit
            // lands late, and the next one must not follow it at once (a start-to-start window alone
            // let two edits of one message land a fraction of the window apart).
            slot.next_at = slot.next_at.max(Instant::now() + self.shared.window);
            if slot.pending.is_none() {
                slot.pending = self.retry.take();
            }
        }
        drop(state);
        self.shared.wake.notify_one();
    }
}

async fn drive<K, V, F, Fut>(shared: Arc<Shared<K, V>>, deliver: Arc<F>)
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Send + 'static,
    F: Fn(K, V) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), V>> + Send + 'static,
{
    let mut running = JoinSet::new();
    loop {
        let (ready, next_wake, finished) = {
            let mut state = shared.lock();
            let now = Instant::now();
            let mut ready = Vec::new();
            let mut next_wake: Option<Instant> = None;
            for (key, slot) in state.slots.iter_mut() {
                if slot.in_flight || slot.pending.is_none() {
                    continue;
                }
                if slot.next_at <= now {
                    let value = slot.pending.take().expect("checked above");
                    slot.in_flight = true;
                    slot.next_at = now + shared.window;
                    ready.push((key.clone(), value));
                } else {
                    next_wake = Some(next_wake.map_or(slot.next_at, |w| w.min(slot.next_at)));
                }
            }
            // A key with nothing waiting and its window over needs no memory any more.
            state
                .slots
                .retain(|_, s| s.in_flight || s.pending.is_some() || s.next_at > now);
            for s in state.slots.values() {
                if !s.in_flight && s.pending.is_none() {
                    next_wake = Some(next_wake.map_or(s.next_at, |w| w.min(s.next_at)));
                }
            }
            let finished = state.closed
                && state
                    .slots
                    .values()
                    .all(|s| !s.in_flight && s.pending.is_none());
            (ready, next_wake, finished)
        };
        for (key, value) in ready {
            let deliver = deliver.clone();
            let guard = InFlight {
                shared: shared.clone(),
                key: key.clone(),
                retry: None,
            };
            running.spawn(async move {
                let outcome = deliver(key, value).await;
                guard.finish(outcome.err());
            });
        }
        if finished {
            break;
        }
        let sleep = async {
            match next_wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = sleep => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
}

/// A coalescer keyed by occurrence is a sink: however fast events come, each post is edited
/// at most once per window, and the last state lands.
impl LiveSink for Coalescer<i64, LiveChange> {
    fn changed(&self, change: LiveChange) {
        self.push(change.occurrence_id, change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    type Log = Arc<StdMutex<Vec<(u32, u32, Instant)>>>;

    fn recorder(
        log: Log,
        takes: Duration,
    ) -> impl Fn(u32, u32) -> std::pin::Pin<Box<dyn Future<Output = Result<(), u32>> + Send>>
           + Send
           + Sync
           + 'static {
        move |k, v| {
            let log = log.clone();
            Box::pin(async move {
                log.lock().unwrap().push((k, v, Instant::now()));
                tokio::time::sleep(takes).await;
                Ok(())
            })
        }
    }

    const WINDOW: Duration = Duration::from_secs(3);

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_delivered_at_most_once_per_window_and_ends_with_the_last_state() {
        let log: Log = Arc::default();
        let (c, task) = Coalescer::start(WINDOW, recorder(log.clone(), Duration::ZERO));
        let start = Instant::now();
        // 200 updates over 10 s.
        for v in 0..200u32 {
            c.push(7, v);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(WINDOW * 2).await;
        c.close();
        task.await.unwrap();
        let log = log.lock().unwrap();
        let times: Vec<Duration> = log.iter().map(|(_, _, at)| *at - start).collect();
        assert!(log.len() <= 5, "{} deliveries: {times:?}", log.len());
        for pair in log.windows(2) {
            assert!(pair[1].2 - pair[0].2 >= WINDOW, "{times:?}");
        }
        assert_eq!(log.last().unwrap().1, 199);
        // The first update goes out at once rather than waiting a window.
        assert_eq!(log[0], (7, 0, start));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_paced_independently() {
        let log: Log = Arc::default();
        let (c, task) = Coalescer::start(WINDOW, recorder(log.clone(), Duration::ZERO));
        c.push(1, 10);
        c.push(2, 20);
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.push(1, 11);
        c.push(2, 21);
        c.close();
        task.await.unwrap();
        let log = log.lock().unwrap();
        let of = |k: u32| {
            log.iter()
                .filter(|e| e.0 == k)
                .map(|e| e.1)
                .collect::<Vec<_>>()
        };
        assert_eq!(of(1), vec![10, 11]);
        assert_eq!(of(2), vec![20, 21]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_delivery_is_never_overlapped_by_the_next_one_for_its_key() {
        let log: Log = Arc::default();
        let slow = WINDOW * 2;
        let (c, task) = Coalescer::start(WINDOW, recorder(log.clone(), slow));
        c.push(1, 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.push(1, 2);
        c.close();
        task.await.unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 2);
        assert!(log[1].2 - log[0].2 >= slow);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delivery_is_retried_a_window_later_unless_a_newer_state_came() {
        let log: Log = Arc::default();
        let failures = Arc::new(StdMutex::new(1u32));
        let deliver = {
            let (log, failures) = (log.clone(), failures.clone());
            move |k: u32, v: u32| {
                let (log, failures) = (log.clone(), failures.clone());
                async move {
                    log.lock().unwrap().push((k, v, Instant::now()));
                    let mut left = failures.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        return Err(v);
                    }
                    Ok(())
                }
            }
        };
        let (c, task) = Coalescer::start(WINDOW, deliver);
        let start = Instant::now();
        c.push(1, 1);
        tokio::time::sleep(WINDOW * 2).await;
        // Fails once more; then a newer state supersedes the retry.
        *failures.lock().unwrap() = 1;
        c.push(1, 2);
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.push(1, 3);
        c.close();
        task.await.unwrap();
        let log = log.lock().unwrap();
        let values: Vec<u32> = log.iter().map(|e| e.1).collect();
        assert_eq!(values, vec![1, 1, 2, 3]);
        assert_eq!(log[1].2 - start, WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_delivery_does_not_block_its_key() {
        let log: Log = Arc::default();
        let deliver = {
            let log = log.clone();
            move |k: u32, v: u32| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push((k, v, Instant::now()));
                    assert!(v != 1, "delivery of 1 panics");
                    Ok::<(), u32>(())
                }
            }
        };
        let (c, task) = Coalescer::start(WINDOW, deliver);
        c.push(1, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.push(1, 2);
        c.close();
        task.await.unwrap();
        let values: Vec<u32> = log.lock().unwrap().iter().map(|e| e.1).collect();
        assert_eq!(values, vec![1, 2]);
    }

    /// One delivery as seen from inside: key, value, start, end.
    type Spans = Arc<StdMutex<Vec<(u32, u32, Instant, Instant)>>>;

    /// Checks every key's deliveries in `spans`: they never overlap, each starts at least a
    /// window after the previous one started and after it ended, and the last one carries
    /// `last[key]`.
    fn assert_paced(spans: &[(u32, u32, Instant, Instant)], last: &HashMap<u32, u32>) {
        for (key, want) in last {
            let of: Vec<_> = spans.iter().filter(|s| s.0 == *key).collect();
            for pair in of.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                assert!(
                    b.2 >= a.3 + WINDOW,
                    "key {key}: delivery of {} started {:?} after the previous one ended",
                    b.1,
                    b.2 - a.3
                );
                assert!(b.2 >= a.2 + WINDOW, "key {key}");
            }
            assert_eq!(of.last().map(|s| s.1), Some(*want), "key {key}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_delivery_waits_a_window_after_a_slow_one_ended() {
        let spans: Spans = Arc::default();
        // Each delivery takes half a window, as an edit behind a rate limit does.
        let deliver = {
            let spans = spans.clone();
            move |k: u32, v: u32| {
                let spans = spans.clone();
                async move {
                    let started = Instant::now();
                    tokio::time::sleep(WINDOW / 2).await;
                    spans.lock().unwrap().push((k, v, started, Instant::now()));
                    Ok::<(), u32>(())
                }
            }
        };
        let (c, task) = Coalescer::start(WINDOW, deliver);
        for v in 0..200u32 {
            c.push(1, v);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.close();
        task.await.unwrap();
        let spans = spans.lock().unwrap();
        assert!(spans.len() >= 2, "{spans:?}");
        assert_paced(&spans, &HashMap::from([(1, 199)]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_right_after_a_long_delivery_still_waits_a_window() {
        let log: Log = Arc::default();
        let takes = WINDOW * 2;
        let (c, task) = Coalescer::start(WINDOW, recorder(log.clone(), takes));
        let start = Instant::now();
        c.push(1, 1);
        // Nothing waits while the first delivery runs; the next change comes just after it ended.
        tokio::time::sleep(takes + Duration::from_millis(100)).await;
        c.push(1, 2);
        c.close();
        task.await.unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].2 - start, takes + WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_slow_delivery_is_retried_a_window_after_it_ended() {
        let log: Log = Arc::default();
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let deliver = {
            let (log, failed) = (log.clone(), failed.clone());
            move |k: u32, v: u32| {
                let (log, failed) = (log.clone(), failed.clone());
                async move {
                    log.lock().unwrap().push((k, v, Instant::now()));
                    tokio::time::sleep(WINDOW).await;
                    if !failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        return Err(v);
                    }
                    Ok(())
                }
            }
        };
        let (c, task) = Coalescer::start(WINDOW, deliver);
        let start = Instant::now();
        c.push(1, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.close();
        task.await.unwrap();
        let log = log.lock().unwrap();
        let values: Vec<u32> = log.iter().map(|e| e.1).collect();
        assert_eq!(values, vec![1, 1]);
        assert_eq!(log[1].2 - start, WINDOW * 2);
    }

    /// A small deterministic generator, so the mixed-load test is the same on every run.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_on_many_keys_with_slow_and_failing_deliveries_stay_paced_and_end_right() {
        let spans: Spans = Arc::default();
        let running: Arc<StdMutex<HashMap<u32, u32>>> = Arc::default();
        let tried: Arc<StdMutex<std::collections::HashSet<(u32, u32)>>> = Arc::default();
        let overlaps = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let deliver = {
            let (spans, running, tried) = (spans.clone(), running.clone(), tried.clone());
            let overlaps = overlaps.clone();
            move |k: u32, v: u32| {
                let (spans, running, tried) = (spans.clone(), running.clone(), tried.clone());
                let overlaps = overlaps.clone();
                async move {
                    let started = Instant::now();
                    // Counted rather than asserted here: a panic in a delivery is caught.
                    *running.lock().unwrap().entry(k).or_default() += 1;
                    if running.lock().unwrap()[&k] > 1 {
                        overlaps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    // Anywhere from instant to two windows; every fifth value fails once.
                    let takes = Duration::from_millis(u64::from(v % 7) * 1000);
                    tokio::time::sleep(takes).await;
                    *running.lock().unwrap().get_mut(&k).unwrap() -= 1;
                    if v % 5 == 0 && tried.lock().unwrap().insert((k, v)) {
                        return Err(v);
                    }
                    spans.lock().unwrap().push((k, v, started, Instant::now()));
                    Ok(())
                }
            }
        };
        let (c, task) = Coalescer::start(WINDOW, deliver);
        let mut rng = Lcg(7);
        let mut last = HashMap::new();
        for v in 1..=600u32 {
            let key = rng.below(6) as u32;
            c.push(key, v);
            last.insert(key, v);
            // Bursts: mostly a few milliseconds apart, sometimes a pause of seconds.
            let pause = if rng.below(20) == 0 {
                rng.below(8000)
            } else {
                rng.below(40)
            };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        c.close();
        task.await.unwrap();
        assert_eq!(overlaps.load(std::sync::atomic::Ordering::SeqCst), 0);
        let spans = spans.lock().unwrap();
        assert_paced(&spans, &last);
        assert!(spans.len() > last.len() * 3, "{} deliveries", spans.len());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_forgotten_after_their_window() {
        let (c, task) = Coalescer::start(WINDOW, |_k: u32, _v: u32| async { Ok(()) });
        for k in 0..100 {
            c.push(k, k);
        }
        tokio::time::sleep(WINDOW * 2).await;
        assert_eq!(c.waiting(), 0);
        assert!(c.shared.lock().slots.is_empty());
        c.close();
        task.await.unwrap();
    }
}
