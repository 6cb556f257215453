//! `/meet`: start a meeting now — parse the options, check them against the server's policy (meeting core), mint
//! the host's and every invitee's link, post the announcement, DM the invitations, render the host's reply — or,
//! with `when`, schedule it for the scheduler to announce and remind.

use super::autocomplete;
use crate::discord::announcement;
use crate::discord::audit::{self, LinkIssued};
use crate::discord::custom_ids::JoinTarget;
use crate::discord::delivery::{deliver_all, Dm, DmOutcome};
use crate::discord::guild::{
    facts_for_command, invitee_of, member_facts, resolve_invitees, GuildFacts, OverCap,
};
use crate::discord::links::{self, grace};
use crate::discord::policy::effective;
use crate::discord::render::{self, clip, Delivery, MeetingView, ScheduledReply};
use crate::discord::reply::{choices, reply, Refusal};
use crate::discord::visibility::Visibility;
use crate::discord::{Context, Data, Error};
use crate::jitsi::{Link, Minter, Room};
use crate::meeting::channel::{SEND_MESSAGES, VIEW_CHANNEL};
use crate::meeting::cooldown::Action;
use crate::meeting::invite::{pinged_roles, Unreached};
use crate::meeting::join::Validity;
use crate::meeting::recipients::Invitee;
use crate::meeting::request::{validate, MeetingRequest, ValidRequest};
use crate::meeting::settings::EffectivePolicy;
use crate::schedule::{describe, parse_timezone, parse_when_within, Repeat};
use crate::store::NewMeeting;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use poise::serenity_prelude as serenity;

/// Start a video meeting now and send everyone invited their own link.
#[allow(clippy::too_many_arguments)] // one per slash-command option: poise maps parameters to options
#[poise::command(slash_command, guild_only)]
pub async fn meet(
    ctx: Context<'_>,
    #[description = "What the meeting is about"]
    #[max_length = 100]
    topic: Option<String>,
    // About 90 mentions (a user's is up to 23 characters); a bigger group is a role.
    #[description = "People and roles to invite, e.g. @alice @bob @Team"]
    #[max_length = 2000]
    invite: Option<String>,
    #[description = "Length in minutes (default from the server's settings)"] duration: Option<i64>,
    #[description = "Invite only: no post in this channel"] private: Option<bool>,
    #[description = "Schedule it instead: 2026-12-01 15:00, 15:00, tomorrow 9:30, in 2h, friday 18:00"]
    #[autocomplete = "autocomplete_when"]
    #[max_length = 100]
    when: Option<String>,
    #[description = "Scheduled meetings: how it repeats"] repeat: Option<RepeatChoice>,
    #[description = "Repeating meetings: how many in all, the first included (e.g. 10)"]
    #[min = 2]
    times: Option<i64>,
    #[description = "Repeating meetings: the last day it may take place, e.g. 2027-03-31"]
    #[max_length = 10]
    until: Option<String>,
    #[description = "Scheduled meetings: DM the personal links this many minutes before (0: at the start)"]
    remind: Option<i64>,
    #[description = "Scheduled meetings: time zone of `when`, e.g. Europe/Berlin"]
    #[autocomplete = "autocomplete::timezone"]
    #[max_length = 64]
    timezone: Option<String>,
    #[description = "Scheduled meetings: where to announce it (default: here)"]
    #[channel_types("Text")]
    channel: Option<serenity::ChannelId>,
    #[description = "Scheduled: also a Discord event (the whole server sees it; default: if @everyone sees the channel)"]
    event: Option<bool>,
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
        Some(when) => Some(ScheduleOptions {
            when,
            repeat: repeat.map(Into::into).unwrap_or_default(),
            remind_minutes: remind,
            timezone,
            channel,
            times,
            until,
            event,
        }),
        None if repeat.is_some()
            || remind.is_some()
            || timezone.is_some()
            || channel.is_some()
            || times.is_some()
            || until.is_some()
            || event.is_some() =>
        {
            reply(ctx, "`repeat`, `remind`, `timezone`, `channel`, `times`, `until` and `event` are for scheduled meetings: add `when` too.").await;
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
    let policy = effective(&data.config, &data.store, guild).await;
    // Abuse limit: one /meet per person per cooldown; a refused /meet sent nothing and gives its use back.
    let cooldown = chrono::Duration::from_std(policy.cooldown).unwrap_or_default();
    if let Err(until) = data
        .take_cooldown(guild, user, Action::Meet, now, cooldown)
        .await
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
            data.give_back_cooldown(guild, user, Action::Meet, now)
                .await;
            reply(ctx, &msg).await;
            Ok(())
        }
    }
}

async fn start_meeting(
    ctx: Context<'_>,
    req: MeetingRequest,
    schedule: Option<ScheduleOptions>,
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
    // (a read-only announcements channel), now or when the scheduler announces it. The interaction carries their
    // permissions, and the bot's, in this channel; `channel:` and the server's announcement channel are checked
    // when scheduling.
    let announces_here = !valid.private
        && schedule
            .as_ref()
            .is_none_or(|s| s.channel.is_none() && effective.announcement_channel.is_none());
    if announces_here {
        let post = serenity::Permissions::VIEW_CHANNEL | serenity::Permissions::SEND_MESSAGES;
        if !member
            .permissions
            .is_some_and(|p| p.contains(serenity::Permissions::SEND_MESSAGES))
        {
            return Err(Refusal(
                "You cannot post in this channel, so I will not announce a meeting here for you. Use `private: true` (the people you invite still get their links) or start it in a channel you can write in.".into(),
            ));
        }
        if !app
            .interaction
            .app_permissions
            .is_none_or(|p| p.contains(post))
        {
            return Err(Refusal(
                "I cannot post in this channel (I need View Channel and Send Messages here), so the meeting could not be announced. Give me those permissions, use `private: true`, or use another channel.".into(),
            ));
        }
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
        OverCap::Refuse,
    )
    .await?;
    if let Some(opts) = schedule {
        return schedule_meeting(ctx, valid, opts, invitees.len(), effective, &facts).await;
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
        // Ping a role only when the caller could: Mention Everyone (in this channel), or a mentionable role.
        pinged_roles: pinged_roles(
            &valid.invites.roles,
            member
                .permissions
                .is_some_and(|p| p.contains(serenity::Permissions::MENTION_EVERYONE)),
            &facts.mentionable,
        ),
    };
    let host_moderator = policy.is_moderator(&caller, &roles);
    let host = invitee_of(ctx.author(), member, host_moderator);
    let base = data.minters.for_guild(guild_id.get()).await?;
    let minter = links::minter(effective, &base);
    let host_link = personal_link(data, &minter, &room, &host, now, ends_at)?;
    let stored = store_meeting(ctx, &valid, &room, now, ends_at, effective).await;
    let meeting_id = stored.as_ref().ok().map(|(id, _)| id.clone());
    let note = render::saved_note(meeting_id.as_deref()) + render::outage_note(effective.outage);
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
        &render::with_note(
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
            guild_id: guild_id.get(),
            room: room.as_str().to_string(),
            ends_at,
        });
        let body = render::announcement(&view, &custom_id);
        match data.rest.send_message(ctx.channel_id().get(), &body).await {
            Ok(message) => {
                announced = true;
                // Remembered so the post can show the call live (see discord::live).
                if let Ok((_, occurrence)) = &stored {
                    if let Err(e) = data.store.set_announcement(*occurrence, message).await {
                        tracing::warn!(error = %e, "cannot remember the announcement; it will not show the call live");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, channel = ctx.channel_id().get(), "could not post the announcement");
                note.push_str(render::NOT_ANNOUNCED_NOTE);
            }
        }
    }

    if invitees.is_empty() && not_members.is_empty() {
        if !announced && !valid.private {
            let text = render::host_reply(&view, &host_link, host_moderator, &first);
            reply(ctx, &render::with_note(text, &note)).await;
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
            DmOutcome::Failed(why) | DmOutcome::Unconfirmed(why) => {
                unreached.push((user, Unreached::Failed(why)))
            }
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
        &render::with_note(
            render::host_reply(&view, &host_link, host_moderator, &done),
            &note,
        ),
    )
    .await;
    Ok(())
}

/// Stores an immediate meeting (active, starting now, only its end due) so `/invite` and `/meetings` find it;
/// returns its id and its occurrence's. The Join button stays self-contained, so a database outage only costs
/// those: the error is logged and `Err(())` tells the caller to warn the host.
async fn store_meeting(
    ctx: Context<'_>,
    valid: &crate::meeting::request::ValidRequest,
    room: &Room,
    now: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    effective: &EffectivePolicy,
) -> Result<(String, i64), ()> {
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
        repeat_until: None,
        remind_minutes: None,
        invitee_user_ids: valid.invites.users.clone(),
        invitee_role_ids: valid.invites.roles.clone(),
        private: valid.private,
        // An immediate meeting is announced by its own post; only scheduled ones get Discord events.
        discord_event: false,
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
        Ok((_, occurrence)) => {
            data.scheduler_wake.notify_one();
            Ok((id, occurrence.id))
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

/// How a scheduled meeting repeats, as offered in the command.
#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum RepeatChoice {
    /// Once.
    #[name = "once"]
    None,
    /// Daily.
    #[name = "daily"]
    Daily,
    /// Monday to Friday.
    #[name = "weekdays"]
    Weekdays,
    /// Weekly.
    #[name = "weekly"]
    Weekly,
    /// Every two weeks.
    #[name = "every two weeks"]
    Biweekly,
    /// Monthly.
    #[name = "monthly"]
    Monthly,
}

impl From<RepeatChoice> for Repeat {
    fn from(c: RepeatChoice) -> Repeat {
        match c {
            RepeatChoice::None => Repeat::None,
            RepeatChoice::Daily => Repeat::Daily,
            RepeatChoice::Weekdays => Repeat::Weekdays,
            RepeatChoice::Weekly => Repeat::Weekly,
            RepeatChoice::Biweekly => Repeat::Biweekly,
            RepeatChoice::Monthly => Repeat::Monthly,
        }
    }
}

/// Scheduling options of `/meet`.
pub struct ScheduleOptions {
    /// The time as typed.
    pub when: String,
    /// Repeat rule.
    pub repeat: Repeat,
    /// Minutes before start for the personal links.
    pub remind_minutes: Option<i64>,
    /// IANA zone name.
    pub timezone: Option<String>,
    /// Where to announce.
    pub channel: Option<serenity::ChannelId>,
    /// How many occurrences a repeating series has in all.
    pub times: Option<i64>,
    /// The last day a repeating series may take place, as typed.
    pub until: Option<String>,
    /// Whether to create a Discord event (`None`: when the whole server sees the channel).
    pub event: Option<bool>,
}

/// The last start a repeating series may have, from `times` or `until` (one of them at most); `None`: no end.
fn series_end(
    opts: &ScheduleOptions,
    starts_at: DateTime<Utc>,
    tz: Tz,
    max_times: u32,
) -> Result<Option<DateTime<Utc>>, Refusal> {
    let until = opts
        .until
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if opts.times.is_none() && until.is_none() {
        return Ok(None);
    }
    if opts.repeat == Repeat::None {
        return Err(Refusal(
            "`times` and `until` end a repeating series: choose a `repeat` too.".into(),
        ));
    }
    match (opts.times, until) {
        (Some(_), Some(_)) => Err(Refusal("Give either `times` or `until`, not both.".into())),
        (Some(n), None) => {
            let n = u32::try_from(n)
                .ok()
                .filter(|n| (2..=max_times).contains(n))
                .ok_or_else(|| {
                    Refusal(format!(
                        "`times` counts the meetings of the series, the first included: 2 to {max_times}."
                    ))
                })?;
            opts.repeat
                .nth_start(starts_at, tz, n)
                .map(Some)
                .ok_or_else(|| Refusal("That series cannot have that many meetings.".into()))
        }
        (None, Some(text)) => {
            let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                Refusal(format!(
                    "`until` is the last day, written like 2027-03-31; I cannot read \"{}\".",
                    render::escape(&clip(text, 20))
                ))
            })?;
            let last = Repeat::last_start_on(day, tz)
                .ok_or_else(|| Refusal("That `until` day is out of range.".into()))?;
            if last < starts_at {
                return Err(Refusal(format!(
                    "`until` ({day}) is before the first meeting ({}).",
                    describe(starts_at, tz, starts_at)
                )));
            }
            Ok(Some(last))
        }
        (None, None) => Ok(None),
    }
}

/// The time zone for a guild: the command's, else the server's default.
fn zone_for(default: Tz, typed: Option<&str>) -> Result<Tz, Refusal> {
    match typed.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => parse_timezone(name).map_err(Refusal::from),
        None => Ok(default),
    }
}

/// Autocomplete for `when`: shows how the text is understood before the user presses enter.
pub async fn autocomplete_when(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let data = ctx.data();
    let now = data.clock.now();
    let typed_tz = timezone_option(ctx);
    let guild = ctx.guild_id().map(|g| g.get()).unwrap_or_default();
    let default_tz = effective(&data.config, &data.store, guild)
        .await
        .default_timezone;
    let tz = zone_for(default_tz, typed_tz.as_deref()).unwrap_or(default_tz);
    let max = Duration::from_std(data.config.meetings.max_ahead).unwrap_or(Duration::days(366));
    let name = if partial.trim().is_empty() {
        "Type a time: 2026-12-01 15:00 · 15:00 · tomorrow 9:30 · in 2h · friday 18:00".to_owned()
    } else {
        match parse_when_within(partial, now, tz, max) {
            Ok(at) => describe(at, tz, now),
            Err(e) => format!("⚠ {e}"),
        }
    };
    choices([(name, partial.to_owned())])
}

/// The `timezone` option the user already typed in the same command, if any (autocomplete sees all options).
fn timezone_option(ctx: Context<'_>) -> Option<String> {
    let Context::Application(app) = ctx else {
        return None;
    };
    app.args.iter().find_map(|o| match (o.name, &o.value) {
        ("timezone", serenity::ResolvedValue::String(s)) => Some(s.to_string()),
        ("timezone", serenity::ResolvedValue::Autocomplete { value, .. }) => {
            Some(value.to_string())
        }
        _ => None,
    })
}

/// Refuses a `channel:` the caller cannot see or write in: the bot would otherwise post there (with pings and a
/// Join button) on their behalf, e.g. into a read-only announcements channel or a moderators-only one. Discord
/// sends the caller's own permissions in that channel with the option.
fn may_post_in(ctx: Context<'_>, channel: serenity::ChannelId) -> Result<(), Refusal> {
    let Context::Application(app) = ctx else {
        return Ok(());
    };
    let needed = serenity::Permissions::VIEW_CHANNEL | serenity::Permissions::SEND_MESSAGES;
    let allowed = app
        .interaction
        .data
        .resolved
        .channels
        .get(&channel)
        .and_then(|c| c.permissions)
        .is_some_and(|p| p.contains(needed));
    if allowed {
        Ok(())
    } else {
        Err(Refusal(format!(
            "You cannot post in <#{channel}>, so I will not announce a meeting there for you. Pick a channel you can write in, or leave `channel` out."
        )))
    }
}

/// Refuses to schedule into a channel the bot itself may not post in (the scheduler's post would fail after the
/// host was told it was scheduled), from the bot's roles and the channel's overwrites. When Discord cannot tell, the
/// announcement's own failure is reported later.
async fn bot_may_post(
    ctx: Context<'_>,
    seen: &mut Visibility<'_>,
    channel: u64,
) -> Result<(), Refusal> {
    let data = ctx.data();
    let bot = ctx.framework().bot_id().get();
    let guild = ctx.guild_id().map(|g| g.get()).unwrap_or_default();
    let Ok(Some(me)) = data.rest.get_member(guild, bot).await else {
        return Ok(());
    };
    let Some(rules) = seen.rules(channel).await else {
        return Ok(());
    };
    let needed = VIEW_CHANNEL | SEND_MESSAGES;
    if rules.permissions(bot, &me.roles) & needed == needed {
        Ok(())
    } else {
        Err(Refusal(format!(
            "I cannot post in <#{channel}> (I need View Channel and Send Messages there), so nothing was scheduled. Give me those permissions or pick another channel."
        )))
    }
}

/// `/meet when:…`: stores the meeting with its due work; the scheduler announces it at once.
async fn schedule_meeting(
    ctx: Context<'_>,
    valid: ValidRequest,
    opts: ScheduleOptions,
    invitees_count: usize,
    policy: &EffectivePolicy,
    facts: &GuildFacts,
) -> Result<(), Refusal> {
    let data = ctx.data();
    let now = data.clock.now();
    let guild_id = ctx.guild_id().map(|g| g.get()).unwrap_or_default();
    let tz = zone_for(policy.default_timezone, opts.timezone.as_deref())?;
    let max = Duration::from_std(data.config.meetings.max_ahead).unwrap_or(Duration::days(366));
    let starts_at = parse_when_within(&opts.when, now, tz, max)?;
    let repeat_until = series_end(&opts, starts_at, tz, data.config.meetings.max_series_times)?;
    let remind_minutes = match opts.remind_minutes {
        None => (policy.remind.as_secs() / 60) as u32,
        Some(m) if (0..=7 * 24 * 60).contains(&m) => m as u32,
        Some(m) => {
            return Err(Refusal(format!(
                "`remind` must be between 0 and 10080 minutes; you asked for {m}."
            )))
        }
    };
    if let Some(c) = opts.channel.filter(|_| !valid.private) {
        may_post_in(ctx, c)?;
    }
    let channel_id = opts
        .channel
        .map(|c| c.get())
        .or(policy.announcement_channel)
        .unwrap_or(ctx.channel_id().get());
    let mut seen = Visibility::new(Some(ctx.serenity_context()), &data.rest, facts, guild_id);
    if !valid.private && channel_id != ctx.channel_id().get() {
        bot_may_post(ctx, &mut seen, channel_id).await?;
    }
    // A Discord event is visible to the whole server: for a channel @everyone cannot see (or one whose permissions
    // cannot be read), only when the host asks for it.
    let channel_hidden = !valid.private
        && !seen
            .rules(channel_id)
            .await
            .is_some_and(|r| r.everyone_can_view());
    let discord_event = !valid.private && opts.event.unwrap_or(!channel_hidden);
    let room = {
        let mut rng = rand::thread_rng();
        Room::generate(&mut rng, valid.topic_given.then_some(valid.topic.as_str()))
    };
    let id = {
        let mut rng = rand::thread_rng();
        crate::store::generate_meeting_id(&mut rng)
    };
    let duration_minutes = (valid.duration.as_secs() / 60) as u32;
    let ends_at = starts_at + Duration::minutes(i64::from(duration_minutes));
    let new = NewMeeting {
        id: id.clone(),
        guild_id,
        channel_id,
        host_id: ctx.author().id.get(),
        topic: valid.topic.clone(),
        room: room.as_str().to_string(),
        created_at: now,
        starts_at,
        duration_minutes,
        timezone: tz.name().to_string(),
        repeat: opts.repeat.as_str().to_string(),
        repeat_until,
        remind_minutes: Some(remind_minutes),
        invitee_user_ids: valid.invites.users.clone(),
        invitee_role_ids: valid.invites.roles.clone(),
        private: valid.private,
        discord_event,
    };
    let jobs = crate::schedule::runner::jobs_for(starts_at, ends_at, Some(remind_minutes), now);
    let caps = crate::store::FutureCaps {
        now,
        per_host: data.config.meetings.max_future_per_user,
        per_guild: data.config.meetings.max_future_per_server,
    };
    let stored = data
        .store
        .create_meeting_within(&new, &jobs, &caps)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot store a scheduled meeting");
            Refusal(if e.is_unavailable() {
                "The database is unavailable, so I cannot schedule meetings right now. Nothing was saved; please try again in a few minutes.".into()
            } else {
                "I could not save the meeting; nothing was scheduled. Please try again.".into()
            })
        })?;
    if let Err(counts) = stored {
        return Err(Refusal(render::future_cap_reached(&counts, &caps)));
    }
    data.scheduler_wake.notify_one();
    tracing::info!(guild = guild_id, meeting = %id, starts = %starts_at, repeat = %opts.repeat, "meeting scheduled");

    // The scheduler has no interaction to read the bot's permissions from: remember whether it may create events.
    let mut no_events = false;
    if discord_event {
        let perms = match ctx {
            Context::Application(app) => app.interaction.app_permissions.map(|p| p.bits()),
            _ => None,
        };
        if let Some(p) = perms {
            let allowed = announcement::may_create_events(p);
            if let Err(e) = announcement::record_events_allowed(
                &data.store,
                guild_id,
                allowed,
                ctx.author().id.get(),
                now,
            )
            .await
            {
                tracing::warn!(error = %e, "could not record whether Discord events may be created");
            }
            no_events = !allowed;
        }
    }
    let text = render::scheduled_reply(&ScheduledReply {
        topic: &valid.topic,
        starts_at,
        repeat: (opts.repeat != Repeat::None).then(|| {
            let mut label = opts.repeat.to_string();
            if let Some(last) = repeat_until {
                label.push_str(&render::series_end_label(last, opts.times));
            }
            label
        }),
        private: valid.private,
        channel_id,
        invitees: invitees_count,
        remind_minutes,
        join_window_minutes: policy.join_window.as_secs() / 60,
        meeting_id: &id,
        no_events,
        discord_event,
        channel_hidden,
    });
    reply(ctx, &text).await;
    Ok(())
}
