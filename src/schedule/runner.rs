//! The scheduler engine: claims due jobs from the store, decides whether work that fell due
//! while the bot was down still makes sense, hands the rest to an [`Executor`], and keeps
//! repeating meetings going. Knows nothing of Discord: the executor does the talking.
//!
//! Delivery is at least once: a job whose effect happened but whose completion could not be
//! recorded (crash, database gone) runs again after its lease runs out. Executors therefore keep
//! their own effects idempotent (e.g. `Store::claim_delivery` per user before a DM).
//!
//! Leases hold while jobs run: the scheduler claims only as many occurrences as it can work on at
//! once (so a claimed job never waits behind a slow one while its lease runs down), renews every
//! lease it holds on a heartbeat, and keeps claiming while long jobs run. Every lease and due time
//! is compared on the scheduler's clock: give every process the database's (`store::DbClock`).

use crate::clock::SharedClock;
use crate::schedule::lease::{HeldLease, LeaseBook};
use crate::schedule::Repeat;
use crate::store::{
    Job, JobKind, Meeting, MeetingStatus, NewJob, Occurrence, OccurrenceStatus, Store, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use crate::schedule::lease::JobLease;

/// What an executor is told about the job it runs: how late it runs relative to when it was due
/// (a retry moves the due time to the retry), and its lease.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// When the job was due.
    pub due_at: DateTime<Utc>,
    /// When it actually runs.
    pub now: DateTime<Utc>,
    /// The job's lease: ask [`JobLease::still_held`] before each side effect, and stop (returning
    /// [`ExecError::LeaseLost`]) when it is not.
    pub lease: JobLease,
}

impl JobContext {
    /// How far past its due time the job runs (zero when on time).
    pub fn late_by(&self) -> chrono::Duration {
        (self.now - self.due_at).max(chrono::Duration::zero())
    }

    /// How long ago the occurrence started, if it has (for "started N minutes ago").
    pub fn started_ago(&self, occurrence: &Occurrence) -> Option<chrono::Duration> {
        (self.now > occurrence.starts_at).then(|| self.now - occurrence.starts_at)
    }
}

/// Why an executor call failed, and so whether to try again.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Worth retrying later: Discord 5xx/429, a transport failure, the database.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Will never succeed: channel deleted, permission missing.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The job's lease was lost (another process took the job over), so it stopped; the new owner
    /// settles it.
    #[error("the job's lease was lost to another process")]
    LeaseLost,
    /// The process is shutting down and stopped part-way; what is left is handed back to the queue (released, not
    /// counted as an attempt), for the next process to finish at once.
    #[error("interrupted by shutdown: {0}")]
    Interrupted(String),
}

impl ExecError {
    /// True when the job should be tried again.
    pub fn is_transient(&self) -> bool {
        matches!(self, ExecError::Transient(_))
    }
}

/// Does the outside-world part of each job kind; implemented by the Discord side.
///
/// Messages in an `ExecError` end up in logs and the job's `last_error`: never put a token or
/// a tokenized link in them.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Posts the announcement (and creates the Discord Scheduled Event).
    async fn announce(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        job: JobContext,
    ) -> Result<(), ExecError>;
    /// Sends the reminders (personal links by DM, once per user).
    async fn remind(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        job: JobContext,
    ) -> Result<(), ExecError>;
    /// Marks the start in Discord (announcement edit, event ACTIVE).
    async fn start(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        job: JobContext,
    ) -> Result<(), ExecError>;
    /// Marks the end in Discord (announcement edit, event COMPLETED).
    async fn end(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        job: JobContext,
    ) -> Result<(), ExecError>;
}

/// What one [`Scheduler::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Executor calls made.
    pub ran: u32,
    /// Jobs whose executor call succeeded and were marked done.
    pub completed: u32,
    /// Jobs that failed transiently and were put back with a backoff.
    pub retried: u32,
    /// Jobs that failed permanently or too often and were ended.
    pub gave_up: u32,
    /// Jobs marked done without calling the executor (stale or cancelled).
    pub dropped: u32,
    /// Jobs claimed but handed back untried because of shutdown.
    pub released: u32,
    /// Jobs abandoned because another process took their lease over (it settles them).
    pub lost: u32,
}

impl TickReport {
    fn add(&mut self, ran: bool, outcome: &Outcome) {
        self.ran += u32::from(ran);
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::GaveUp => self.gave_up += 1,
            Outcome::Dropped => self.dropped += 1,
            Outcome::Released => self.released += 1,
            Outcome::Lost => self.lost += 1,
        }
    }
}

/// Tuning for a [`Scheduler`]; the defaults suit the bot.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// How long a claimed job stays ours without a renewal. Renewed every `heartbeat` while the
    /// job runs, so it bounds how long a crashed process's jobs wait, not how long a job may run.
    pub lease: Duration,
    /// Time between two lease renewals; `None`: a third of the lease.
    pub heartbeat: Option<Duration>,
    /// Most jobs claimed by one [`Scheduler::tick`] (and by one claim of [`Scheduler::run`]).
    pub batch: u32,
    /// Most occurrences worked on at once; [`Scheduler::run`] claims only what it can start, so
    /// a claimed job never waits for a free slot while its lease runs.
    pub concurrency: usize,
    /// Attempts (claims) after which a transient failure is no longer retried.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with each attempt.
    pub retry_base: Duration,
    /// Longest delay between retries.
    pub retry_cap: Duration,
    /// How long before a repeat's start its announcement goes out.
    pub announce_lead: chrono::Duration,
    /// Longest sleep between ticks, so work created by other processes is seen.
    pub max_sleep: Duration,
    /// First wait after the database became unavailable; doubles up to `outage_backoff_max`.
    pub outage_backoff_min: Duration,
    /// Longest wait while the database stays unavailable.
    pub outage_backoff_max: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(300),
            heartbeat: None,
            batch: 100,
            concurrency: 8,
            max_attempts: 6,
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(30 * 60),
            announce_lead: chrono::Duration::hours(24),
            max_sleep: Duration::from_secs(30),
            outage_backoff_min: Duration::from_secs(1),
            outage_backoff_max: Duration::from_secs(60),
        }
    }
}

/// The jobs of one occurrence, as both `/meet when:` and the repeat logic create them:
/// announce at `announce_at` (never after the start), remind `remind_minutes` before the start
/// (never before the announcement), start, end.
pub fn jobs_for(
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    remind_minutes: Option<u32>,
    announce_at: DateTime<Utc>,
) -> Vec<NewJob> {
    let announce_at = announce_at.min(starts_at);
    let mut jobs = vec![NewJob {
        kind: JobKind::Announce,
        due_at: announce_at,
    }];
    if let Some(minutes) = remind_minutes {
        jobs.push(NewJob {
            kind: JobKind::Remind,
            due_at: (starts_at - chrono::Duration::minutes(i64::from(minutes))).max(announce_at),
        });
    }
    jobs.push(NewJob {
        kind: JobKind::Start,
        due_at: starts_at,
    });
    jobs.push(NewJob {
        kind: JobKind::End,
        due_at: ends_at.max(starts_at),
    });
    jobs
}

/// Delay before retrying after `attempt` failed attempts (1-based): `base · 2^(attempt−1)`,
/// never more than `cap`.
pub fn retry_backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    base.saturating_mul(factor).min(cap)
}

/// Adds the occurrence of a repeating `meeting` that follows the one starting at `after`,
/// skipping any that would already have ended by `now`, with its jobs (announced
/// `announce_lead` before its start, or now if that is later). `None` when the meeting does not
/// repeat, is not active, or that occurrence already exists (another process made it).
pub async fn add_next_occurrence(
    store: &Store,
    meeting: &Meeting,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
    announce_lead: chrono::Duration,
) -> Result<Option<Occurrence>, StoreError> {
    if meeting.status != MeetingStatus::Active {
        return Ok(None);
    }
    let repeat = match meeting.repeat.parse::<Repeat>() {
        Ok(Repeat::None) => return Ok(None),
        Ok(r) => r,
        Err(e) => {
            tracing::error!(meeting = %meeting.id, error = %e, "cannot repeat meeting");
            return Ok(None);
        }
    };
    let tz: Tz = match meeting.timezone.parse() {
        Ok(tz) => tz,
        Err(e) => {
            tracing::error!(meeting = %meeting.id, error = %e, "cannot repeat meeting: bad time zone");
            return Ok(None);
        }
    };
    let length = chrono::Duration::minutes(i64::from(meeting.duration_minutes));
    let mut after = after;
    // Occurrences that ended while the bot was down are not worth announcing; bounded so a
    // corrupt rule cannot spin.
    let mut next = None;
    for _ in 0..10_000 {
        let Some(candidate) = repeat.next_after(meeting.starts_at, tz, after) else {
            return Ok(None);
        };
        if meeting.repeat_until.is_some_and(|last| candidate > last) {
            // The series has run its course (`times:` or `until:`).
            return Ok(None);
        }
        if candidate + length > now {
            next = Some(candidate);
            break;
        }
        tracing::info!(meeting = %meeting.id, start = %candidate, "skipping an occurrence that ended while the scheduler was down");
        after = candidate;
    }
    let Some(starts_at) = next else {
        return Ok(None);
    };
    let ends_at = starts_at + length;
    let announce_at = (starts_at - announce_lead).max(now);
    let jobs = jobs_for(starts_at, ends_at, meeting.remind_minutes, announce_at);
    let added = store
        .add_occurrence(&meeting.id, starts_at, ends_at, &jobs)
        .await?;
    if let Some(occ) = &added {
        tracing::info!(meeting = %meeting.id, occurrence = occ.id, start = %starts_at, "scheduled the next occurrence");
    }
    Ok(added)
}

/// Whether the occurrence starting at `last` is a meeting's last: it does not repeat, or its series ends before
/// the next start.
fn series_over(meeting: &Meeting, last: DateTime<Utc>) -> bool {
    let repeat = match meeting.repeat.parse::<Repeat>() {
        Ok(Repeat::None) => return true,
        Ok(r) => r,
        // Not repeatable either way: add_next_occurrence adds none.
        Err(_) => return true,
    };
    let Some(until) = meeting.repeat_until else {
        return false;
    };
    let Ok(tz) = meeting.timezone.parse::<Tz>() else {
        return true;
    };
    repeat
        .next_after(meeting.starts_at, tz, last)
        .is_none_or(|next| next > until)
}

enum Outcome {
    Completed,
    Retried,
    GaveUp,
    Dropped,
    Released,
    Lost,
}

/// One settled job: whether the executor was called, and how it ended.
type Settled = (bool, Result<Outcome, StoreError>);

/// Claimed jobs of one occurrence, in due order, each with its lease.
type Group = Vec<(Job, HeldLease)>;

/// Runs due jobs for one bot process; several may share one database.
pub struct Scheduler {
    store: Store,
    executor: Arc<dyn Executor>,
    clock: SharedClock,
    leases: Arc<LeaseBook>,
    options: SchedulerOptions,
}

impl Scheduler {
    /// A scheduler claiming jobs as `owner`, which must be unique per process. Every lease and
    /// due time is judged on `clock`: with several processes, give each the database's
    /// (`store::DbClock`), or skewed machine clocks let them take each other's jobs.
    pub fn new(
        store: Store,
        executor: Arc<dyn Executor>,
        clock: SharedClock,
        owner: impl Into<String>,
        options: SchedulerOptions,
    ) -> Self {
        let leases = LeaseBook::new(store.clone(), clock.clone(), owner.into(), options.lease);
        Self {
            store,
            executor,
            clock,
            leases,
            options,
        }
    }

    /// An owner id unique to this process: its pid plus random bits, so a restarted process
    /// on the same pid never inherits a crashed one's leases.
    pub fn unique_owner() -> String {
        format!(
            "meetbot-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        )
    }

    /// The owner id this scheduler claims jobs under.
    pub fn owner(&self) -> &str {
        self.leases.owner()
    }

    fn heartbeat_every(&self) -> Duration {
        self.options.heartbeat.unwrap_or(self.options.lease / 3)
    }

    /// Claims up to `batch` due jobs and runs them (at most `concurrency` occurrences at once,
    /// their leases renewed meanwhile), returning once all are settled. Store errors on single
    /// jobs leave them leased (they run again once the lease expires); the first such error is
    /// returned after the rest finished.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let groups = self.claim(self.options.batch).await?;
        let mut report = TickReport::default();
        if groups.is_empty() {
            return Ok(report);
        }
        let work = futures::stream::iter(groups)
            .map(|group| self.run_group(group, None))
            .buffer_unordered(self.options.concurrency.max(1))
            .collect::<Vec<_>>();
        let settled = tokio::select! {
            settled = work => settled,
            never = self.leases.heartbeat(self.heartbeat_every()) => match never {},
        };
        let mut first_error = None;
        for (ran, outcome) in settled.into_iter().flatten() {
            match outcome {
                Ok(outcome) => report.add(ran, &outcome),
                Err(e) => {
                    report.ran += u32::from(ran);
                    warn_unsettled(&e);
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Leases up to `limit` due jobs, grouped by occurrence: one occurrence's jobs run in due
    /// order (announce before start before end), so the executor never edits an announcement not
    /// yet posted; occurrences run side by side.
    async fn claim(&self, limit: u32) -> Result<Vec<Group>, StoreError> {
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.options.lease).unwrap_or(chrono::Duration::MAX);
        let until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let jobs = self
            .store
            .claim_due(now, self.owner(), self.options.lease, limit)
            .await?;
        let mut groups: Vec<Group> = Vec::new();
        for job in jobs {
            let held = self.leases.hold(job.id, until);
            match groups
                .iter_mut()
                .find(|g| g[0].0.occurrence_id == job.occurrence_id)
            {
                Some(group) => group.push((job, held)),
                None => groups.push(vec![(job, held)]),
            }
        }
        Ok(groups)
    }

    async fn run_group(&self, group: Group, stop: Option<&watch::Receiver<bool>>) -> Vec<Settled> {
        let mut settled = Vec::with_capacity(group.len());
        for (job, held) in group {
            settled.push(self.process(job, held, stop).await);
        }
        settled
    }

    /// Settles one claimed job; the flag says whether the executor was called.
    async fn process(
        &self,
        job: Job,
        held: HeldLease,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Settled {
        if stop.is_some_and(|s| *s.borrow()) {
            drop(held);
            let released = self.store.release(job.id, self.owner()).await;
            return (false, released.map(|_| Outcome::Released));
        }
        if held.lease().is_lost() {
            return (false, Ok(Outcome::Lost));
        }
        let mut ran = false;
        let outcome = self.settle(&job, held, &mut ran).await;
        (ran, outcome)
    }

    async fn settle(
        &self,
        job: &Job,
        held: HeldLease,
        ran: &mut bool,
    ) -> Result<Outcome, StoreError> {
        let now = self.clock.now();
        let Some(occurrence) = self.store.occurrence(job.occurrence_id).await? else {
            return self
                .drop_job(job, held, None, "its occurrence no longer exists", now)
                .await;
        };
        let Some(meeting) = self.store.meeting(&occurrence.meeting_id).await? else {
            return self
                .drop_job(job, held, None, "its meeting no longer exists", now)
                .await;
        };
        if let Some(reason) = stale_reason(job.kind, &meeting, &occurrence, now) {
            if job.kind == JobKind::Start && !is_cancelled(&meeting, &occurrence) {
                // A repeat must go on even when this occurrence was missed.
                add_next_occurrence(
                    &self.store,
                    &meeting,
                    occurrence.starts_at,
                    now,
                    self.options.announce_lead,
                )
                .await?;
            }
            return self
                .drop_job(job, held, Some((&meeting, &occurrence)), reason, now)
                .await;
        }
        let context = JobContext {
            due_at: job.due_at,
            now,
            lease: held.lease().clone(),
        };
        *ran = true;
        let ex = &self.executor;
        let result = match job.kind {
            JobKind::Announce => ex.announce(&meeting, &occurrence, context).await,
            JobKind::Remind => ex.remind(&meeting, &occurrence, context).await,
            JobKind::Start => ex.start(&meeting, &occurrence, context).await,
            JobKind::End => ex.end(&meeting, &occurrence, context).await,
        };
        let lost = held.lease().is_lost();
        // Settling ends the lease; a heartbeat after this would only find it gone.
        drop(held);
        let now = self.clock.now();
        match result {
            Err(ExecError::LeaseLost) => {
                tracing::info!(job = job.id, kind = %job.kind, occurrence = occurrence.id, "job stopped: its lease was lost, the process that took it over finishes it");
                Ok(Outcome::Lost)
            }
            // Another process owns the job now and does all of this itself.
            _ if lost => Ok(Outcome::Lost),
            Err(ExecError::Interrupted(why)) => {
                tracing::info!(job = job.id, kind = %job.kind, occurrence = occurrence.id, reason = %why, "job interrupted by shutdown; handed back to the queue");
                if !self.store.release(job.id, self.owner()).await? {
                    warn_lease_lost(job);
                }
                Ok(Outcome::Released)
            }
            Ok(()) => {
                self.record_success(job.kind, &meeting, &occurrence, now)
                    .await?;
                if self.store.complete(job.id, self.owner(), now).await? {
                    crate::metrics::scheduler_lag(
                        job.kind,
                        (now - job.due_at).to_std().unwrap_or_default(),
                    );
                } else {
                    warn_lease_lost(job);
                }
                Ok(Outcome::Completed)
            }
            Err(e) if e.is_transient() && job.attempts < self.options.max_attempts => {
                let delay = retry_backoff(
                    job.attempts,
                    self.options.retry_base,
                    self.options.retry_cap,
                );
                let at = chrono::Duration::from_std(delay)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                tracing::warn!(job = job.id, kind = %job.kind, occurrence = occurrence.id, attempt = job.attempts, retry_at = %at, error = %e, "job failed, will retry");
                if !self
                    .store
                    .retry_later(job.id, self.owner(), at, &e.to_string())
                    .await?
                {
                    warn_lease_lost(job);
                }
                Ok(Outcome::Retried)
            }
            Err(e) => {
                tracing::error!(job = job.id, kind = %job.kind, occurrence = occurrence.id, attempt = job.attempts, error = %e, "job failed, giving up");
                // Time moves on without Discord: the occurrence still starts and ends, and a
                // repeat still needs its next occurrence. A failed reminder is not recorded.
                if matches!(job.kind, JobKind::Start | JobKind::End) {
                    self.record_success(job.kind, &meeting, &occurrence, now)
                        .await?;
                }
                if !self
                    .store
                    .give_up(job.id, self.owner(), now, &e.to_string())
                    .await?
                {
                    warn_lease_lost(job);
                }
                Ok(Outcome::GaveUp)
            }
        }
    }

    /// The store-side consequences of a job that ran (or, for start and end, was given up);
    /// done before settling the job so a crash in between repeats them (they are idempotent)
    /// rather than losing them.
    async fn record_success(
        &self,
        kind: JobKind,
        meeting: &Meeting,
        occurrence: &Occurrence,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match kind {
            JobKind::Announce => {}
            JobKind::Remind => {
                self.store.set_reminded(occurrence.id, now).await?;
            }
            JobKind::Start => {
                if occurrence.status == OccurrenceStatus::Scheduled {
                    self.store
                        .set_occurrence_status(occurrence.id, OccurrenceStatus::Started)
                        .await?;
                }
                add_next_occurrence(
                    &self.store,
                    meeting,
                    occurrence.starts_at,
                    now,
                    self.options.announce_lead,
                )
                .await?;
            }
            JobKind::End => {
                self.store
                    .set_occurrence_status(occurrence.id, OccurrenceStatus::Ended)
                    .await?;
                if series_over(meeting, occurrence.starts_at) {
                    self.store.end_meeting(&meeting.id).await?;
                }
            }
        }
        Ok(())
    }

    async fn drop_job(
        &self,
        job: &Job,
        held: HeldLease,
        context: Option<(&Meeting, &Occurrence)>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        drop(held);
        let meeting = context.map(|(m, _)| m.id.as_str()).unwrap_or("-");
        tracing::info!(job = job.id, kind = %job.kind, occurrence = job.occurrence_id, meeting, due_at = %job.due_at, reason, "dropping job");
        if !self.store.complete(job.id, self.owner(), now).await? {
            warn_lease_lost(job);
        }
        Ok(Outcome::Dropped)
    }

    /// Runs due jobs until `shutdown` turns true (or its sender goes away). Up to `concurrency`
    /// occurrences run at once, each in its own task with its lease renewed on the heartbeat;
    /// claiming goes on while they run, and a slot that frees up is filled at once. When every
    /// slot is free it sleeps until the next job is due, at most `max_sleep`; while the database
    /// is unavailable it backs off from `outage_backoff_min` to `outage_backoff_max`. `wake` cuts
    /// a sleep short (a command just created due work). On shutdown, jobs claimed but not yet
    /// started are released for other processes; running ones finish.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
        wake: Arc<tokio::sync::Notify>,
    ) {
        tracing::info!(owner = %self.owner(), "scheduler started");
        let heartbeat = {
            let (leases, every) = (self.leases.clone(), self.heartbeat_every());
            tokio::spawn(async move { match leases.heartbeat(every).await {} })
        };
        let mut running: JoinSet<Vec<Settled>> = JoinSet::new();
        let slots = self.options.concurrency.max(1);
        // The current backoff while claims fail, and whether the database was unreachable.
        let mut outage: Option<(Duration, bool)> = None;
        while !*shutdown.borrow() {
            let free = slots.saturating_sub(running.len());
            let wait = if free == 0 {
                // Every slot is busy: the first group to finish ends this wait.
                self.options.max_sleep
            } else {
                match self.claim_and_start(free, &shutdown, &mut running).await {
                    Ok(wait) => {
                        match outage.take() {
                            Some((_, true)) => {
                                tracing::info!("database reachable again, scheduler resumes")
                            }
                            Some((_, false)) => tracing::info!("scheduler claims succeed again"),
                            None => {}
                        }
                        wait
                    }
                    Err(e) => {
                        let wait = outage.map_or(self.options.outage_backoff_min, |(d, _)| {
                            d.saturating_mul(2).min(self.options.outage_backoff_max)
                        });
                        outage = Some((wait, e.is_unavailable()));
                        if e.is_unavailable() {
                            tracing::warn!(error = %e, retry_in = ?wait, "database unavailable, scheduler backing off");
                        } else {
                            tracing::error!(error = %e, retry_in = ?wait, "scheduler claim failed");
                        }
                        wait
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // A command just created due work: look now instead of at the next poll.
                _ = wake.notified() => {}
                // A slot freed up, and the occurrence's next job may be claimable now.
                Some(done) = running.join_next(), if !running.is_empty() => note_group(done),
                changed = shutdown.changed() => if changed.is_err() { break },
            }
        }
        // Running groups see the stop before each job and release what they have not started.
        while let Some(done) = running.join_next().await {
            note_group(done);
        }
        heartbeat.abort();
        tracing::info!(owner = %self.owner(), "scheduler stopped");
    }

    /// Claims what `free` slots can take and starts it; returns how long to wait before claiming
    /// again when no slot frees up first.
    async fn claim_and_start(
        self: &Arc<Self>,
        free: usize,
        stop: &watch::Receiver<bool>,
        running: &mut JoinSet<Vec<Settled>>,
    ) -> Result<Duration, StoreError> {
        let limit = u32::try_from(free)
            .unwrap_or(u32::MAX)
            .clamp(1, self.options.batch.max(1));
        let groups = self.claim(limit).await?;
        let claimed: usize = groups.iter().map(Vec::len).sum();
        for group in groups {
            let (this, stop) = (self.clone(), stop.clone());
            running.spawn(async move { this.run_group(group, Some(&stop)).await });
        }
        if claimed >= limit as usize {
            // As much as asked for: more is probably waiting.
            return Ok(Duration::ZERO);
        }
        let now = self.clock.now();
        let wait = match self.store.next_due_at(now).await? {
            // Due, yet not claimed: held back by a sibling's lease (the occurrence's earlier job runs,
            // here or elsewhere) or picked by another claimer. Look again soon rather than spinning;
            // a sibling finishing here ends the wait at once.
            Some(due) if due <= now && claimed == 0 => BLOCKED_POLL,
            Some(due) => (due - now).to_std().unwrap_or(Duration::ZERO),
            None => self.options.max_sleep,
        };
        Ok(wait.min(self.options.max_sleep))
    }
}

/// How soon [`Scheduler::run`] looks again at due work it could not claim.
const BLOCKED_POLL: Duration = Duration::from_secs(1);

/// Logs how one group run by [`Scheduler::run`] ended.
fn note_group(done: Result<Vec<Settled>, tokio::task::JoinError>) {
    match done {
        Ok(settled) => {
            let mut report = TickReport::default();
            for (ran, outcome) in settled {
                match outcome {
                    Ok(outcome) => report.add(ran, &outcome),
                    Err(e) => warn_unsettled(&e),
                }
            }
            tracing::debug!(?report, "jobs settled");
        }
        // Its leases were let go as the task unwound: the jobs run again once they run out.
        Err(e) => tracing::error!(error = %e, "a job task failed"),
    }
}

fn warn_unsettled(e: &StoreError) {
    tracing::warn!(error = %e, "a job could not be settled; it runs again when its lease expires");
}

fn is_cancelled(meeting: &Meeting, occurrence: &Occurrence) -> bool {
    meeting.status == MeetingStatus::Cancelled || occurrence.status == OccurrenceStatus::Cancelled
}

/// Why a job should not run any more, judged at `now`; `None` when it should run (maybe late).
fn stale_reason(
    kind: JobKind,
    meeting: &Meeting,
    occurrence: &Occurrence,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if meeting.status == MeetingStatus::Cancelled {
        return Some("the meeting was cancelled");
    }
    if occurrence.status == OccurrenceStatus::Cancelled {
        return Some("the occurrence was cancelled");
    }
    let over = now >= occurrence.ends_at || occurrence.status == OccurrenceStatus::Ended;
    match kind {
        JobKind::Announce | JobKind::Remind | JobKind::Start if over => {
            Some("the occurrence has already ended")
        }
        _ => None,
    }
}

fn warn_lease_lost(job: &Job) {
    tracing::warn!(job = job.id, kind = %job.kind, "lease on job lost before it was settled; another scheduler took it over");
}
