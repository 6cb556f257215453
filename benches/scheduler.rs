//! Cost of one scheduler tick over a SQLite store holding 10,000 future meetings: when nothing
//! is due, and when 500 announcements are due (with an executor that does nothing).

use async_trait::async_trait;
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use meetbot::clock::{ManualClock, SharedClock};
use meetbot::schedule::runner::{
    jobs_for, ExecError, Executor, JobContext, Scheduler, SchedulerOptions,
};
use meetbot::store::{Meeting, NewMeeting, Occurrence, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct NoOp;

#[async_trait]
impl Executor for NoOp {
    async fn announce(&self, _: &Meeting, _: &Occurrence, _: JobContext) -> Result<(), ExecError> {
        Ok(())
    }
    async fn remind(&self, _: &Meeting, _: &Occurrence, _: JobContext) -> Result<(), ExecError> {
        Ok(())
    }
    async fn start(&self, _: &Meeting, _: &Occurrence, _: JobContext) -> Result<(), ExecError> {
        Ok(())
    }
    async fn end(&self, _: &Meeting, _: &Occurrence, _: JobContext) -> Result<(), ExecError> {
        Ok(())
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Stores one meeting starting at `start`, announced at `announce_at`, with the usual jobs.
async fn add(store: &Store, start: DateTime<Utc>, announce_at: DateTime<Utc>) {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let new = NewMeeting {
        id: format!("bench{n:07}"),
        guild_id: 1_100_000_000_000_000_000 + n % 50,
        channel_id: 2_200_000_000_000_000_002,
        host_id: 3_300_000_000_000_000_003,
        topic: format!("Meeting {n}"),
        room: format!("room-{n}"),
        created_at: t0(),
        starts_at: start,
        duration_minutes: 60,
        timezone: "Europe/Berlin".into(),
        repeat: "weekly".into(),
        repeat_until: None,
        remind_minutes: Some(15),
        invitee_user_ids: vec![42],
        invitee_role_ids: vec![],
        private: false,
        discord_event: true,
    };
    let jobs = jobs_for(start, start + Span::hours(1), Some(15), announce_at);
    store.create_meeting(&new, &jobs).await.expect("create");
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt.block_on(Store::open(&url)).expect("open");
    rt.block_on(async {
        // Spread over the coming weeks, each announced a day ahead: nothing due at t0.
        for i in 0..10_000 {
            let start = t0() + Span::hours(25) + Span::minutes(i);
            add(&store, start, start - Span::hours(24)).await;
        }
    });
    let clock = ManualClock::new(t0());
    let shared: SharedClock = Arc::new(clock.clone());
    let options = SchedulerOptions {
        batch: 500,
        ..SchedulerOptions::default()
    };
    let sched = Scheduler::new(store.clone(), Arc::new(NoOp), shared, "bench", options);

    let mut group = c.benchmark_group("scheduler_tick_sqlite_10k_meetings");
    group.sample_size(20);
    group.bench_function("nothing_due", |b| {
        b.iter(|| {
            let r = rt.block_on(sched.tick()).expect("tick");
            assert_eq!(r.ran, 0);
        })
    });
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("500_due", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Untimed: 500 meetings whose announcement is due now.
                rt.block_on(async {
                    for _ in 0..500 {
                        add(&store, t0() + Span::hours(2), t0()).await;
                    }
                });
                let started = Instant::now();
                let r = rt.block_on(sched.tick()).expect("tick");
                total += started.elapsed();
                assert_eq!(r.completed, 500);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
