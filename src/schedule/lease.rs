//! A running job's hold on its lease. The scheduler renews every lease it holds on a heartbeat, so a job may run
//! longer than the lease; the executor asks [`JobLease::still_held`] before each side effect (or waits on
//! [`JobLease::lost`]), so a job whose lease another process took over stops without sending anything more.

use crate::clock::SharedClock;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The lease on one running job, as the executor sees it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobLease {
    book: Arc<LeaseBook>,
    state: Arc<LeaseState>,
}

#[derive(Debug)]
struct LeaseState {
    job_id: i64,
    /// The lease's end as last written or read, on the scheduler's clock.
    held_until: Mutex<DateTime<Utc>>,
    lost: watch::Sender<bool>,
}

impl LeaseState {
    fn mark_lost(&self, how: &str) {
        if !self.lost.send_replace(true) {
            tracing::warn!(
                job = self.job_id,
                how,
                "lease on job lost to another process; it stops without further sends"
            );
        }
    }
}

impl JobLease {
    /// The job this lease is for.
    pub fn job_id(&self) -> i64 {
        self.state.job_id
    }

    /// Whether this process still holds the job, asked of the database: the lease is ours and has not run out.
    /// Call it before each side effect. Should the database not answer, the lease's end as last seen decides: no
    /// other process may take a lease before it runs out.
    pub async fn still_held(&self) -> bool {
        if self.is_lost() {
            return false;
        }
        let now = self.book.clock.now();
        match self
            .book
            .store
            .lease_held_until(self.state.job_id, &self.book.owner)
            .await
        {
            Ok(Some(until)) if until > now => {
                *self.state.held_until.lock().expect("lease lock") = until;
                true
            }
            Ok(_) => {
                self.state.mark_lost("found at a check");
                false
            }
            Err(e) => {
                let until = *self.state.held_until.lock().expect("lease lock");
                tracing::debug!(job = self.state.job_id, error = %e, %until, "cannot check the lease; judging by its last known end");
                until > now
            }
        }
    }

    /// Whether the lease is known to be lost (by the heartbeat or a check); no database round trip.
    pub fn is_lost(&self) -> bool {
        *self.state.lost.borrow()
    }

    /// Resolves once the lease is known to be lost; for `select!` around long waits (a paced request).
    pub async fn lost(&self) {
        let mut rx = self.state.lost.subscribe();
        // The sender lives in `self.state`, so the channel cannot close while this waits.
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// Until when the lease holds, as last written or read.
    pub fn held_until(&self) -> DateTime<Utc> {
        *self.state.held_until.lock().expect("lease lock")
    }
}

/// Every lease one scheduler holds, renewed together.
#[derive(Debug)]
pub(crate) struct LeaseBook {
    store: Store,
    clock: SharedClock,
    owner: String,
    lease: Duration,
    held: Mutex<HashMap<i64, Arc<LeaseState>>>,
}

impl LeaseBook {
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        owner: String,
        lease: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            clock,
            owner,
            lease,
            held: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// Starts renewing the lease on `job_id`, just claimed until `until`, until the returned guard is dropped.
    pub(crate) fn hold(self: &Arc<Self>, job_id: i64, until: DateTime<Utc>) -> HeldLease {
        let state = Arc::new(LeaseState {
            job_id,
            held_until: Mutex::new(until),
            lost: watch::Sender::new(false),
        });
        self.held
            .lock()
            .expect("lease lock")
            .insert(job_id, state.clone());
        HeldLease(JobLease {
            book: self.clone(),
            state,
        })
    }

    /// One heartbeat: extends every held lease by a full lease from now, and marks those another process took.
    pub(crate) async fn renew(&self) {
        // Only leases held before the statement starts are judged by its answer: a job claimed meanwhile may be
        // missing from it without having been lost.
        let snapshot: Vec<Arc<LeaseState>> = self
            .held
            .lock()
            .expect("lease lock")
            .values()
            .cloned()
            .collect();
        if snapshot.is_empty() {
            return;
        }
        let ids: Vec<i64> = snapshot.iter().map(|s| s.job_id).collect();
        let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX);
        let now = self.clock.now();
        let until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        match self.store.renew_leases(&self.owner, &ids, until).await {
            Ok(still) => {
                let still: HashSet<i64> = still.into_iter().collect();
                let held = self.held.lock().expect("lease lock");
                for state in snapshot {
                    // Settled meanwhile: no longer ours to judge.
                    if !held.contains_key(&state.job_id) {
                        continue;
                    }
                    if still.contains(&state.job_id) {
                        *state.held_until.lock().expect("lease lock") = until;
                    } else {
                        state.mark_lost("at renewal");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = ids.len(), "cannot renew job leases; they hold until they run out, then another process may take the jobs over");
            }
        }
    }

    /// Renews every `every` forever; run beside the work the leases are for.
    pub(crate) async fn heartbeat(&self, every: Duration) -> Infallible {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // immediate; the leases were just written
        loop {
            ticks.tick().await;
            self.renew().await;
        }
    }
}

/// The scheduler's side of a held lease: while it lives, the heartbeat renews the lease.
#[derive(Debug)]
pub(crate) struct HeldLease(JobLease);

impl HeldLease {
    pub(crate) fn lease(&self) -> &JobLease {
        &self.0
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if let Ok(mut held) = self.0.book.held.lock() {
            held.remove(&self.0.state.job_id);
        }
    }
}
