//! The scheduler engine against a real store (SQLite, and PostgreSQL when reachable), with a
//! recording executor and a manual clock: nothing here sleeps to make time pass. Lease heartbeats
//! and the clock-skew test run on real time, polling briefly.

use async_trait::async_trait;
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use meetbot::clock::{Clock, ManualClock, SharedClock};
use meetbot::schedule::runner::{
    add_next_occurrence, jobs_for, ExecError, Executor, JobContext, JobLease, Scheduler,
    SchedulerOptions, TickReport,
};
use meetbot::store::{
    JobKind, Meeting, MeetingStatus, NewMeeting, Occurrence, OccurrenceStatus, Store, StoreError,
};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::instrument::WithSubscriber;

// ---------------------------------------------------------------------------------------------
// Databases

#[path = "support/db.rs"]
mod db;

use db::TestDb;

#[path = "support/relay.rs"]
mod relay;

use relay::relayed_postgres;

on_both_backends!(
    jobs_run_only_when_due_and_each_effect_happens_once,
    transient_failure_is_retried_with_capped_exponential_backoff_then_given_up,
    permanent_failure_is_given_up_without_retry_and_a_repeat_goes_on,
    crashed_schedulers_jobs_are_run_by_a_new_owner_once_the_lease_expires,
    reminder_for_an_occurrence_that_ended_while_down_is_dropped_and_logged,
    late_announcement_for_a_started_meeting_runs_with_its_lateness,
    weekly_berlin_repeat_keeps_0930_local_across_the_dst_change,
    repeat_skips_occurrences_that_ended_while_down,
    cancelled_meeting_runs_nothing_more_and_stops_repeating,
    two_schedulers_on_one_database_run_each_of_200_due_jobs_exactly_once,
    racing_add_occurrence_creates_the_next_occurrence_once,
    next_due_at_ignores_done_and_leased_jobs,
    claim_and_next_due_queries_use_the_due_index,
    shutdown_releases_claimed_jobs_that_had_not_started,
    wake_makes_an_idle_run_loop_look_for_new_work_at_once,
    a_slow_job_does_not_hold_up_other_occurrences_and_claiming_goes_on,
    run_claims_only_what_it_can_start_and_leaves_the_rest_to_others,
    a_job_running_past_its_lease_keeps_it_and_runs_once,
    a_job_whose_lease_is_taken_over_stops_without_further_sends,
    an_occurrences_next_job_waits_while_another_scheduler_runs_its_earlier_one,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn new_meeting(
    id: &str,
    starts_at: DateTime<Utc>,
    repeat: &str,
    remind: Option<u32>,
) -> NewMeeting {
    NewMeeting {
        id: id.to_string(),
        guild_id: 1_100_000_000_000_000_001,
        channel_id: 2_200_000_000_000_000_002,
        host_id: 3_300_000_000_000_000_003,
        topic: format!("Topic {id}"),
        room: format!("room-{}", id.to_lowercase()),
        created_at: t0() - Span::days(30),
        starts_at,
        duration_minutes: 60,
        timezone: "Europe/Berlin".into(),
        repeat: repeat.into(),
        repeat_until: None,
        remind_minutes: remind,
        invitee_user_ids: vec![42],
        invitee_role_ids: vec![],
        private: false,
        discord_event: true,
    }
}

/// Creates a meeting with the jobs `/meet` would create, announced at `announce_at`.
async fn create(
    store: &Store,
    new: NewMeeting,
    announce_at: DateTime<Utc>,
) -> (Meeting, Occurrence) {
    let end = new.starts_at + Span::minutes(i64::from(new.duration_minutes));
    let jobs = jobs_for(new.starts_at, end, new.remind_minutes, announce_at);
    store
        .create_meeting(&new, &jobs)
        .await
        .expect("create meeting")
}

fn options() -> SchedulerOptions {
    SchedulerOptions {
        lease: Duration::from_secs(60),
        heartbeat: None,
        batch: 50,
        concurrency: 4,
        max_attempts: 4,
        retry_base: Duration::from_secs(60),
        retry_cap: Duration::from_secs(150),
        announce_lead: Span::hours(24),
        max_sleep: Duration::from_secs(30),
        outage_backoff_min: Duration::from_millis(10),
        outage_backoff_max: Duration::from_millis(200),
    }
}

fn scheduler(store: &Store, exec: &Arc<Recorder>, clock: &ManualClock, owner: &str) -> Scheduler {
    scheduler_with(store, exec, clock, owner, options())
}

fn scheduler_with(
    store: &Store,
    exec: &Arc<Recorder>,
    clock: &ManualClock,
    owner: &str,
    options: SchedulerOptions,
) -> Scheduler {
    let clock: SharedClock = Arc::new(clock.clone());
    Scheduler::new(store.clone(), exec.clone(), clock, owner, options)
}

#[derive(Debug, Clone)]
struct Call {
    kind: JobKind,
    meeting: String,
    occurrence: i64,
    lateness: JobContext,
    started_ago: Option<Span>,
}

/// Records every executor call; fails on request, per meeting id.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<Call>>,
    transient_failures_left: Mutex<HashMap<String, u32>>,
    permanent: Mutex<HashSet<String>>,
    slow_announce: bool,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn kinds_for(&self, meeting: &str) -> Vec<JobKind> {
        self.calls()
            .into_iter()
            .filter(|c| c.meeting == meeting)
            .map(|c| c.kind)
            .collect()
    }

    async fn record(
        &self,
        kind: JobKind,
        meeting: &Meeting,
        occurrence: &Occurrence,
        lateness: JobContext,
    ) -> Result<(), ExecError> {
        if kind == JobKind::Announce && self.slow_announce {
            // Lets any job run alongside the announcement overtake it; the test's outcome does
            // not depend on how long this takes when jobs are correctly ordered.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.calls.lock().unwrap().push(Call {
            kind,
            meeting: meeting.id.clone(),
            occurrence: occurrence.id,
            started_ago: lateness.started_ago(occurrence),
            lateness,
        });
        if self.permanent.lock().unwrap().contains(&meeting.id) {
            return Err(ExecError::Permanent("channel deleted".into()));
        }
        let mut left = self.transient_failures_left.lock().unwrap();
        if let Some(n) = left.get_mut(&meeting.id).filter(|n| **n > 0) {
            *n -= 1;
            return Err(ExecError::Transient("discord 503".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Executor for Recorder {
    async fn announce(&self, m: &Meeting, o: &Occurrence, l: JobContext) -> Result<(), ExecError> {
        self.record(JobKind::Announce, m, o, l).await
    }
    async fn remind(&self, m: &Meeting, o: &Occurrence, l: JobContext) -> Result<(), ExecError> {
        self.record(JobKind::Remind, m, o, l).await
    }
    async fn start(&self, m: &Meeting, o: &Occurrence, l: JobContext) -> Result<(), ExecError> {
        self.record(JobKind::Start, m, o, l).await
    }
    async fn end(&self, m: &Meeting, o: &Occurrence, l: JobContext) -> Result<(), ExecError> {
        self.record(JobKind::End, m, o, l).await
    }
}

/// A log sink for one future: what the scheduler logged while it ran.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let sink = self.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || sink.clone())
            .finish()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn occurrences(store: &Store, meeting: &str) -> Vec<Occurrence> {
    store.occurrences(meeting).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Behaviours

#[test]
fn jobs_for_creates_announce_remind_start_end_with_the_reminder_never_before_the_announcement() {
    let start = t0() + Span::hours(3);
    let end = start + Span::hours(1);
    let jobs = jobs_for(start, end, Some(15), t0());
    let got: Vec<_> = jobs.iter().map(|j| (j.kind, j.due_at)).collect();
    assert_eq!(
        got,
        vec![
            (JobKind::Announce, t0()),
            (JobKind::Remind, start - Span::minutes(15)),
            (JobKind::Start, start),
            (JobKind::End, end),
        ]
    );
    // Created 5 minutes before the start with a 15-minute reminder: the reminder waits for the
    // announcement; an announcement asked for after the start is brought back to the start.
    let late = jobs_for(start, end, Some(15), start - Span::minutes(5));
    assert_eq!(late[1].due_at, start - Span::minutes(5));
    let after = jobs_for(start, end, None, start + Span::minutes(5));
    assert_eq!(
        after.iter().map(|j| j.kind).collect::<Vec<_>>(),
        vec![JobKind::Announce, JobKind::Start, JobKind::End]
    );
    assert_eq!(after[0].due_at, start);
}

#[test]
fn unique_owner_differs_between_two_schedulers_of_one_process() {
    let (a, b) = (Scheduler::unique_owner(), Scheduler::unique_owner());
    assert_ne!(a, b);
    assert!(a.contains(&std::process::id().to_string()), "{a}");
}

async fn jobs_run_only_when_due_and_each_effect_happens_once(db: &TestDb) {
    let s = &db.store;
    let start = t0() + Span::hours(2);
    let (_, occ) = create(
        s,
        new_meeting("due", start, "none", Some(15)),
        t0() + Span::hours(1),
    )
    .await;
    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let sched = scheduler(s, &exec, &clock, "one");

    assert_eq!(sched.tick().await.unwrap(), TickReport::default());
    assert!(exec.calls().is_empty(), "nothing is due yet");

    let steps = [
        (t0() + Span::hours(1) - Span::seconds(1), vec![]),
        (t0() + Span::hours(1), vec![JobKind::Announce]),
        (
            start - Span::minutes(15),
            vec![JobKind::Announce, JobKind::Remind],
        ),
        (
            start,
            vec![JobKind::Announce, JobKind::Remind, JobKind::Start],
        ),
        (
            start + Span::minutes(60),
            vec![
                JobKind::Announce,
                JobKind::Remind,
                JobKind::Start,
                JobKind::End,
            ],
        ),
    ];
    for (at, expected) in steps {
        clock.set(at);
        sched.tick().await.unwrap();
        // A second tick at the same moment must not repeat anything.
        assert_eq!(sched.tick().await.unwrap().ran, 0);
        assert_eq!(exec.kinds_for("due"), expected, "at {at}");
        if at == start {
            let o = s.occurrence(occ.id).await.unwrap().unwrap();
            assert_eq!(o.status, OccurrenceStatus::Started);
            assert_eq!(o.reminded_at, Some(start - Span::minutes(15)));
        }
    }
    assert!(exec
        .calls()
        .iter()
        .all(|c| c.lateness.late_by() == Span::zero()));
    let on_time = exec.calls();
    assert_eq!(on_time[0].started_ago, None, "announced before the start");
    assert_eq!(on_time[2].started_ago, None, "started exactly on time");
    assert_eq!(on_time[3].started_ago, Some(Span::minutes(60)));
    let o = s.occurrence(occ.id).await.unwrap().unwrap();
    assert_eq!(o.status, OccurrenceStatus::Ended);
    let m = s.meeting("due").await.unwrap().unwrap();
    assert_eq!(m.status, MeetingStatus::Ended, "a one-off meeting ends");
    assert_eq!(
        occurrences(s, "due").await.len(),
        1,
        "a one-off never repeats"
    );
    assert!(s
        .jobs_for_occurrence(occ.id)
        .await
        .unwrap()
        .iter()
        .all(|j| j.done_at.is_some()));
    clock.advance(Span::days(30));
    assert_eq!(sched.tick().await.unwrap().ran, 0);
}

async fn transient_failure_is_retried_with_capped_exponential_backoff_then_given_up(db: &TestDb) {
    let s = &db.store;
    let start = t0() + Span::hours(2);
    let (_, occ) = create(s, new_meeting("flaky", start, "none", None), t0()).await;
    let exec = Recorder::new();
    exec.transient_failures_left
        .lock()
        .unwrap()
        .insert("flaky".into(), 100);
    let clock = ManualClock::new(t0());
    let sched = scheduler(s, &exec, &clock, "one");
    let announce_id = s.jobs_for_occurrence(occ.id).await.unwrap()[0].id;

    // Backoff after attempts 1, 2, 3: 60 s, 120 s, then 240 s capped to 150 s.
    for (attempt, delay) in [(1, 60), (2, 120), (3, 150)] {
        let report = sched.tick().await.unwrap();
        assert_eq!((report.ran, report.retried), (1, 1), "attempt {attempt}");
        let job = s.job(announce_id).await.unwrap().unwrap();
        assert_eq!(
            job.due_at,
            clock.now() + Span::seconds(delay),
            "attempt {attempt}"
        );
        assert_eq!(
            job.last_error.as_deref(),
            Some("temporary failure: discord 503")
        );
        assert!(job.done_at.is_none());
        clock.advance(Span::seconds(delay - 1));
        assert_eq!(sched.tick().await.unwrap().ran, 0, "not before the backoff");
        clock.advance(Span::seconds(1));
    }
    let report = sched.tick().await.unwrap();
    assert_eq!((report.ran, report.gave_up, report.retried), (1, 1, 0));
    let job = s.job(announce_id).await.unwrap().unwrap();
    assert_eq!(job.done_at, Some(clock.now()));
    assert_eq!(job.attempts, 4);
    clock.advance(Span::hours(1));
    assert_eq!(sched.tick().await.unwrap().ran, 0, "given up for good");
    assert_eq!(exec.kinds_for("flaky"), vec![JobKind::Announce; 4]);

    // A job that fails once and then works completes on its retry.
    exec.transient_failures_left
        .lock()
        .unwrap()
        .insert("flaky".into(), 1);
    clock.set(start);
    let first = sched.tick().await.unwrap();
    assert_eq!((first.ran, first.retried), (1, 1));
    clock.advance(Span::seconds(60));
    let second = sched.tick().await.unwrap();
    assert_eq!((second.ran, second.completed), (1, 1));
}

async fn permanent_failure_is_given_up_without_retry_and_a_repeat_goes_on(db: &TestDb) {
    let s = &db.store;
    let start = t0() + Span::hours(1);
    let (_, occ) = create(s, new_meeting("gone", start, "weekly", None), t0()).await;
    let exec = Recorder::new();
    exec.permanent.lock().unwrap().insert("gone".into());
    let clock = ManualClock::new(t0());
    let sched = scheduler(s, &exec, &clock, "one");
    let report = sched.tick().await.unwrap();
    assert_eq!((report.ran, report.gave_up, report.retried), (1, 1, 0));
    let job = &s.jobs_for_occurrence(occ.id).await.unwrap()[0];
    assert_eq!(job.kind, JobKind::Announce);
    assert_eq!(job.done_at, Some(t0()));
    assert_eq!(
        job.last_error.as_deref(),
        Some("permanent failure: channel deleted")
    );
    clock.advance(Span::minutes(30));
    assert_eq!(sched.tick().await.unwrap().ran, 0);

    // Start and end fail too, yet the occurrence runs its course and the series goes on.
    clock.set(start);
    assert_eq!(sched.tick().await.unwrap().gave_up, 1);
    let all = occurrences(s, "gone").await;
    assert_eq!(all.len(), 2, "the next weekly occurrence exists");
    assert_eq!(all[1].starts_at, start + Span::days(7));
    assert_eq!(all[0].status, OccurrenceStatus::Started);
    clock.set(start + Span::hours(1));
    assert_eq!(sched.tick().await.unwrap().gave_up, 1);
    assert_eq!(
        s.occurrence(occ.id).await.unwrap().unwrap().status,
        OccurrenceStatus::Ended
    );
    assert_eq!(
        exec.kinds_for("gone"),
        vec![JobKind::Announce, JobKind::Start, JobKind::End]
    );
}

async fn crashed_schedulers_jobs_are_run_by_a_new_owner_once_the_lease_expires(db: &TestDb) {
    let s = &db.store;
    create(
        s,
        new_meeting("crash", t0() + Span::hours(1), "none", None),
        t0(),
    )
    .await;
    // The crashed process claimed the announcement and never settled it.
    let lease = Duration::from_secs(60);
    let taken = s
        .claim_due(t0(), "crashed-process", lease, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);

    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let sched = scheduler(s, &exec, &clock, "restarted-process");
    clock.advance(Span::seconds(59));
    assert_eq!(sched.tick().await.unwrap().ran, 0, "the lease still holds");
    clock.advance(Span::seconds(1));
    let report = sched.tick().await.unwrap();
    assert_eq!((report.ran, report.completed), (1, 1));
    assert_eq!(exec.kinds_for("crash"), vec![JobKind::Announce]);
    let job = s.job(taken[0].id).await.unwrap().unwrap();
    assert_eq!(job.done_at, Some(clock.now()));
    // The crashed owner's late completion, should it come back, changes nothing.
    assert!(!s
        .complete(job.id, "crashed-process", clock.now())
        .await
        .unwrap());
}

async fn reminder_for_an_occurrence_that_ended_while_down_is_dropped_and_logged(db: &TestDb) {
    let s = &db.store;
    // Scheduled for 10:00–11:00 with a reminder at 09:45; the bot comes back at 12:00.
    let start = t0() - Span::hours(2);
    let (_, occ) = create(
        s,
        new_meeting("missed", start, "none", Some(15)),
        start - Span::hours(24),
    )
    .await;
    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let sched = scheduler(s, &exec, &clock, "one");
    let logs = LogBuffer::default();
    let report = sched
        .tick()
        .with_subscriber(logs.subscriber())
        .await
        .unwrap();
    assert_eq!(report.dropped, 3, "announce, remind and start: {report:?}");
    assert_eq!((report.ran, report.completed), (1, 1));
    assert_eq!(
        exec.kinds_for("missed"),
        vec![JobKind::End],
        "only the end runs"
    );
    let text = logs.text();
    let drop_lines: Vec<_> = text
        .lines()
        .filter(|l| l.contains("dropping job"))
        .collect();
    assert_eq!(drop_lines.len(), 3, "one log line per drop:\n{text}");
    assert!(
        drop_lines
            .iter()
            .any(|l| l.contains("kind=remind") && l.contains("has already ended")),
        "{text}"
    );
    let jobs = s.jobs_for_occurrence(occ.id).await.unwrap();
    assert!(
        jobs.iter().all(|j| j.done_at.is_some()),
        "drops are settled"
    );
    let o = s.occurrence(occ.id).await.unwrap().unwrap();
    assert_eq!(o.reminded_at, None);
    assert_eq!(o.status, OccurrenceStatus::Ended);
}

async fn late_announcement_for_a_started_meeting_runs_with_its_lateness(db: &TestDb) {
    let s = &db.store;
    // Started 20 minutes ago, ends in 40; the announcement was due a day before the start.
    let start = t0() - Span::minutes(20);
    let announce_due = start - Span::hours(24);
    create(
        s,
        new_meeting("late", start, "none", Some(10)),
        announce_due,
    )
    .await;
    let clock = ManualClock::new(t0());
    let exec = Arc::new(Recorder {
        slow_announce: true,
        ..Recorder::default()
    });
    let sched = scheduler(s, &exec, &clock, "one");
    let report = sched.tick().await.unwrap();
    assert_eq!((report.ran, report.dropped), (3, 0), "{report:?}");
    assert_eq!(
        exec.kinds_for("late"),
        vec![JobKind::Announce, JobKind::Remind, JobKind::Start],
        "one occurrence's jobs run in order, even when late together"
    );
    let calls = exec.calls();
    let announce = calls.iter().find(|c| c.kind == JobKind::Announce).unwrap();
    assert_eq!(announce.lateness.now, t0());
    assert_eq!(announce.lateness.due_at, announce_due);
    assert_eq!(
        announce.lateness.late_by(),
        Span::hours(24) + Span::minutes(20)
    );
    assert_eq!(announce.started_ago, Some(Span::minutes(20)));
    let remind = calls.iter().find(|c| c.kind == JobKind::Remind).unwrap();
    assert_eq!(
        remind.lateness.late_by(),
        Span::minutes(30),
        "started, not ended: still runs"
    );
    assert!(calls.iter().any(|c| c.kind == JobKind::Start));
}

async fn weekly_berlin_repeat_keeps_0930_local_across_the_dst_change(db: &TestDb) {
    let s = &db.store;
    // Monday 23 March 2026, 09:30 CET (08:30 UTC); Berlin moves to CEST on Sunday 29 March.
    let first = Utc.with_ymd_and_hms(2026, 3, 23, 8, 30, 0).unwrap();
    let (meeting, occ) = create(
        s,
        new_meeting("weekly", first, "weekly", Some(15)),
        first - Span::hours(24),
    )
    .await;
    let clock = ManualClock::new(first);
    let exec = Recorder::new();
    let sched = scheduler(s, &exec, &clock, "one");
    sched.tick().await.unwrap();
    // The start job running again (a lost lease) must not add a second next occurrence.
    let again = add_next_occurrence(s, &meeting, first, first, Span::hours(24))
        .await
        .unwrap();
    assert!(again.is_none());

    let all = occurrences(s, "weekly").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].id, occ.id);
    let next = &all[1];
    // Monday 30 March, 09:30 CEST = 07:30 UTC.
    let expected = Utc.with_ymd_and_hms(2026, 3, 30, 7, 30, 0).unwrap();
    assert_eq!(next.starts_at, expected);
    assert_eq!(next.ends_at, expected + Span::hours(1));
    assert_eq!(next.status, OccurrenceStatus::Scheduled);
    let jobs: Vec<_> = s
        .jobs_for_occurrence(next.id)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.kind, j.due_at))
        .collect();
    assert_eq!(
        jobs,
        vec![
            (JobKind::Announce, expected - Span::hours(24)),
            (JobKind::Remind, expected - Span::minutes(15)),
            (JobKind::Start, expected),
            (JobKind::End, expected + Span::hours(1)),
        ]
    );
    // The chain goes on from the new occurrence: 6 April is 09:30 CEST too.
    clock.set(expected);
    sched.tick().await.unwrap();
    let all = occurrences(s, "weekly").await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[2].starts_at,
        Utc.with_ymd_and_hms(2026, 4, 6, 7, 30, 0).unwrap()
    );
    assert_eq!(
        exec.calls()
            .iter()
            .filter(|c| c.kind == JobKind::Start)
            .map(|c| c.occurrence)
            .collect::<Vec<_>>(),
        vec![occ.id, next.id]
    );
}

async fn repeat_skips_occurrences_that_ended_while_down(db: &TestDb) {
    let s = &db.store;
    // A daily 10:00 UTC meeting (11:00 Berlin); the bot was down from before the first start
    // until three days later at 12:00 UTC.
    let first = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
    create(
        s,
        new_meeting("daily", first, "daily", None),
        first - Span::hours(1),
    )
    .await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap());
    let exec = Recorder::new();
    let sched = scheduler(s, &exec, &clock, "one");
    sched.tick().await.unwrap();
    let starts: Vec<_> = occurrences(s, "daily")
        .await
        .into_iter()
        .map(|o| o.starts_at)
        .collect();
    assert_eq!(
        starts,
        vec![first, Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()],
        "the missed 29 Nov – 1 Dec occurrences are not created"
    );
    assert_eq!(exec.kinds_for("daily"), vec![JobKind::End]);
}

async fn cancelled_meeting_runs_nothing_more_and_stops_repeating(db: &TestDb) {
    let s = &db.store;
    let start = t0() + Span::hours(1);
    create(s, new_meeting("cancel", start, "weekly", Some(15)), t0()).await;
    // A second meeting is running when its host cancels it: its end job survives in the store.
    let (_, running) = create(
        s,
        new_meeting("running", t0() - Span::minutes(10), "weekly", None),
        t0() - Span::hours(2),
    )
    .await;
    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let sched = scheduler(s, &exec, &clock, "one");
    sched.tick().await.unwrap();
    assert_eq!(exec.kinds_for("cancel"), vec![JobKind::Announce]);
    assert_eq!(
        occurrences(s, "running").await.len(),
        2,
        "running one repeated"
    );

    assert_eq!(s.cancel_meeting("cancel").await.unwrap(), 1);
    s.cancel_meeting("running").await.unwrap();
    clock.set(start + Span::days(15));
    let report = sched.tick().await.unwrap();
    assert_eq!(report.ran, 0, "{report:?}");
    assert_eq!(exec.kinds_for("cancel"), vec![JobKind::Announce]);
    assert_eq!(
        occurrences(s, "cancel").await.len(),
        1,
        "no repeat after cancel"
    );
    assert!(!exec.kinds_for("running").contains(&JobKind::End));
    let end = s
        .jobs_for_occurrence(running.id)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.kind == JobKind::End)
        .unwrap();
    assert!(
        end.done_at.is_some(),
        "the cancelled meeting's end job was dropped"
    );
    assert_eq!(occurrences(s, "running").await.len(), 2);
}

async fn two_schedulers_on_one_database_run_each_of_200_due_jobs_exactly_once(db: &TestDb) {
    let first = db.store.clone();
    let second = Store::open(&db.url).await.unwrap();
    // 100 meetings that started a minute ago: announce and start are due, end is not.
    for i in 0..100 {
        let start = t0() - Span::minutes(1);
        create(
            &first,
            new_meeting(&format!("m{i:03}"), start, "none", None),
            start - Span::hours(1),
        )
        .await;
    }
    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let small = SchedulerOptions {
        batch: 15,
        ..options()
    };
    let a = Arc::new(scheduler_with(
        &first,
        &exec,
        &clock,
        "process-a",
        small.clone(),
    ));
    let b = Arc::new(scheduler_with(&second, &exec, &clock, "process-b", small));
    let drive = |s: Arc<Scheduler>| {
        tokio::spawn(async move {
            let mut ran = 0;
            loop {
                let r = s.tick().await.expect("tick");
                if r == TickReport::default() {
                    return ran;
                }
                ran += r.ran;
            }
        })
    };
    let (ra, rb) = tokio::join!(drive(a), drive(b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra + rb, 200);
    let mut seen = HashMap::new();
    for c in exec.calls() {
        *seen.entry((c.occurrence, c.kind)).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 200);
    assert!(seen.values().all(|n| *n == 1), "a job ran twice");
    second.close().await;
}

async fn racing_add_occurrence_creates_the_next_occurrence_once(db: &TestDb) {
    let first = db.store.clone();
    let second = Store::open(&db.url).await.unwrap();
    create(&first, new_meeting("race", t0(), "daily", Some(5)), t0()).await;
    for day in 1..=10 {
        let start = t0() + Span::days(day);
        let end = start + Span::hours(1);
        let jobs = jobs_for(start, end, Some(5), start - Span::hours(1));
        let (x, y) = tokio::join!(
            first.add_occurrence("race", start, end, &jobs),
            second.add_occurrence("race", start, end, &jobs)
        );
        let created = [x.expect("no error for the loser"), y.expect("no error")];
        assert_eq!(
            created.iter().filter(|o| o.is_some()).count(),
            1,
            "day {day}"
        );
        let occ = created.iter().flatten().next().unwrap();
        assert_eq!(first.jobs_for_occurrence(occ.id).await.unwrap().len(), 4);
    }
    assert_eq!(occurrences(&first, "race").await.len(), 11);
    second.close().await;
}

async fn next_due_at_ignores_done_and_leased_jobs(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.next_due_at(t0()).await.unwrap(), None);
    let start = t0() + Span::hours(2);
    create(
        s,
        new_meeting("next", start, "none", None),
        t0() + Span::hours(1),
    )
    .await;
    assert_eq!(
        s.next_due_at(t0()).await.unwrap(),
        Some(t0() + Span::hours(1))
    );
    let at = t0() + Span::hours(1);
    let claimed = s
        .claim_due(at, "x", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        s.next_due_at(at).await.unwrap(),
        Some(start),
        "leased is skipped"
    );
    assert_eq!(
        s.next_due_at(at + Span::seconds(60)).await.unwrap(),
        Some(at),
        "an expired lease is due again"
    );
    s.complete(claimed[0].id, "x", at).await.unwrap();
    assert_eq!(
        s.next_due_at(at + Span::seconds(60)).await.unwrap(),
        Some(start)
    );
}

async fn claim_and_next_due_queries_use_the_due_index(db: &TestDb) {
    let s = &db.store;
    for i in 0..50 {
        let start = t0() + Span::hours(i + 1);
        create(s, new_meeting(&format!("p{i}"), start, "none", None), t0()).await;
    }
    for plan in [
        s.claim_due_plan().await.unwrap(),
        s.next_due_plan().await.unwrap(),
    ] {
        assert!(plan.contains("jobs_due"), "index not used:\n{plan}");
        assert!(
            !plan.lines().any(|l| l.trim() == "SCAN jobs") && !plan.contains("Seq Scan on jobs"),
            "table scanned:\n{plan}"
        );
    }
}

async fn shutdown_releases_claimed_jobs_that_had_not_started(db: &TestDb) {
    let s = &db.store;
    // "pair" has two jobs due, claimed together and run in order; "other" one. Two slots take all
    // three, and shutdown comes while both first jobs run.
    let (_, pair) = create(
        s,
        new_meeting("pair", t0(), "none", None),
        t0() - Span::hours(1),
    )
    .await;
    create(
        s,
        new_meeting("other", t0() + Span::hours(1), "none", None),
        t0(),
    )
    .await;
    let probe = Probe::new();
    probe.hold("pair");
    probe.hold("other");
    let clock = ManualClock::new(t0());
    let two = SchedulerOptions {
        concurrency: 2,
        ..options()
    };
    let sched = probe_scheduler(s, &probe, Arc::new(clock.clone()), "stopping", two);
    let running = Running::start(&sched);
    eventually("both first jobs start", || {
        probe.calls_for("pair") == 1 && probe.calls_for("other") == 1
    })
    .await;
    running.stop.send(true).unwrap();
    probe.release("pair");
    probe.release("other");
    running.stop().await;
    let mut calls = probe.calls.lock().unwrap().clone();
    calls.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        calls,
        [
            ("other".to_string(), JobKind::Announce),
            ("pair".to_string(), JobKind::Announce)
        ],
        "running jobs finish, no new one starts after shutdown"
    );
    let claimed = s
        .claim_due(t0(), "next-process", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|j| (j.occurrence_id, j.kind))
            .collect::<Vec<_>>(),
        [(pair.id, JobKind::Start)],
        "the claimed, unstarted start was handed back"
    );
    assert_eq!(claimed[0].attempts, 1, "release is not an attempt");
}

async fn wake_makes_an_idle_run_loop_look_for_new_work_at_once(db: &TestDb) {
    let s = &db.store;
    // Its announcement is due now; everything else is ten days away.
    create(
        s,
        new_meeting("first", t0() + Span::days(10), "none", None),
        t0(),
    )
    .await;
    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let long_sleep = SchedulerOptions {
        max_sleep: Duration::from_secs(600),
        ..options()
    };
    let sched = Arc::new(scheduler_with(s, &exec, &clock, "one", long_sleep));
    let wake = Arc::new(Notify::new());
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(sched.run(shutdown, wake.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while exec.calls().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "first tick never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The loop now sleeps up to 10 minutes; a command creates due work and wakes it.
    create(
        s,
        new_meeting("second", t0() + Span::days(10), "none", None),
        t0(),
    )
    .await;
    wake.notify_one();
    while exec.kinds_for("second").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the woken loop did not tick"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("run stops on shutdown")
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Leases that hold: concurrent occurrences, heartbeats, lost leases (real time, short waits)

/// Side effects an executor performs, in order, for a lease test: each call makes a first send,
/// waits while its meeting is held, then checks its lease before the second send.
#[derive(Default)]
struct Probe {
    calls: Mutex<Vec<(String, JobKind)>>,
    sends: Mutex<Vec<(String, u32)>>,
    holds: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    leases: Mutex<HashMap<String, JobLease>>,
    /// When set, each call records the database's time as it starts.
    db: Option<Store>,
    started_at: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl Probe {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Calls for `meeting` wait after their first send until [`Probe::release`].
    fn hold(&self, meeting: &str) {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.holds.lock().unwrap().insert(meeting.into(), gate);
    }

    fn release(&self, meeting: &str) {
        if let Some(gate) = self.holds.lock().unwrap().get(meeting) {
            gate.close();
        }
    }

    fn calls_for(&self, meeting: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == meeting)
            .count()
    }

    fn sends_for(&self, meeting: &str) -> Vec<u32> {
        self.sends
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == meeting)
            .map(|(_, n)| *n)
            .collect()
    }

    fn lease(&self, meeting: &str) -> Option<JobLease> {
        self.leases.lock().unwrap().get(meeting).cloned()
    }

    async fn call(&self, kind: JobKind, m: &Meeting, job: JobContext) -> Result<(), ExecError> {
        if let Some(db) = &self.db {
            let now = db.db_now().await.expect("database time");
            self.started_at.lock().unwrap().push((m.id.clone(), now));
        }
        self.calls.lock().unwrap().push((m.id.clone(), kind));
        self.leases
            .lock()
            .unwrap()
            .insert(m.id.clone(), job.lease.clone());
        self.sends.lock().unwrap().push((m.id.clone(), 1));
        let gate = self.holds.lock().unwrap().get(&m.id).cloned();
        if let Some(gate) = gate {
            let _ = gate.acquire().await; // closed: released
        }
        if !job.lease.still_held().await {
            return Err(ExecError::LeaseLost);
        }
        self.sends.lock().unwrap().push((m.id.clone(), 2));
        Ok(())
    }
}

#[async_trait]
impl Executor for Probe {
    async fn announce(&self, m: &Meeting, _: &Occurrence, j: JobContext) -> Result<(), ExecError> {
        self.call(JobKind::Announce, m, j).await
    }
    async fn remind(&self, m: &Meeting, _: &Occurrence, j: JobContext) -> Result<(), ExecError> {
        self.call(JobKind::Remind, m, j).await
    }
    async fn start(&self, m: &Meeting, _: &Occurrence, j: JobContext) -> Result<(), ExecError> {
        self.call(JobKind::Start, m, j).await
    }
    async fn end(&self, m: &Meeting, _: &Occurrence, j: JobContext) -> Result<(), ExecError> {
        self.call(JobKind::End, m, j).await
    }
}

fn probe_scheduler(
    store: &Store,
    probe: &Arc<Probe>,
    clock: SharedClock,
    owner: &str,
    options: SchedulerOptions,
) -> Arc<Scheduler> {
    Arc::new(Scheduler::new(
        store.clone(),
        probe.clone(),
        clock,
        owner,
        options,
    ))
}

/// Polls `done` every 10 ms until it holds; panics with `what` after 20 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A run loop in the background, and the switch that stops it.
struct Running {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(sched: &Arc<Scheduler>) -> Running {
        let (stop, shutdown) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(sched.clone().run(shutdown, wake.clone()));
        Running { stop, wake, task }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("run stops on shutdown")
            .unwrap();
    }
}

async fn a_slow_job_does_not_hold_up_other_occurrences_and_claiming_goes_on(db: &TestDb) {
    let s = &db.store;
    let later = t0() + Span::days(10);
    create(s, new_meeting("slow", later, "none", None), t0()).await;
    create(s, new_meeting("quick", later, "none", None), t0()).await;
    let probe = Probe::new();
    probe.hold("slow");
    let clock = ManualClock::new(t0());
    let sched = probe_scheduler(s, &probe, Arc::new(clock.clone()), "one", options());
    let running = Running::start(&sched);
    eventually("the slow announcement starts", || {
        probe.calls_for("slow") == 1
    })
    .await;
    eventually("the quick one runs beside it", || {
        probe.sends_for("quick") == [1, 2]
    })
    .await;
    // Work created while the slow job still runs is claimed and done without waiting for it.
    create(s, new_meeting("new", later, "none", None), t0()).await;
    running.wake.notify_one();
    eventually("work created meanwhile runs", || {
        probe.sends_for("new") == [1, 2]
    })
    .await;
    assert_eq!(
        probe.sends_for("slow"),
        [1],
        "the slow job is still running"
    );
    probe.release("slow");
    eventually("the slow job finishes", || {
        probe.sends_for("slow") == [1, 2]
    })
    .await;
    running.stop().await;
}

async fn run_claims_only_what_it_can_start_and_leaves_the_rest_to_others(db: &TestDb) {
    let s = &db.store;
    let later = t0() + Span::days(10);
    for m in ["a", "b", "c"] {
        create(s, new_meeting(m, later, "none", None), t0()).await;
        // Held only once they are all stored, so none can finish early.
    }
    let probe = Probe::new();
    for m in ["a", "b", "c"] {
        probe.hold(m);
    }
    let clock = ManualClock::new(t0());
    let two = SchedulerOptions {
        concurrency: 2,
        ..options()
    };
    let sched = probe_scheduler(s, &probe, Arc::new(clock.clone()), "busy", two);
    let running = Running::start(&sched);
    eventually("two occurrences start", || {
        probe.calls.lock().unwrap().len() == 2
    })
    .await;
    // Both slots are busy: the third job was never claimed, so another process takes it at once
    // rather than after the slow ones.
    let other = s
        .claim_due(t0(), "other-process", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(other.len(), 1, "{other:?}");
    let started: HashSet<String> = probe
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.clone())
        .collect();
    let third = ["a", "b", "c"]
        .into_iter()
        .find(|m| !started.contains(*m))
        .unwrap();
    let occ = s.occurrences(third).await.unwrap()[0].id;
    assert_eq!(other[0].occurrence_id, occ);
    for m in ["a", "b", "c"] {
        probe.release(m);
    }
    running.stop().await;
    assert_eq!(probe.calls.lock().unwrap().len(), 2);
}

/// Options whose heartbeat renews every 20 ms of real time (the manual clock decides the lease's end).
fn renewing() -> SchedulerOptions {
    SchedulerOptions {
        heartbeat: Some(Duration::from_millis(20)),
        ..options()
    }
}

/// A tick by scheduler "a" in the background, inside the held executor call for `meeting`'s
/// announcement (due at `t0()`); returns its job id and the tick.
async fn tick_inside_held_job(
    s: &Store,
    probe: &Arc<Probe>,
    clock: &ManualClock,
    meeting: &str,
) -> (i64, tokio::task::JoinHandle<Result<TickReport, StoreError>>) {
    let (_, occ) = create(
        s,
        new_meeting(meeting, t0() + Span::days(10), "none", None),
        t0(),
    )
    .await;
    probe.hold(meeting);
    let a = probe_scheduler(s, probe, Arc::new(clock.clone()), "a", renewing());
    let ticking = tokio::spawn(async move { a.tick().await });
    eventually("the job starts", || probe.calls_for(meeting) == 1).await;
    let job = s.jobs_for_occurrence(occ.id).await.unwrap()[0].id;
    (job, ticking)
}

async fn a_job_running_past_its_lease_keeps_it_and_runs_once(db: &TestDb) {
    let s = &db.store;
    let probe = Probe::new();
    let clock = ManualClock::new(t0());
    let (job, ticking) = tick_inside_held_job(s, &probe, &clock, "long").await;
    let b = probe_scheduler(s, &probe, Arc::new(clock.clone()), "b", renewing());
    // Three times 40 s: twice the 60 s lease, renewed each time by the heartbeat.
    for _ in 0..3 {
        clock.advance(Span::seconds(40));
        let renewed = clock.now() + Span::seconds(60);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let j = s.job(job).await.unwrap().unwrap();
            if j.lease_until >= Some(renewed) {
                assert_eq!(j.lease_owner.as_deref(), Some("a"));
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the lease was not renewed: {j:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(b.tick().await.unwrap().ran, 0, "another scheduler took it");
    }
    probe.release("long");
    let report = ticking.await.unwrap().unwrap();
    assert_eq!((report.ran, report.completed), (1, 1));
    assert_eq!(probe.calls_for("long"), 1);
    assert_eq!(probe.sends_for("long"), [1, 2]);
    assert!(s.job(job).await.unwrap().unwrap().done_at.is_some());
}

async fn a_job_whose_lease_is_taken_over_stops_without_further_sends(db: &TestDb) {
    let s = &db.store;
    let probe = Probe::new();
    let clock = ManualClock::new(t0());
    let (job_id, ticking) = tick_inside_held_job(s, &probe, &clock, "taken").await;
    let lease = probe.lease("taken").unwrap();
    assert!(lease.still_held().await);
    // A process whose clock runs 61 s ahead sees the lease over and takes the row. On
    // PostgreSQL the claim skips rows another transaction holds locked (`SKIP LOCKED`), and the
    // heartbeat's renewal locks this one every 20 ms; a real claimer simply gets it on a later
    // tick, so the thief tries again, as its run loop would.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let thief = loop {
        let got = s
            .claim_due(
                t0() + Span::seconds(61),
                "thief",
                Duration::from_secs(60),
                10,
            )
            .await
            .unwrap();
        if !got.is_empty() || tokio::time::Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(thief.len(), 1);
    tokio::time::timeout(Duration::from_secs(20), lease.lost())
        .await
        .expect("the heartbeat finds the renewal refused");
    assert!(lease.is_lost());
    assert!(!lease.still_held().await);
    probe.release("taken");
    let report = ticking.await.unwrap().unwrap();
    assert_eq!((report.ran, report.lost, report.completed), (1, 1, 0));
    assert_eq!(
        probe.sends_for("taken"),
        [1],
        "no send after the lease was lost"
    );
    let job = s.job(job_id).await.unwrap().unwrap();
    assert_eq!(
        job.lease_owner.as_deref(),
        Some("thief"),
        "left to its owner"
    );
    assert!(job.done_at.is_none() && job.last_error.is_none());
}

async fn an_occurrences_next_job_waits_while_another_scheduler_runs_its_earlier_one(db: &TestDb) {
    let s = &db.store;
    let start = t0() + Span::minutes(5);
    create(s, new_meeting("order", start, "none", None), t0()).await;
    // Another process is posting the announcement.
    let held = s
        .claim_due(t0(), "announcer", Duration::from_secs(600), 1)
        .await
        .unwrap();
    assert_eq!(held[0].kind, JobKind::Announce);
    let clock = ManualClock::new(start);
    let exec = Recorder::new();
    let sched = scheduler(s, &exec, &clock, "one");
    assert_eq!(sched.tick().await.unwrap().ran, 0, "the start waits");
    assert!(s.complete(held[0].id, "announcer", start).await.unwrap());
    let report = sched.tick().await.unwrap();
    assert_eq!((report.ran, report.completed), (1, 1));
    assert_eq!(exec.kinds_for("order"), vec![JobKind::Start]);
}

/// A process clock `offset` away from the machine's.
#[derive(Debug)]
struct SkewedClock(Span);

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schedulers_with_clocks_5_minutes_apart_neither_steal_leases_nor_run_early() {
    use meetbot::store::DbClock;
    let Some(db) = db::postgres_db().await else {
        return;
    };
    let (sa, sb) = (db.store.clone(), Store::open(&db.url).await.unwrap());
    let now = sa.db_now().await.unwrap();
    let far = now + Span::hours(1);
    // Due ten minutes ago: whoever runs it holds it for the whole test.
    create(
        &sa,
        new_meeting("held", far, "none", None),
        now - Span::minutes(10),
    )
    .await;
    // Due in three seconds, by the database's clock.
    let (_, soon) = create(
        &sa,
        new_meeting("soon", far, "none", None),
        now + Span::seconds(3),
    )
    .await;
    let soon_due = sa.jobs_for_occurrence(soon.id).await.unwrap()[0].due_at;
    let probe = Arc::new(Probe {
        db: Some(sa.clone()),
        ..Probe::default()
    });
    probe.hold("held");
    let behind: SharedClock = Arc::new(SkewedClock(-Span::minutes(5)));
    let ahead: SharedClock = Arc::new(SkewedClock(Span::minutes(5)));
    let clock_a: SharedClock = DbClock::measure(sa.clone(), behind).await.unwrap();
    let clock_b: SharedClock = DbClock::measure(sb.clone(), ahead).await.unwrap();
    let polling = SchedulerOptions {
        lease: Duration::from_secs(30),
        max_sleep: Duration::from_millis(50),
        ..options()
    };
    let a = probe_scheduler(&sa, &probe, clock_a, "behind", polling.clone());
    let b = probe_scheduler(&sb, &probe, clock_b, "ahead", polling);
    let run_a = Running::start(&a);
    eventually("the process behind claims the held job", || {
        probe.calls_for("held") == 1
    })
    .await;
    let run_b = Running::start(&b);
    eventually("the job due in 3 s runs", || probe.calls_for("soon") == 1).await;
    // The process ahead has had seconds to take the held job.
    tokio::time::sleep(Duration::from_millis(500)).await;
    probe.release("held");
    eventually("the held job finishes", || {
        probe.sends_for("held").contains(&2)
    })
    .await;
    run_a.stop().await;
    run_b.stop().await;
    assert_eq!(probe.calls_for("held"), 1, "a live lease was stolen");
    assert_eq!(probe.calls_for("soon"), 1);
    let started = probe.started_at.lock().unwrap().clone();
    let (_, soon_at) = started.iter().find(|(m, _)| m == "soon").unwrap();
    // Tolerance for the offset's measurement (half a round trip on loopback), not for skew.
    assert!(
        *soon_at >= soon_due - Span::milliseconds(100),
        "ran {} before it was due by the database's clock",
        soon_due - *soon_at
    );
    sb.close().await;
}

// ---------------------------------------------------------------------------------------------
// Database outages (PostgreSQL behind a loopback relay that can be switched off)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tick_reports_unavailable_while_the_database_is_down_and_recovers() {
    let Some((relay, db)) = relayed_postgres().await else {
        return;
    };
    create(
        &db.store,
        new_meeting("outage", t0() + Span::hours(1), "none", None),
        t0(),
    )
    .await;
    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let sched = scheduler(&db.store, &exec, &clock, "one");
    relay.down().await;
    let err = sched.tick().await.expect_err("database is down");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(matches!(err, StoreError::Unavailable(_)));
    relay.up().await;
    let report = sched.tick().await.expect("database is back");
    assert_eq!(report.ran, 1);
    assert_eq!(exec.kinds_for("outage"), vec![JobKind::Announce]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_run_backs_off_while_the_database_is_down_and_carries_on_when_it_is_back() {
    let Some((relay, db)) = relayed_postgres().await else {
        return;
    };
    create(
        &db.store,
        new_meeting("later", t0() + Span::hours(1), "none", None),
        t0(),
    )
    .await;
    relay.down().await;
    let clock = ManualClock::new(t0());
    let exec = Recorder::new();
    let sched = scheduler(&db.store, &exec, &clock, "one");
    let logs = LogBuffer::default();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(
        Arc::new(sched)
            .run(shutdown, Arc::new(Notify::new()))
            .with_subscriber(logs.subscriber()),
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while logs.text().matches("database unavailable").count() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no outage warnings:\n{}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(exec.calls().is_empty());
    assert!(!running.is_finished(), "run keeps going through the outage");
    relay.up().await;
    while exec.calls().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job ran after recovery:\n{}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("run stops on shutdown")
        .unwrap();
    assert_eq!(exec.kinds_for("later"), vec![JobKind::Announce]);
    assert!(
        logs.text().contains("database reachable again"),
        "{}",
        logs.text()
    );
}
