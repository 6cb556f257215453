//! `/meet` and its Join button: parse → decide (meeting core) → mint (jitsi) → deliver → render.

use super::audit::{self, LinkIssued};
use super::custom_ids::JoinTarget;
use super::delivery::{deliver_all, Dm, DmOutcome};
use super::guild::{facts_for_command, invitee_of, member_facts, resolve_invitees};
use super::links::{self, grace};
use super::render::{self, Delivery, MeetingView};
use super::reply::{reply, Refusal};
use super::{Context, Data, Error};
use crate::jitsi::{Link, Minter, Room};
use crate::meeting::cooldown::Action;
use crate::meeting::invite::Unreached;
use crate::meeting::join::Validity;
use crate::meeting::recipients::Invitee;
use crate::meeting::request::{validate, MeetingRequest};
use crate::meeting::settings::EffectivePolicy;
use chrono::{DateTime, Utc};
use poise::serenity_prelude as serenity;

/// Start a video meeting now and send everyone invited their own link.
#[allow(clippy::too_many_arguments)] // one per slash-command option: poise maps parameters to options
#[poise::command(slash_command, guild_only)]
pub async fn meet(
    ctx: Context<'_>,
    #[description = "What the meeting is about"]
    #[max_length = 100]
    topic: Option<String>,
    #[description = "People and roles to invite, e.g. @alice @bob @Team"] invite: Option<String>,
    #[description = "Length in minutes (default from the server's settings)"] duration: Option<i64>,
    #[description = "Invite only: no post in this channel"] private: Option<bool>,
    #[description = "Schedule it instead: 2026-12-01 15:00, 15:00, tomorrow 9:30, in 2h, friday 18:00"]
    #[autocomplete = "super::scheduled::autocomplete_when"]
    when: Option<String>,
    #[description = "Scheduled meetings: how it repeats"] repeat: Option<
        super::scheduled::RepeatChoice,
    >,
    #[description = "Scheduled meetings: DM the personal links this many minutes before (0: at the start)"]
    remind: Option<i64>,
    #[description = "Scheduled meetings: time zone of `when`, e.g. Europe/Berlin"]
    #[autocomplete = "super::scheduled::autocomplete_timezone"]
    timezone: Option<String>,
    #[description = "Scheduled meetings: where to announce it (default: here)"]
    #[channel_types("Text")]
    channel: Option<serenity::ChannelId>,
) -> Result<(), Error> {
    let _running = ctx.data().enter();
    // Discord allows 3 s for the first response; everything below may take longer.
    ctx.defer_ephemeral().await?;
    let req = MeetingRequest {
        topic,
        duration_minutes: duration,
        invite,
        private: private.unwrap_or(false),
    };
    let schedule = match when {
        Some(when) => Some(super::scheduled::ScheduleOptions {
            when,
            repeat: repeat.map(Into::into).unwrap_or_default(),
            remind_minutes: remind,
            timezone,
            channel,
        }),
        None if repeat.is_some() || remind.is_some() || timezone.is_some() || channel.is_some() => {
            reply(ctx, "`repeat`, `remind`, `timezone` and `channel` are for scheduled meetings: add `when` too.").await;
            return Ok(());
        }
        None => None,
    };
    let data = ctx.data();
    let (guild, user, now) = (
        ctx.guild_id().map(|g| g.get()).unwrap_or_default(),
        ctx.author().id.get(),
        data.clock.now(),
    );
    let policy = super::policy::effective(&data.config, &data.store, guild).await;
    // Abuse limit: one /meet per person per cooldown; a refused /meet sent nothing and gives its use back.
    let cooldown = chrono::Duration::from_std(policy.cooldown).unwrap_or_default();
    if let Err(until) = data
        .cooldowns
        .try_take(guild, user, Action::Meet, now, cooldown)
    {
        let msg = format!(
            "You started a meeting a moment ago; you can use /meet again <t:{}:R>.",
            until.timestamp()
        );
        reply(ctx, &msg).await;
        return Ok(());
    }
    match start_meeting(ctx, req, schedule, &policy).await {
        Ok(()) => Ok(()),
        Err(Refusal(msg)) => {
            data.cooldowns.give_back(guild, user, Action::Meet, now);
            reply(ctx, &msg).await;
            Ok(())
        }
    }
}

async fn start_meeting(
    ctx: Context<'_>,
    req: MeetingRequest,
    schedule: Option<super::scheduled::ScheduleOptions>,
    effective: &EffectivePolicy,
) -> Result<(), Refusal> {
    let data = ctx.data();
    let now = data.clock.now();
    let guild_id = ctx
        .guild_id()
        .ok_or_else(|| Refusal("Use /meet in a server channel.".into()))?;
    let Context::Application(app) = ctx else {
        return Err(Refusal("/meet is a slash command.".into()));
    };
    let member = app
        .interaction
        .member
        .as_ref()
        .ok_or_else(|| Refusal("Use /meet in a server channel.".into()))?;
    let facts = facts_for_command(ctx, guild_id).await?;
    let roles = facts.role_infos();
    let policy = effective.guild.clone();
    let caller = member_facts(member);
    if !policy.may_host(&caller, &roles) {
        return Err(Refusal(format!(
            "You may not start meetings here. Members with these roles may: {} (and moderators).",
            policy.describe_host_roles(&roles)
        )));
    }
    let valid = validate(
        &req,
        effective.default_duration,
        data.config.meetings.max_duration,
    )?;
    // The public post goes out in the caller's name: not into a channel where they may not write themselves
    // (a read-only announcements channel). The interaction carries their permissions in this channel.
    if !valid.private
        && schedule.is_none()
        && !member
            .permissions
            .is_some_and(|p| p.contains(serenity::Permissions::SEND_MESSAGES))
    {
        return Err(Refusal(
            "You cannot post in this channel, so I will not announce a meeting here for you. Use `private: true` (the people you invite still get their links) or start it in a channel you can write in.".into(),
        ));
    }
    let caller_id = ctx.author().id.get();
    let (invitees, not_members) = resolve_invitees(
        &data.rest,
        guild_id.get(),
        &facts,
        &policy,
        &valid.invites,
        caller_id,
        policy.invitee_cap,
    )
    .await?;
    if let Some(opts) = schedule {
        return super::scheduled::schedule_meeting(
            ctx,
            valid,
            opts,
            &facts,
            invitees.len(),
            effective,
        )
        .await;
    }

    let room = {
        let mut rng = rand::thread_rng();
        Room::generate(&mut rng, valid.topic_given.then_some(valid.topic.as_str()))
    };
    let ends_at =
        now + chrono::Duration::from_std(valid.duration).unwrap_or(chrono::Duration::hours(1));
    let view = MeetingView {
        topic: valid.topic.clone(),
        host_id: caller_id,
        guild_name: facts.name.clone(),
        starts_at: now,
        ends_at,
        invited_users: valid.invites.users.clone(),
        invited_roles: valid.invites.roles.clone(),
    };
    let host_moderator = policy.is_moderator(&caller, &roles);
    let host = invitee_of(ctx.author(), member, host_moderator);
    let minter = links::minter(effective, &data.minter);
    let host_link = personal_link(data, &minter, &room, &host, now, ends_at)?;
    let stored = store_meeting(ctx, &valid, &room, now, ends_at, effective).await;
    let meeting_id = stored.as_ref().ok().cloned();
    let note = match &stored {
        Ok(id) => format!("\nMeeting id: `{id}` (moderators can bring in guests with `/invite`)."),
        Err(()) => "\n⚠ The database is unavailable, so this meeting is not saved: `/invite` cannot find it, and `/meetings` does not list it. Everything else works.".into(),
    };
    let audit = |to: &Invitee| {
        audit::link_issued(
            &data.rest,
            &data.store,
            effective.audit_channel,
            LinkIssued {
                guild: guild_id.get(),
                at: data.clock.now(),
                actor: caller_id,
                user: to.user_id,
                moderator: to.moderator,
                meeting: meeting_id.as_deref(),
                via: "/meet",
                until: ends_at + grace(&data.config),
            },
        )
    };
    audit(&host).await;
    let first = if invitees.is_empty() && not_members.is_empty() {
        Delivery::NoInvitees
    } else {
        Delivery::Sending(invitees.len())
    };
    reply(
        ctx,
        &with_note(
            render::host_reply(&view, &host_link, host_moderator, &first),
            &note,
        ),
    )
    .await;
    tracing::info!(
        guild = guild_id.get(),
        host = caller_id,
        room = room.as_str(),
        invitees = invitees.len(),
        private = valid.private,
        "meeting started"
    );

    // Whether the Join button exists: the host is pointed at it only when the announcement was posted.
    let mut announced = false;
    let mut note = note;
    if !valid.private {
        let custom_id = data.join_signer.custom_id(&JoinTarget {
            room: room.as_str().to_string(),
            ends_at,
        });
        let body = render::announcement(&view, &custom_id);
        match data.rest.send_message(ctx.channel_id().get(), &body).await {
            Ok(_) => announced = true,
            Err(e) => {
                tracing::warn!(error = %e, channel = ctx.channel_id().get(), "could not post the announcement");
                note.push_str("\n⚠ I could not post the announcement in this channel (the bot may lack permission to send messages here), so there is no Join button.");
            }
        }
    }

    if invitees.is_empty() && not_members.is_empty() {
        if !announced && !valid.private {
            let text = render::host_reply(&view, &host_link, host_moderator, &first);
            reply(ctx, &with_note(text, &note)).await;
        }
        return Ok(());
    }
    let mut dms = Vec::with_capacity(invitees.len());
    for inv in &invitees {
        let link = personal_link(data, &minter, &room, inv, now, ends_at)?;
        audit(inv).await;
        dms.push(Dm {
            user_id: inv.user_id,
            body: render::invitation_dm(&view, &link, inv.moderator),
        });
    }
    // People mentioned who are not in the server count as invited and not reached, so the host learns of them.
    let total = dms.len() + not_members.len();
    let outcomes = deliver_all(
        &data.rest,
        dms,
        data.config.discord.dm_concurrency,
        data.shutdown.clone(),
    )
    .await;
    let mut delivered = 0;
    let mut unreached = Vec::new();
    for (user, outcome) in outcomes {
        match outcome {
            DmOutcome::Delivered { .. } => delivered += 1,
            DmOutcome::DmsClosed => unreached.push((user, Unreached::DmsClosed)),
            DmOutcome::Failed(why) => unreached.push((user, Unreached::Failed(why))),
            DmOutcome::NotSent(_) => unreached.push((user, Unreached::NotSent)),
        }
    }
    unreached.extend(not_members.iter().map(|u| (*u, Unreached::NotMember)));
    let done = Delivery::Done {
        delivered,
        total,
        unreached,
        join_button: match (valid.private, announced) {
            (true, _) => render::JoinButton::Private,
            (false, true) => render::JoinButton::Posted,
            (false, false) => render::JoinButton::NotPosted,
        },
    };
    reply(
        ctx,
        &with_note(
            render::host_reply(&view, &host_link, host_moderator, &done),
            &note,
        ),
    )
    .await;
    Ok(())
}

/// The host's reply with a note under it, when both fit in one message; a long reply (many unreached invitees)
/// keeps its own text, which matters more (the meeting still shows in `/invite`'s list as you type).
fn with_note(body: String, note: &str) -> String {
    if body.chars().count() + note.chars().count() <= render::MAX_CONTENT {
        body + note
    } else {
        body
    }
}

/// Stores an immediate meeting (active, starting now, only its end due) so `/invite` and `/meetings` find it.
/// The Join button stays self-contained, so a database outage only costs those: the error is logged and `Err(())`
/// tells the caller to warn the host.
async fn store_meeting(
    ctx: Context<'_>,
    valid: &crate::meeting::request::ValidRequest,
    room: &Room,
    now: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    effective: &EffectivePolicy,
) -> Result<String, ()> {
    let data = ctx.data();
    let id = {
        let mut rng = rand::thread_rng();
        crate::store::generate_meeting_id(&mut rng)
    };
    let new = crate::store::NewMeeting {
        id: id.clone(),
        guild_id: ctx.guild_id().map(|g| g.get()).unwrap_or_default(),
        channel_id: ctx.channel_id().get(),
        host_id: ctx.author().id.get(),
        topic: valid.topic.clone(),
        room: room.as_str().to_string(),
        created_at: now,
        starts_at: now,
        duration_minutes: ((ends_at - now).num_minutes()).max(1) as u32,
        timezone: effective.default_timezone.name().to_string(),
        repeat: "none".into(),
        remind_minutes: None,
        invitee_user_ids: valid.invites.users.clone(),
        invitee_role_ids: valid.invites.roles.clone(),
        private: valid.private,
    };
    // /meet posts its own announcement and DMs its invitees at once: of the scheduled work only the start (marks it
    // running) and the end (marks it over, so it can no longer be invited to) make sense.
    let jobs: Vec<_> = crate::schedule::runner::jobs_for(now, ends_at, None, now)
        .into_iter()
        .filter(|j| {
            matches!(
                j.kind,
                crate::store::JobKind::Start | crate::store::JobKind::End
            )
        })
        .collect();
    match data.store.create_meeting(&new, &jobs).await {
        Ok(_) => {
            data.scheduler_wake.notify_one();
            Ok(id)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot store an immediate meeting; it runs without /invite");
            Err(())
        }
    }
}

/// Mints a link for one person, for one room, from now until the meeting's end plus grace.
fn personal_link(
    data: &Data,
    minter: &Minter,
    room: &Room,
    who: &Invitee,
    now: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<Link, Refusal> {
    let validity = Validity {
        from: now,
        until: ends_at + grace(&data.config),
    };
    links::personal(minter, room, who, validity)
        .map_err(|e| links::mint_failed(&e, "your meeting link"))
}
