//! What several processes on one database share: the database's clock, the REST budget, cooldowns, DM channels and
//! turns. Each "process" is a pool of its own on the same database.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use meetbot::clock::{Clock, ManualClock, SharedClock};
use meetbot::meeting::cooldown::{Action, CooldownBook, Cooldowns};
use meetbot::store::{
    bucket_for_token, BudgetOptions, DbClock, GlobalBudget, Housekeeping, Pruned, Store,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "support/db.rs"]
mod db;

#[path = "support/relay.rs"]
mod relay;

use db::TestDb;

on_both_backends!(
    stored_cooldowns_follow_the_in_memory_semantics,
    stored_cooldowns_survive_a_reopen_and_are_shared_by_two_pools,
    two_pools_racing_for_one_cooldown_let_exactly_one_through,
    expired_cooldowns_are_pruned_and_live_ones_kept,
    dm_channel_is_remembered_read_back_and_forgotten,
    dm_channels_unused_for_the_ttl_are_pruned,
    db_clock_reads_the_databases_time_through_the_process_clock,
);

const GUILD: u64 = 1_100_000_000_000_000_001;
const USER: u64 = 4_400_000_000_000_000_004;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Cooldowns

/// The behaviour every cooldown book must have; run against the in-memory one and the store.
async fn cooldown_semantics(book: &dyn CooldownBook) {
    let len = Span::seconds(30);
    let take = |user, action, at| book.try_take(GUILD, user, action, at, len);
    assert_eq!(take(1, Action::Meet, t(0)).await.unwrap(), Ok(()));
    assert_eq!(
        take(1, Action::Meet, t(29)).await.unwrap(),
        Err(t(30)),
        "refused with the instant it frees up"
    );
    // Other users, servers and commands are not blocked.
    assert_eq!(take(2, Action::Meet, t(1)).await.unwrap(), Ok(()));
    assert_eq!(take(1, Action::Invite, t(1)).await.unwrap(), Ok(()));
    assert_eq!(
        book.try_take(GUILD + 1, 1, Action::Meet, t(1), len)
            .await
            .unwrap(),
        Ok(())
    );
    // Free once its time has passed; the new use starts a new cooldown.
    assert_eq!(take(1, Action::Meet, t(30)).await.unwrap(), Ok(()));
    assert_eq!(take(1, Action::Meet, t(31)).await.unwrap(), Err(t(60)));
    // Giving back the use taken at 30 frees the user at once; giving back an older one changes nothing.
    book.give_back(GUILD, 2, Action::Meet, t(0)).await.unwrap();
    assert_eq!(take(2, Action::Meet, t(2)).await.unwrap(), Err(t(31)));
    book.give_back(GUILD, 1, Action::Meet, t(30)).await.unwrap();
    assert_eq!(take(1, Action::Meet, t(32)).await.unwrap(), Ok(()));
    // A zero length never blocks.
    for s in 0..3 {
        assert_eq!(
            book.try_take(GUILD, 9, Action::Invite, t(s), Span::zero())
                .await
                .unwrap(),
            Ok(())
        );
    }
    // Sub-second instants: a use is given back by exactly the instant it was taken.
    let at = t(100) + Span::milliseconds(250);
    assert_eq!(take(3, Action::Meet, at).await.unwrap(), Ok(()));
    book.give_back(GUILD, 3, Action::Meet, at - Span::milliseconds(1))
        .await
        .unwrap();
    assert_eq!(
        take(3, Action::Meet, at + Span::milliseconds(1))
            .await
            .unwrap(),
        Err(at + len)
    );
}

#[tokio::test]
async fn in_memory_cooldowns_have_the_shared_semantics() {
    cooldown_semantics(&Cooldowns::new()).await;
}

async fn stored_cooldowns_follow_the_in_memory_semantics(db: &TestDb) {
    cooldown_semantics(&db.store).await;
    // A zero length writes nothing.
    assert_eq!(db.store.cooldown_count().await.unwrap(), 5);
}

async fn stored_cooldowns_survive_a_reopen_and_are_shared_by_two_pools(db: &TestDb) {
    let len = Span::seconds(60);
    let other = Store::open(&db.url).await.unwrap();
    db.store
        .try_take(GUILD, USER, Action::Invite, t(0), len)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        other
            .try_take(GUILD, USER, Action::Invite, t(10), len)
            .await
            .unwrap(),
        Err(t(60)),
        "another process sees the cooldown"
    );
    other.close().await;
    let reopened = Store::open(&db.url).await.unwrap();
    assert_eq!(
        reopened
            .try_take(GUILD, USER, Action::Invite, t(20), len)
            .await
            .unwrap(),
        Err(t(60)),
        "a restart keeps it"
    );
    reopened.close().await;
}

async fn two_pools_racing_for_one_cooldown_let_exactly_one_through(db: &TestDb) {
    let other = Store::open(&db.url).await.unwrap();
    let len = Span::seconds(60);
    for round in 0..5 {
        // The same instant in both: the use id, not the time, tells the winner.
        let at = t(round * 100);
        let racers = (0..16).map(|i| {
            let store = if i % 2 == 0 {
                db.store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move {
                store
                    .try_take(GUILD, USER, Action::Meet, at, len)
                    .await
                    .unwrap()
            })
        });
        let results = futures::future::join_all(racers).await;
        let through = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
        assert_eq!(through, 1, "round {round}: {results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(Ok(())) | Ok(Err(_)))));
    }
    other.close().await;
}

async fn expired_cooldowns_are_pruned_and_live_ones_kept(db: &TestDb) {
    let s = &db.store;
    for user in 0..10 {
        let len = Span::seconds(10 + user);
        s.try_take(GUILD, user as u64, Action::Meet, t(0), len)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        s.prune_cooldowns(t(14)).await.unwrap(),
        5,
        "10..=14 s are over"
    );
    assert_eq!(s.cooldown_count().await.unwrap(), 5);
    assert_eq!(
        s.try_take(GUILD, 9, Action::Meet, t(14), Span::seconds(1))
            .await
            .unwrap(),
        Err(t(19)),
        "a live one still blocks"
    );
    assert_eq!(
        s.try_take(GUILD, 0, Action::Meet, t(14), Span::seconds(1))
            .await
            .unwrap(),
        Ok(()),
        "a pruned one is free"
    );
}

// ---------------------------------------------------------------------------------------------
// DM channels

async fn dm_channel_is_remembered_read_back_and_forgotten(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.dm_channel(USER, t(0)).await.unwrap(), None);
    s.remember_dm_channel(USER, 77, t(0)).await.unwrap();
    let other = Store::open(&db.url).await.unwrap();
    assert_eq!(
        other.dm_channel(USER, t(1)).await.unwrap(),
        Some(77),
        "another process reads it"
    );
    other.close().await;
    // Snowflakes use the whole 63 bits.
    s.remember_dm_channel(u64::MAX >> 1, u64::MAX >> 2, t(0))
        .await
        .unwrap();
    assert_eq!(
        s.dm_channel(u64::MAX >> 1, t(0)).await.unwrap(),
        Some(u64::MAX >> 2)
    );
    // Forgetting a channel that was replaced meanwhile keeps the new one.
    s.remember_dm_channel(USER, 78, t(2)).await.unwrap();
    s.forget_dm_channel(USER, 77).await.unwrap();
    assert_eq!(s.dm_channel(USER, t(3)).await.unwrap(), Some(78));
    s.forget_dm_channel(USER, 78).await.unwrap();
    assert_eq!(s.dm_channel(USER, t(4)).await.unwrap(), None);
    let reopened = Store::open(&db.url).await.unwrap();
    assert_eq!(
        reopened.dm_channel(u64::MAX >> 1, t(5)).await.unwrap(),
        Some(u64::MAX >> 2),
        "kept across a restart"
    );
    reopened.close().await;
}

async fn dm_channels_unused_for_the_ttl_are_pruned(db: &TestDb) {
    let s = &db.store;
    let day = Span::days(1);
    s.remember_dm_channel(1, 11, t(0)).await.unwrap();
    s.remember_dm_channel(2, 22, t(0)).await.unwrap();
    // User 1 gets DMs every ten days, user 2 never again.
    for d in [10, 20, 30] {
        assert_eq!(s.dm_channel(1, t(0) + day * d).await.unwrap(), Some(11));
    }
    let ttl = Duration::from_secs(25 * 86_400);
    let clock: SharedClock = Arc::new(ManualClock::new(t(0) + day * 31));
    let settings = Housekeeping {
        dm_channel_ttl: ttl,
        ..Housekeeping::default()
    };
    let pruned = s.prune_expired(&clock, &settings).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            cooldowns: 0,
            dm_channels: 1,
            ..Pruned::default()
        }
    );
    assert_eq!(s.dm_channel(2, t(0) + day * 31).await.unwrap(), None);
    // Reads within a day of the last mark do not move it (no write per DM).
    let half_a_day_later = t(0) + day * 30 + Span::hours(12);
    assert_eq!(s.dm_channel(1, half_a_day_later).await.unwrap(), Some(11));
    assert_eq!(
        s.prune_dm_channels(t(0) + day * 30 - Span::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.prune_dm_channels(t(0) + day * 30 + Span::seconds(1))
            .await
            .unwrap(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// The database's clock

/// A process clock `offset` away from the machine's.
#[derive(Debug)]
struct SkewedClock(Span);

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

async fn db_clock_reads_the_databases_time_through_the_process_clock(db: &TestDb) {
    let s = &db.store;
    if s.backend_name() == "sqlite" {
        // One process: its own clock is the only one, and tests keep driving it.
        let manual = ManualClock::new(t(0));
        let clock = DbClock::measure(s.clone(), Arc::new(manual.clone()))
            .await
            .unwrap();
        assert_eq!(clock.now(), t(0));
        manual.advance(Span::hours(5));
        assert_eq!(clock.now(), t(0) + Span::hours(5));
        return;
    }
    for skew in [Span::minutes(5), -Span::minutes(5)] {
        let clock = DbClock::start(
            s.clone(),
            Arc::new(SkewedClock(skew)),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let before = s.db_now().await.unwrap();
        let ours = clock.now();
        let after = s.db_now().await.unwrap();
        let slack = Span::milliseconds(50);
        assert!(
            ours >= before - slack && ours <= after + slack,
            "skew {skew}: {ours} not within [{before}, {after}]"
        );
        let error = (clock.offset() + skew).abs();
        assert!(error < Span::milliseconds(50), "offset off by {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// The REST budget (PostgreSQL: real time, a few seconds)

const PACE: u32 = 40;

/// Grants drawn by one process: which process, and the slot on the database's clock.
type Drawn = Arc<Mutex<Vec<(usize, DateTime<Utc>)>>>;

/// Draws from `budget` with `tasks` callers as fast as the budget lets them, until `stop`.
fn draw(
    process: usize,
    budget: Arc<dyn GlobalBudget>,
    tasks: usize,
    stop: Arc<AtomicBool>,
    drawn: Drawn,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..tasks)
        .map(|_| {
            let (budget, stop, drawn) = (budget.clone(), stop.clone(), drawn.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let g = budget.acquire().await;
                    let slot = g.shared_slot.expect("granted from the shared schedule");
                    drawn.lock().unwrap().push((process, slot));
                }
            })
        })
        .collect()
}

/// The most slots in any one-second window [t, t + 1 s).
fn busiest_second(slots: &[DateTime<Utc>]) -> usize {
    let mut sorted = slots.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut j = 0;
    for i in 0..sorted.len() {
        while j < sorted.len() && sorted[j] < sorted[i] + Span::seconds(1) {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}

fn in_window(drawn: &[(usize, DateTime<Utc>)], from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    drawn.iter().filter(|(_, s)| *s >= from && *s < to).count()
}

async fn three_processes(db: &TestDb) -> (Vec<Store>, Vec<Arc<dyn GlobalBudget>>) {
    let stores = vec![
        db.store.clone(),
        Store::open(&db.url).await.unwrap(),
        Store::open(&db.url).await.unwrap(),
    ];
    let bucket = bucket_for_token("MTA1.the-bots-token");
    let budgets = stores
        .iter()
        .map(|s| s.global_budget(&bucket, BudgetOptions::new(PACE)))
        .collect();
    (stores, budgets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_processes_together_keep_to_the_pace_and_take_up_a_stopped_ones_share() {
    let Some(db) = db::postgres_db().await else {
        return;
    };
    let (stores, budgets) = three_processes(&db).await;
    let drawn: Drawn = Arc::default();
    let stops: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::default()).collect();
    let start = stores[0].db_now().await.unwrap();
    let mut tasks = Vec::new();
    for (i, budget) in budgets.iter().enumerate() {
        tasks.extend(draw(i, budget.clone(), 4, stops[i].clone(), drawn.clone()));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stops[2].store(true, Ordering::Relaxed);
    let stopped = stores[0].db_now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for s in &stops {
        s.store(true, Ordering::Relaxed);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let drawn = drawn.lock().unwrap().clone();
    let slots: Vec<_> = drawn.iter().map(|(_, s)| *s).collect();
    let pace = PACE as usize;
    assert!(
        busiest_second(&slots) <= pace,
        "{} grants in one second",
        busiest_second(&slots)
    );
    // 1.5 s of steady drawing by all three: at least 0.9 of the pace between them, each a fair part.
    let (from, to) = (start + Span::milliseconds(500), start + Span::seconds(2));
    let together = in_window(&drawn, from, to);
    assert!(
        together * 10 >= pace * 15 * 9 / 10,
        "{together} grants in 1.5 s"
    );
    for p in 0..3 {
        let own = drawn
            .iter()
            .filter(|(q, s)| *q == p && *s >= from && *s < to)
            .count();
        assert!(own * 5 >= together, "process {p} got {own} of {together}");
    }
    // The stopped process's share goes to the other two at once.
    let (from, to) = (
        stopped + Span::milliseconds(500),
        stopped + Span::seconds(2),
    );
    assert!(
        !drawn.iter().any(|(p, s)| *p == 2 && *s >= from),
        "the stopped process drew on"
    );
    let two = in_window(&drawn, from, to);
    assert!(
        two * 10 >= pace * 15 * 9 / 10,
        "{two} grants in 1.5 s after one process stopped"
    );
    for s in stores.iter().skip(1) {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_global_429_reported_by_one_process_holds_every_process() {
    let Some(db) = db::postgres_db().await else {
        return;
    };
    let (stores, budgets) = three_processes(&db).await;
    for b in &budgets {
        b.acquire().await;
    }
    let pause = Duration::from_secs(1);
    // The pause starts when the database reads its clock, after this instant.
    let reported = tokio::time::Instant::now();
    budgets[1].report_global_429(pause).await;
    let waits = futures::future::join_all(budgets.iter().map(|b| {
        let b = b.clone();
        tokio::spawn(async move {
            b.acquire().await;
            tokio::time::Instant::now() - reported
        })
    }))
    .await;
    for (i, w) in waits.into_iter().enumerate() {
        let w = w.unwrap();
        // A millisecond for the database's wall clock against this process's monotonic one.
        assert!(
            w >= pause - Duration::from_millis(1),
            "process {i} sent after {w:?}"
        );
        assert!(w < pause + Duration::from_millis(500), "process {i}: {w:?}");
    }
    for s in stores.iter().skip(1) {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_budget_falls_back_to_its_own_pace_while_the_database_is_unreachable() {
    let Some((relay, db)) = relay::relayed_postgres().await else {
        return;
    };
    let options = BudgetOptions {
        db_timeout: Duration::from_millis(200),
        outage_retry: Duration::from_millis(300),
        ..BudgetOptions::new(PACE)
    };
    let budget = db.store.global_budget("fallback", options);
    assert!(budget.acquire().await.shared_slot.is_some());
    relay.down().await;
    let asked = tokio::time::Instant::now();
    let first = budget.acquire().await;
    assert_eq!(first.shared_slot, None);
    assert!(tokio::time::Instant::now() - asked < Duration::from_secs(1));
    // Within the retry period the database is not asked again: the fallback's pace (a quarter) applies.
    let second = budget.acquire().await;
    assert_eq!(second.shared_slot, None);
    assert_eq!(second.at - first.at, Duration::from_millis(100));
    relay.up().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while budget.acquire().await.shared_slot.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never back on the shared schedule"
        );
    }
}

#[tokio::test]
async fn on_sqlite_the_budget_is_the_process_own_pace() {
    let db = db::sqlite_db().await;
    let budget = db
        .store
        .global_budget(&bucket_for_token("t"), BudgetOptions::new(PACE));
    let first = budget.acquire().await;
    let second = budget.acquire().await;
    assert_eq!((first.shared_slot, second.shared_slot), (None, None));
    assert_eq!(second.at - first.at, Duration::from_millis(25));
}

// ---------------------------------------------------------------------------------------------
// Turns

const POLL: Duration = Duration::from_millis(20);

/// Whether `take` is still waiting after a while (it has not got its turn).
async fn still_waiting<T>(take: &mut (impl std::future::Future<Output = T> + Unpin)) -> bool {
    tokio::time::timeout(Duration::from_millis(300), take)
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_turn_is_held_by_one_process_at_a_time_and_given_back_on_release() {
    let Some(db) = db::postgres_db().await else {
        return;
    };
    let other = Store::open(&db.url).await.unwrap();
    let first = db
        .store
        .take_turn("identify:bot", &[0], POLL)
        .await
        .unwrap();
    let mut second = Box::pin(other.take_turn("identify:bot", &[0], POLL));
    assert!(still_waiting(&mut second).await, "two holders of one slot");
    // Another name, or another slot of the name, is not held up.
    let unrelated = other.take_turn("identify:another-bot", &[0], POLL);
    let unrelated = tokio::time::timeout(Duration::from_secs(5), unrelated).await;
    assert!(matches!(unrelated, Ok(Ok(_))), "another name waited");
    let slot1 = other.take_turn("identify:bot", &[1], POLL);
    let slot1 = tokio::time::timeout(Duration::from_secs(5), slot1).await;
    assert!(matches!(slot1, Ok(Ok(_))), "another slot waited");
    first.release().await;
    let second = tokio::time::timeout(Duration::from_secs(5), second).await;
    assert!(
        matches!(second, Ok(Ok(_))),
        "the released turn was not taken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_turn_is_all_slots_or_none_and_returns_when_its_holder_goes_away() {
    let Some(db) = db::postgres_db().await else {
        return;
    };
    let (b, c) = (
        Store::open(&db.url).await.unwrap(),
        Store::open(&db.url).await.unwrap(),
    );
    let holds_1 = db.store.take_turn("t", &[1], POLL).await.unwrap();
    // Wants 0 and 1: gets neither while 1 is held, so 0 stays free for whoever wants only 0.
    let mut both = Box::pin(b.take_turn("t", &[0, 1], POLL));
    assert!(still_waiting(&mut both).await);
    let only_0 = tokio::time::timeout(Duration::from_secs(5), c.take_turn("t", &[0], POLL)).await;
    let only_0 = only_0
        .expect("slot 0 was kept while waiting for 1")
        .unwrap();
    drop(only_0);
    // A holder that goes away without releasing (its process died: the connection closes) frees its slots.
    drop(holds_1);
    let both = tokio::time::timeout(Duration::from_secs(5), both).await;
    assert!(
        matches!(both, Ok(Ok(_))),
        "the dead holder's turn never came back"
    );
}

#[tokio::test]
async fn on_sqlite_every_turn_is_granted_at_once() {
    let db = db::sqlite_db().await;
    let _a = db.store.take_turn("t", &[0], POLL).await.unwrap();
    let b = tokio::time::timeout(Duration::from_secs(1), db.store.take_turn("t", &[0], POLL));
    assert!(matches!(b.await, Ok(Ok(_))));
}
