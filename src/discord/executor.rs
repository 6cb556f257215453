//! The scheduler's Discord side: carries out due work — announce, remind, start, end — by posting and editing
//! the announcement, creating and updating the Discord event, and DMing the reminders. Implements
//! [`Executor`]; who is reminded and when links work are the core's decisions, the messages are render's.

use super::announcement::{self, EVENT_ACTIVE, EVENT_COMPLETED};
use super::audit::{self, LinkIssued};
use super::delivery::{deliver_all_with, nonce_for, Dm, DmOutcome};
use super::guild::{guild_facts_rest, invitee_from_member, resolve_invitees, GuildFacts, OverCap};
use super::http::{RestClient, RestError};
use super::links::{self, grace};
use super::policy::effective;
use super::render::{self, clip, AnnouncementState};
use super::reply::Refusal;
use super::visibility::Visibility;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::jitsi::{Minter, Room};
use crate::meeting::invite::{pinged_roles, InviteList};
use crate::meeting::join::{occurrence_validity, Validity};
use crate::meeting::occurrences::Timed;
use crate::meeting::policy::GuildPolicy;
use crate::meeting::recipients::{Invitee, ReminderRecipients};
use crate::meeting::settings::EffectivePolicy;
use crate::schedule::lease::JobLease;
use crate::schedule::runner::{ExecError, Executor, JobContext};
use crate::store::{Attempt, DeliveryScope, Meeting, Occurrence, OccurrenceStatus, Store};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::Arc;

/// A reminder's DMs go out in batches of this many rounds of `discord.dm_concurrency`, the lease looked at
/// before each.
const DM_BATCH_ROUNDS: usize = 4;

/// Carries out due work on Discord. Cheap to build: everything inside is shared.
#[derive(Clone)]
pub struct DiscordExecutor {
    rest: Arc<RestClient>,
    store: Store,
    minters: Arc<super::minters::ServerMinters>,
    config: Arc<Config>,
    clock: SharedClock,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Discord events follow the rooms' events (see `discord::live`): the start and end leave them alone.
    live_events: bool,
}

/// The nonce of one occurrence's reminder to one user: the same at every attempt, so Discord makes one message.
fn reminder_nonce(occurrence: i64, user: u64) -> String {
    nonce_for(&format!("reminder:{occurrence}:{user}"))
}

/// Why a job failed; transient failures are retried by the scheduler.
fn classify(e: RestError) -> ExecError {
    match e {
        RestError::Forbidden { .. }
        | RestError::NotFound { .. }
        | RestError::Rejected { .. }
        | RestError::Unauthorized => ExecError::Permanent(e.to_string()),
        other => ExecError::Transient(other.to_string()),
    }
}

impl DiscordExecutor {
    /// Builds the executor from its parts (the bot builds it before the framework owns `Data`).
    pub fn new(
        rest: Arc<RestClient>,
        store: Store,
        minters: Arc<super::minters::ServerMinters>,
        config: Arc<Config>,
        clock: SharedClock,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> DiscordExecutor {
        DiscordExecutor {
            rest,
            store,
            live_events: super::live::events_follow_rooms(&config),
            minters,
            config,
            clock,
            shutdown,
        }
    }

    /// Posts the announcement and creates the Discord event (when allowed). Idempotent across retries.
    async fn announce_now(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        now: DateTime<Utc>,
    ) -> Result<(), ExecError> {
        if m.private {
            return Ok(());
        }
        // The announcement goes out before the event: one already posted means an earlier run may also have made
        // the event without recording it.
        let rerun = occ.announcement_message_id.is_some();
        if occ.announcement_message_id.is_none() {
            // The scheduler speaks for a host whose permissions it cannot see now: only roles anyone may ping are.
            let pinged = if m.invitee_role_ids.is_empty() {
                Vec::new()
            } else {
                let mentionable: Vec<u64> = self
                    .rest
                    .get_roles(m.guild_id)
                    .await
                    .map(|roles| {
                        roles
                            .into_iter()
                            .filter(|r| r.mentionable)
                            .map(|r| r.id)
                            .collect()
                    })
                    .unwrap_or_default();
                pinged_roles(&m.invitee_role_ids, false, &mentionable)
            };
            let state = if now >= occ.starts_at {
                AnnouncementState::StartedMinutesAgo((now - occ.starts_at).num_minutes())
            } else {
                let server = effective(&self.config, &self.store, m.guild_id).await;
                let window =
                    Duration::from_std(server.join_window).unwrap_or(Duration::minutes(10));
                AnnouncementState::LinksOpen(occ.starts_at - window)
            };
            let mut body = announcement::body(m, occ, state, &pinged);
            body["nonce"] = json!(nonce_for(&format!("announce:{}", occ.id)));
            let msg = self
                .rest
                .send_message(m.channel_id, &body)
                .await
                .map_err(classify)?;
            self.store
                .set_announcement(occ.id, msg)
                .await
                .map_err(|e| ExecError::Transient(e.to_string()))?;
        }
        if m.discord_event
            && occ.discord_event_id.is_none()
            && now < occ.ends_at
            && announcement::events_allowed(&self.store, m).await
        {
            self.create_event(m, occ, now, rerun).await?;
        }
        Ok(())
    }

    /// Creates the occurrence's Discord event; a missing permission is remembered, other failures are logged (the
    /// announcement carries the meeting anyway).
    async fn create_event(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        now: DateTime<Utc>,
        rerun: bool,
    ) -> Result<(), ExecError> {
        let room = Room::from_normalized(m.room.clone())
            .unwrap_or_else(|_| Room::from_user_input("meeting").expect("fixed name"));
        let marker = announcement::event_marker(occ.id);
        // The event names the server's own meeting site when it has one.
        let base = self
            .minters
            .for_guild(m.guild_id)
            .await
            .map_err(|r| ExecError::Transient(r.0))?;
        let body = json!({
            "name": clip(&crate::text::plain(&m.topic), 100),
            "privacy_level": 2,
            "scheduled_start_time": occ.starts_at.max(now + Duration::seconds(5)).to_rfc3339(),
            "scheduled_end_time": occ.ends_at.to_rfc3339(),
            "description": format!("Video meeting hosted by meetbot. Use the Join button in the announcement for your personal link. {marker}"),
            "entity_type": 3,
            "entity_metadata": { "location": clip(base.room_url(&room).as_str(), 100) },
        });
        match announcement::create_event_once(&self.rest, m.guild_id, &body, &marker, rerun).await {
            Ok(ev) => {
                if let Some(id) = ev["id"].as_str().and_then(|s| s.parse::<u64>().ok()) {
                    self.store
                        .set_discord_event(occ.id, id)
                        .await
                        .map_err(|e| ExecError::Transient(e.to_string()))?;
                }
            }
            Err(RestError::Forbidden { .. }) => {
                // The permission was taken away since scheduling: stop trying until a `/meet when:` sees it
                // again. The announcement carries the meeting anyway.
                tracing::info!(guild = m.guild_id, meeting = %m.id, "no permission to create a Discord event; skipped");
                if let Err(e) = announcement::record_events_allowed(
                    &self.store,
                    m.guild_id,
                    false,
                    m.host_id,
                    now,
                )
                .await
                {
                    tracing::warn!(error = %e, "could not record the missing event permission");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, meeting = %m.id, "creating the Discord event failed; the announcement stands")
            }
        }
        Ok(())
    }

    /// The people a reminder goes to (see [`ReminderRecipients`]): the invitees, the host, the Interested users.
    async fn recipients(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        facts: &GuildFacts,
        policy: &GuildPolicy,
    ) -> Result<Vec<Invitee>, ExecError> {
        // A role deleted since scheduling must not hold back everyone else's links: skip it, and say so.
        let (roles, gone): (Vec<u64>, Vec<u64>) = m
            .invitee_role_ids
            .iter()
            .partition(|r| facts.roles.iter().any(|(info, _)| info.id == **r));
        if !gone.is_empty() {
            tracing::warn!(meeting = %m.id, roles = ?gone, "invited roles no longer exist; reminding the rest");
        }
        let invites = InviteList {
            users: m.invitee_user_ids.clone(),
            roles,
        };
        let resolve = |invites: InviteList| async move {
            resolve_invitees(
                &self.rest,
                m.guild_id,
                facts,
                policy,
                &invites,
                m.host_id,
                policy.invitee_cap,
                OverCap::Keep,
            )
            .await
        };
        let (invitees, _not_members) = match resolve(invites.clone()).await {
            Ok(found) => found,
            // Listing a role's members can fail for good (the Server Members intent was turned off): the people
            // invited by name still get their links rather than nobody after the retries run out.
            Err(Refusal(why)) if !invites.roles.is_empty() => {
                tracing::warn!(meeting = %m.id, reason = %why, "cannot expand the invited roles; reminding the people invited by name");
                resolve(InviteList {
                    users: invites.users.clone(),
                    roles: Vec::new(),
                })
                .await
                .map_err(|Refusal(t)| ExecError::Transient(t))?
            }
            Err(Refusal(t)) => return Err(ExecError::Transient(t)),
        };
        let cap = policy.invitee_cap;
        let mut list = ReminderRecipients::new(invitees, cap);
        if list.over_cap() > 0 {
            tracing::warn!(meeting = %m.id, cap, "more invitees than the cap; reminding only the first ones, the rest can use the Join button");
        }
        let roles = facts.role_infos();
        if let Ok(Some(host)) = self.rest.get_member(m.guild_id, m.host_id).await {
            list.add_host(invitee_from_member(
                &host, m.guild_id, facts, policy, &roles,
            ));
        }
        if let Some(event) = occ.discord_event_id {
            // The event is visible to the whole server; the meeting's channel may not be.
            let mut seen = Visibility::new(None, &self.rest, facts, m.guild_id);
            for member in announcement::interested_users(&self.rest, m.guild_id, event)
                .await
                .unwrap_or_default()
            {
                if list.lists(member.user_id) {
                    continue;
                }
                let person = invitee_from_member(&member, m.guild_id, facts, policy, &roles);
                let access = seen
                    .access(m, member.user_id, &member.roles, person.moderator)
                    .await;
                list.add_interested(person, member.bot, access);
            }
        }
        Ok(list.into_people())
    }

    /// DMs every recipient their own link (once per occurrence), and posts a note.
    async fn remind_now(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        lease: &JobLease,
    ) -> Result<(), ExecError> {
        let now = self.clock.now();
        let facts = guild_facts_rest(&self.rest, m.guild_id)
            .await
            .map_err(classify)?;
        let server = effective(&self.config, &self.store, m.guild_id).await;
        let invitees = self.recipients(m, occ, &facts, &server.guild).await?;
        let window = Duration::from_std(server.join_window).unwrap_or(Duration::minutes(10));
        let validity = occurrence_validity(occ.slot(), window, grace(&self.config));
        let base = self
            .minters
            .for_guild(m.guild_id)
            .await
            .map_err(|r| ExecError::Transient(r.0))?;
        let minter = links::minter(&server, &base);
        let scope = DeliveryScope::Occurrence(occ.id);
        // In batches, each after a look at the lease: a job another process took over stops here, and that
        // process sends the rest (the claims below keep either from sending anyone a second DM).
        let batch = self.config.discord.dm_concurrency.max(1) * DM_BATCH_ROUNDS;
        let (mut unsent, mut unconfirmed) = (0usize, 0usize);
        for invitees in invitees.chunks(batch) {
            if !lease.still_held().await {
                return Err(ExecError::LeaseLost);
            }
            let (u, c) = self
                .remind_batch(
                    m, occ, &facts, &server, &minter, validity, &scope, invitees, now,
                )
                .await?;
            unsent += u;
            unconfirmed += c;
            if unsent > 0 {
                // Shutting down: the rest stay for the next process.
                break;
            }
        }
        // A rerun (the first run's completion was lost) must not post the note again; the note's nonce guards
        // Discord's own retries, and the DMs above are guarded per user by their recorded attempts.
        if !m.private && occ.reminded_at.is_none() {
            if !lease.still_held().await {
                return Err(ExecError::LeaseLost);
            }
            let mut note = render::starting_note(&m.topic, occ.starts_at);
            note["nonce"] = json!(nonce_for(&format!("note:{}", occ.id)));
            if let Err(e) = self.rest.send_message(m.channel_id, &note).await {
                tracing::warn!(error = %e, meeting = %m.id, "could not post the starting note");
            }
        }
        self.store
            .set_reminded(occ.id, now)
            .await
            .map_err(|e| ExecError::Transient(e.to_string()))?;
        if unsent > 0 {
            return Err(ExecError::Interrupted(format!(
                "{unsent} reminder DMs not sent yet"
            )));
        }
        if unconfirmed > 0 {
            return Err(ExecError::Transient(format!(
                "{unconfirmed} reminder DMs not confirmed by Discord; sending them again"
            )));
        }
        Ok(())
    }

    /// Records the attempts of, mints and DMs one batch of a reminder's recipients, and records each outcome;
    /// returns how many were not sent (shutdown) and how many Discord did not confirm.
    #[allow(clippy::too_many_arguments)]
    async fn remind_batch(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        facts: &GuildFacts,
        server: &EffectivePolicy,
        minter: &Minter,
        validity: Validity,
        scope: &DeliveryScope,
        invitees: &[Invitee],
        now: DateTime<Utc>,
    ) -> Result<(usize, usize), ExecError> {
        let scope = scope.clone();
        let mut dms = Vec::new();
        for inv in invitees {
            // The attempt is recorded before the DM goes out and confirmed after; an unconfirmed one (a crash, a
            // shutdown, a 5xx) is sent again with the same nonce, so Discord returns the message it already made.
            match self.store.begin_delivery(&scope, inv.user_id, now).await {
                Ok(Attempt::Settled) => continue,
                Ok(Attempt::First) => {
                    audit::link_issued(
                        &self.rest,
                        &self.store,
                        server.audit_channel,
                        LinkIssued {
                            guild: m.guild_id,
                            at: self.clock.now(),
                            actor: m.host_id,
                            user: inv.user_id,
                            moderator: inv.moderator,
                            meeting: Some(&m.id),
                            via: "a reminder DM",
                            until: validity.until,
                        },
                    )
                    .await;
                }
                Ok(Attempt::Resend) => {}
                Err(e) => return Err(ExecError::Transient(e.to_string())),
            }
            let link = links::for_meeting(minter, m, inv, validity)
                .map_err(|e| ExecError::Permanent(e.to_string()))?;
            let mut body = render::reminder_dm(
                &m.topic,
                &facts.name,
                occ,
                validity.from,
                &link,
                inv.moderator,
            );
            body["nonce"] = json!(reminder_nonce(occ.id, inv.user_id));
            dms.push(Dm {
                user_id: inv.user_id,
                body,
            });
        }
        let mut records = Vec::new();
        deliver_all_with(
            &self.rest,
            dms,
            self.config.discord.dm_concurrency,
            self.shutdown.clone(),
            |user, outcome| {
                records.push((user, outcome.clone()));
            },
        )
        .await;
        let (mut unsent, mut unconfirmed) = (0usize, 0usize);
        for (user, outcome) in records {
            let at = self.clock.now();
            let r = match &outcome {
                DmOutcome::Delivered { .. } => self.store.mark_delivered(&scope, user, at).await,
                DmOutcome::NotSent(why) => {
                    unsent += 1;
                    self.store.mark_unsent(&scope, user, why, at).await
                }
                DmOutcome::Unconfirmed(why) => {
                    unconfirmed += 1;
                    self.store.mark_unsent(&scope, user, why, at).await
                }
                other => self.store.mark_failed(&scope, user, other.kind(), at).await,
            };
            if let Err(e) = r {
                tracing::warn!(error = %e, user, "could not record a delivery");
            }
        }
        Ok((unsent, unconfirmed))
    }

    /// The meeting starts: the event goes ACTIVE (unless it follows the room: then at the first member's join) and
    /// the announcement says so.
    async fn start_now(&self, m: &Meeting, occ: &Occurrence) -> Result<(), ExecError> {
        if !self.live_events {
            announcement::set_event_status(&self.rest, m, occ, EVENT_ACTIVE).await;
        }
        announcement::edit(
            &self.rest,
            m,
            occ,
            AnnouncementState::Started(occ.starts_at),
        )
        .await;
        Ok(())
    }

    /// The meeting ends: the event COMPLETED, the announcement says it ended (no Join button).
    async fn end_now(&self, m: &Meeting, occ: &Occurrence) -> Result<(), ExecError> {
        if self.live_events {
            // The event follows the room: COMPLETED once everyone left (or at the planned end plus a grace).
            announcement::edit(&self.rest, m, occ, AnnouncementState::Ended(occ.ends_at)).await;
            return Ok(());
        }
        if occ.status == OccurrenceStatus::Scheduled {
            // The start was missed (the bot was down): Discord completes only an ACTIVE event, and the meeting's
            // time did happen with working links, so it ends rather than being marked cancelled.
            announcement::set_event_status(&self.rest, m, occ, EVENT_ACTIVE).await;
        }
        announcement::set_event_status(&self.rest, m, occ, EVENT_COMPLETED).await;
        announcement::edit(&self.rest, m, occ, AnnouncementState::Ended(occ.ends_at)).await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Executor for DiscordExecutor {
    async fn announce(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        lateness: JobContext,
    ) -> Result<(), ExecError> {
        self.announce_now(meeting, occurrence, lateness.now).await
    }

    async fn remind(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        job: JobContext,
    ) -> Result<(), ExecError> {
        self.remind_now(meeting, occurrence, &job.lease).await
    }

    async fn start(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        _lateness: JobContext,
    ) -> Result<(), ExecError> {
        self.start_now(meeting, occurrence).await
    }

    async fn end(
        &self,
        meeting: &Meeting,
        occurrence: &Occurrence,
        _lateness: JobContext,
    ) -> Result<(), ExecError> {
        self.end_now(meeting, occurrence).await
    }
}
