//! Live meetings on Discord: what the HTTP side learns from Jitsi reaches the meeting's public post and its
//! Discord Scheduled Event. Every change goes through a [`Coalescer`] keyed by occurrence, so a post is edited at
//! most once per window however fast people come and go, and the last state always lands; the edits use the bulk
//! lane of the pacer, behind everything a person waits for.
//!
//! The work for one occurrence reloads its stored live record (so any instance, after any restart, renders the
//! same), renders the view under the server's `live_status`, and carries out the core's [`plan_event`]: ACTIVE
//! at the first member's join, COMPLETED after the room is destroyed or the planned end (plus their graces). Each
//! step is claimed in the store first, so of several instances exactly one sends it. A sweep over the store (at
//! start and then periodically) finds the steps that fall due with no event at all (nobody came, a lost
//! `destroyed`) and the edits a crash may have lost.

use super::announcement::{EVENT_ACTIVE, EVENT_COMPLETED};
use super::http::{Lane, RestClient, RestError};
use super::policy::effective;
use super::render::{self, InCall};
use crate::clock::SharedClock;
use crate::coalesce::Coalescer;
use crate::config::Config;
use crate::meeting::live::{
    plan_event, view, EventStep, LiveChange, LiveRecord, LiveSink, LiveStatus, LiveTimings,
};
use crate::store::{Meeting, Occurrence, OccurrenceStatus, Store, StoreError};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// At most one edit of a post per this window (Discord allows five edits of a channel's messages per five seconds;
/// one post at a time per window leaves room for the rest).
pub const EDIT_WINDOW: Duration = Duration::from_secs(5);

/// How often the store is swept for steps due without an event.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// How long a looked-up display name is trusted (a nickname change shows within this).
const NAME_TTL: Duration = Duration::from_secs(600);

/// How many display names are remembered; beyond it the cache starts afresh.
const NAME_CAPACITY: usize = 10_000;

/// How many steps one occurrence may take in one pass (ACTIVE then COMPLETED at most).
const MAX_STEPS: usize = 2;

/// Why the work for one occurrence stopped.
#[derive(Debug)]
enum Stop {
    /// Worth trying again a window later (the database or Discord did not answer).
    Retry(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        Stop::Retry(e.to_string())
    }
}

/// Whether a failed request can succeed later; a deleted post or event, or a missing permission, cannot.
fn transient(e: &RestError) -> bool {
    matches!(
        e,
        RestError::RateLimited { .. } | RestError::Server { .. } | RestError::Transport(_)
    )
}

/// Whether the Discord event of a meeting follows Jitsi's room events: they are configured (the listener with
/// an events token or a JaaS secret). Without them the scheduler moves events at the planned times, as before.
pub fn events_follow_rooms(config: &Config) -> bool {
    config
        .http
        .web
        .as_ref()
        .is_some_and(|w| w.events_token.is_some() || w.jaas_secret.is_some())
}

/// Display names of members, by (guild, user), for a while; `None` remembers someone who is not a member.
#[derive(Default)]
struct Names {
    known: HashMap<(u64, u64), (Option<String>, Instant)>,
}

/// Carries live changes to Discord. Cheap to share.
pub struct LiveDiscord {
    rest: RestClient,
    store: Store,
    config: Arc<Config>,
    clock: SharedClock,
    timings: LiveTimings,
    /// The Discord events follow the rooms (see [`events_follow_rooms`]).
    owns_events: bool,
    names: Mutex<Names>,
}

impl LiveDiscord {
    /// The worker; its requests go through the bulk lane of `rest`'s pacer.
    pub fn new(
        rest: &RestClient,
        store: Store,
        config: Arc<Config>,
        clock: SharedClock,
        timings: LiveTimings,
    ) -> LiveDiscord {
        LiveDiscord {
            rest: rest.in_lane(Lane::Bulk),
            store,
            owns_events: events_follow_rooms(&config),
            config,
            clock,
            timings,
            names: Mutex::new(Names::default()),
        }
    }

    /// Brings the post and the event of one occurrence up to date with its stored live state.
    async fn refresh(&self, change: &LiveChange) -> Result<(), Stop> {
        let Some(occ) = self.store.occurrence(change.occurrence_id).await? else {
            return Ok(());
        };
        let Some(m) = self.store.meeting(&occ.meeting_id).await? else {
            return Ok(());
        };
        let record = self.store.live_record(occ.id).await?;
        let now = self.clock.now();
        if self.owns_events && occ.status != OccurrenceStatus::Cancelled {
            self.settle_event(&m, &occ, record.clone(), now).await?;
        }
        self.edit_post(&m, &occ, record.as_ref(), now).await
    }

    /// Edits the post's embed to tell the call's state, unless the server turned live status off or nobody has
    /// joined yet.
    async fn edit_post(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        record: Option<&LiveRecord>,
        now: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let Some(message) = occ.announcement_message_id else {
            return Ok(());
        };
        if occ.status == OccurrenceStatus::Cancelled {
            return Ok(());
        }
        let status = effective(&self.config, &self.store, m.guild_id)
            .await
            .live_status;
        let v = view(record, occ, now, &self.timings);
        let Some(shown) = v.shown(status, m.private) else {
            return Ok(());
        };
        let named = status.for_meeting(m.private) == LiveStatus::Names;
        let mut names = Vec::with_capacity(shown.members.len());
        let mut others = shown.guests;
        for member in &shown.members {
            match self.display_name(m.guild_id, *member).await {
                Some(name) => names.push(name),
                // Not (or no longer) a member here: counted, never named.
                None => others = others.saturating_add(1),
            }
        }
        let in_call = InCall {
            names: &names,
            others,
        };
        let Some(embed) = render::live_embed(&shown, &in_call, named) else {
            return Ok(());
        };
        match self
            .rest
            .edit_message(m.channel_id, message, &render::live_edit(embed))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if transient(&e) => Err(Stop::Retry(e.to_string())),
            Err(e) => {
                tracing::info!(error = %e, meeting = %m.id, "cannot edit the meeting's post with its live state");
                Ok(())
            }
        }
    }

    /// The server's display name of a member, looked up over REST and remembered a while; `None` for someone who
    /// is not a member (or when Discord does not answer: the post then counts them without a name).
    async fn display_name(&self, guild: u64, user: u64) -> Option<String> {
        {
            let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((name, at)) = names.known.get(&(guild, user)) {
                if at.elapsed() < NAME_TTL {
                    return name.clone();
                }
            }
        }
        let found = match self.rest.get_member(guild, user).await {
            Ok(found) => found.map(|m| m.display_name().to_string()),
            Err(e) => {
                tracing::debug!(error = %e, guild, "cannot look up a member's name for a live post");
                return None;
            }
        };
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.known.len() >= NAME_CAPACITY {
            names.known.clear();
        }
        names
            .known
            .insert((guild, user), (found.clone(), Instant::now()));
        found
    }

    /// Carries out what [`plan_event`] says is due for the occurrence's Discord event now, each step claimed in
    /// the store first so that one instance only sends it. A step Discord could not take for a passing reason
    /// gives its claim back, to be tried again.
    async fn settle_event(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        mut record: Option<LiveRecord>,
        now: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let Some(event) = occ.discord_event_id.filter(|_| m.discord_event) else {
            return Ok(());
        };
        for _ in 0..MAX_STEPS {
            let plan = plan_event(record.as_ref(), occ, now, &self.timings);
            let Some(step) = plan.step else {
                return Ok(());
            };
            let activated = record.as_ref().is_some_and(|r| r.activated_at.is_some());
            let rec = record.get_or_insert_with(|| LiveRecord {
                occurrence_id: occ.id,
                first_event_at: None,
                last_event_at: None,
                activated_at: None,
                completed_at: None,
                rooms: Vec::new(),
                visits: Vec::new(),
            });
            match step {
                EventStep::Activate => {
                    rec.activated_at = Some(now);
                    if self.store.claim_live_activation(occ.id, now).await? {
                        if let Err(e) = self.set_status(m.guild_id, event, EVENT_ACTIVE).await {
                            self.give_back(occ.id, "activated_at", now).await;
                            return Err(e);
                        }
                        tracing::info!(meeting = %m.id, occurrence = occ.id, "a member joined: the Discord event is ACTIVE");
                    }
                }
                EventStep::Complete { nobody_came } => {
                    rec.completed_at = Some(now);
                    if self.store.claim_live_completion(occ.id, now).await? {
                        // Discord completes only an ACTIVE event: a meeting nobody came to (or only guests) was
                        // never activated.
                        let mut result = Ok(());
                        if !activated {
                            result = self.set_status(m.guild_id, event, EVENT_ACTIVE).await;
                        }
                        if result.is_ok() {
                            result = self.set_status(m.guild_id, event, EVENT_COMPLETED).await;
                        }
                        if let Err(e) = result {
                            self.give_back(occ.id, "completed_at", now).await;
                            return Err(e);
                        }
                        tracing::info!(meeting = %m.id, occurrence = occ.id, nobody_came, "the call is over: the Discord event is COMPLETED");
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Moves a Discord event to `status`. A refusal that no retry mends (the event was deleted, or someone moved it
    /// on by hand) ends the matter; a passing failure is for another try.
    async fn set_status(&self, guild: u64, event: u64, status: u8) -> Result<(), Stop> {
        let path = format!("/guilds/{guild}/scheduled-events/{event}");
        match self
            .rest
            .request(Method::PATCH, &path, Some(&json!({ "status": status })))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if transient(&e) => Err(Stop::Retry(e.to_string())),
            Err(e) => {
                tracing::info!(error = %e, guild, status, "Discord would not move the event; leaving it");
                Ok(())
            }
        }
    }

    async fn give_back(&self, occurrence: i64, column: &'static str, at: DateTime<Utc>) {
        if let Err(e) = self.store.release_live_claim(column, occurrence, at).await {
            tracing::warn!(error = %e, occurrence, "cannot give back a claimed event step; it stays undone");
        }
    }

    /// The occurrences whose event has a step due now with no event to tell (nobody came, a lost `destroyed`,
    /// the overrun), as changes to carry out.
    async fn due_without_events(&self) -> Result<Vec<LiveChange>, StoreError> {
        if !self.owns_events {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let t = &self.timings;
        let horizon = t.max_overrun + t.end_grace + t.destroyed_grace + chrono::Duration::hours(1);
        let mut due = Vec::new();
        for occ in self
            .store
            .live_event_candidates(now + t.early, now - horizon)
            .await?
        {
            let record = self.store.live_record(occ.id).await?;
            if plan_event(record.as_ref(), &occ, now, t).step.is_none() {
                continue;
            }
            if let Some(m) = self.store.meeting(&occ.meeting_id).await? {
                due.push(LiveChange {
                    guild_id: m.guild_id,
                    meeting_id: m.id,
                    occurrence_id: occ.id,
                });
            }
        }
        Ok(due)
    }

    /// Every occurrence still live in the store, so edits a crash or a restart lost are made again.
    async fn unsettled(&self) -> Result<Vec<LiveChange>, StoreError> {
        let now = self.clock.now();
        let since = now - self.timings.max_overrun - chrono::Duration::days(1);
        let mut out = Vec::new();
        for (occ, _) in self.store.live_records_unsettled(since).await? {
            if let Some(m) = self.store.meeting(&occ.meeting_id).await? {
                out.push(LiveChange {
                    guild_id: m.guild_id,
                    meeting_id: m.id,
                    occurrence_id: occ.id,
                });
            }
        }
        Ok(out)
    }
}

/// The running Discord side of live meetings: the sink the HTTP side reports to, and the sweep.
#[derive(Clone)]
pub struct LiveService {
    worker: Arc<LiveDiscord>,
    edits: Coalescer<i64, LiveChange>,
}

impl LiveSink for LiveService {
    fn changed(&self, change: LiveChange) {
        self.edits.changed(change);
    }
}

impl LiveService {
    /// Starts delivering changes, each occurrence's at most once per `window`.
    pub fn start(
        worker: LiveDiscord,
        window: Duration,
    ) -> (LiveService, tokio::task::JoinHandle<()>) {
        let worker = Arc::new(worker);
        let w = worker.clone();
        let (edits, task) = Coalescer::start(window, move |_occurrence, change: LiveChange| {
            let w = w.clone();
            async move {
                match w.refresh(&change).await {
                    Ok(()) => Ok(()),
                    Err(Stop::Retry(why)) => {
                        tracing::info!(occurrence = change.occurrence_id, reason = %why, "live update not carried out; trying again");
                        Err(change)
                    }
                }
            }
        });
        (LiveService { worker, edits }, task)
    }

    /// Looks over the store once: steps due without an event, and (with `recover`) every live post again.
    /// Returns how many occurrences were queued.
    pub async fn sweep(&self, recover: bool) -> Result<usize, StoreError> {
        let mut changes = self.worker.due_without_events().await?;
        if recover {
            changes.extend(self.worker.unsettled().await?);
        }
        let n = changes.len();
        for c in changes {
            self.edits.push(c.occurrence_id, c);
        }
        Ok(n)
    }

    /// Sweeps at once (recovering lost edits), then every [`SWEEP_EVERY`] until shutdown; then lets the queued
    /// edits go out.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut recover = true;
        loop {
            if let Err(e) = self.sweep(recover).await {
                tracing::warn!(error = %e, "live sweep failed; trying again later");
            } else {
                recover = false;
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        self.edits.close();
    }

    /// Stops taking changes; those waiting still go out, paced.
    pub fn close(&self) {
        self.edits.close();
    }

    /// How many occurrences have an update waiting.
    pub fn waiting(&self) -> usize {
        self.edits.waiting()
    }
}
