//! Scheduled meetings on Discord: `/meet when:…`, `/meetings`, the scheduled Join button, and the executor that
//! carries out the scheduler's due work (announce, remind, start, end) with Discord messages, Scheduled Events and DMs.

use super::delivery::{deliver_all_with, Dm, DmOutcome};
use super::meet::{grace, reply, resolve_invitees, GuildFacts, Invitee, Refusal};
use super::policy::{effective, EffectivePolicy};
use super::render::{escape, MAX_CONTENT};
use super::rest::{RestClient, RestError};
use super::settings::{actions, entry as audit_entry, record_audit};
use super::{Context, Data, Error};
use crate::config::Config;
use crate::jitsi::{Grant, Identity, Link, Minter, Room};
use crate::meeting::invite::InviteList;
use crate::meeting::policy::MemberFacts;
use crate::meeting::request::ValidRequest;
use crate::schedule::runner::{ExecError, JobContext};
use crate::schedule::{describe, parse_timezone, parse_when_within, timezone_suggestions, Repeat};
use crate::store::{
    DeliveryScope, Meeting, MeetingStatus, NewMeeting, Occurrence, OccurrenceStatus, Store,
};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use poise::serenity_prelude as serenity;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

/// The Create Events permission bit (Discord added it beside Manage Events, which also allows creating).
const CREATE_EVENTS: u64 = 1 << 44;
/// The Manage Events permission bit.
const MANAGE_EVENTS: u64 = 1 << 33;

/// The guild setting recording whether the bot may create Discord events, as the last `/meet when:` saw it.
const EVENTS_ALLOWED_KEY: &str = "meetbot.events_allowed";

/// Discord Scheduled Event statuses.
const EVENT_ACTIVE: u8 = 2;
const EVENT_COMPLETED: u8 = 3;
const EVENT_CANCELED: u8 = 4;

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
    let choice = if partial.trim().is_empty() {
        serenity::AutocompleteChoice::new(
            "Type a time: 2026-12-01 15:00 · 15:00 · tomorrow 9:30 · in 2h · friday 18:00",
            "",
        )
    } else {
        match parse_when_within(partial, now, tz, max) {
            Ok(at) => serenity::AutocompleteChoice::new(
                clip(&describe(at, tz, now), 100),
                clip(partial, 100),
            ),
            Err(e) => {
                serenity::AutocompleteChoice::new(clip(&format!("⚠ {e}"), 100), clip(partial, 100))
            }
        }
    };
    serenity::CreateAutocompleteResponse::new().set_choices(vec![choice])
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

/// Autocomplete for `timezone`.
pub async fn autocomplete_timezone(
    _ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let choices = timezone_suggestions(partial, 25)
        .into_iter()
        .map(|name| serenity::AutocompleteChoice::new(name, name))
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Autocomplete for a meeting of this server: topic, time and id.
pub async fn autocomplete_meeting(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let data = ctx.data();
    let Some(guild) = ctx.guild_id() else {
        return serenity::CreateAutocompleteResponse::new();
    };
    let now = data.clock.now();
    let found = match data.store.find_meetings(guild.get(), partial, 25).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "meeting autocomplete: database unavailable");
            return serenity::CreateAutocompleteResponse::new().set_choices(vec![
                // Discord rejects a choice whose value is empty (1 to 100 characters), which hid this message;
                // "-" is no meeting id, so picking it is answered as an unknown meeting.
                serenity::AutocompleteChoice::new(
                    "The database is unavailable; try again in a moment",
                    "-",
                ),
            ]);
        }
    };
    let choices = found
        .into_iter()
        .map(|m| {
            let tz = m.timezone.parse::<Tz>().unwrap_or(chrono_tz::UTC);
            let label = format!("{} — {}", m.topic, describe(m.starts_at, tz, now));
            serenity::AutocompleteChoice::new(clip(&label, 100), m.id)
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
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

/// `/meet when:…`: stores the meeting with its due work; the scheduler announces it at once.
pub(crate) async fn schedule_meeting(
    ctx: Context<'_>,
    valid: ValidRequest,
    opts: ScheduleOptions,
    facts: &GuildFacts,
    invitees_count: usize,
    policy: &EffectivePolicy,
) -> Result<(), Refusal> {
    let data = ctx.data();
    let now = data.clock.now();
    let guild_id = ctx.guild_id().map(|g| g.get()).unwrap_or_default();
    let tz = zone_for(policy.default_timezone, opts.timezone.as_deref())?;
    let max = Duration::from_std(data.config.meetings.max_ahead).unwrap_or(Duration::days(366));
    let starts_at = parse_when_within(&opts.when, now, tz, max)?;
    let remind_minutes = match opts.remind_minutes {
        None => (policy.remind.as_secs() / 60) as u32,
        Some(m) if (0..=7 * 24 * 60).contains(&m) => m as u32,
        Some(m) => {
            return Err(Refusal(format!(
                "`remind` must be between 0 and 10080 minutes; you asked for {m}."
            )))
        }
    };
    if let Some(c) = opts.channel {
        may_post_in(ctx, c)?;
    }
    let channel_id = opts
        .channel
        .map(|c| c.get())
        .or(policy.announcement_channel)
        .unwrap_or(ctx.channel_id().get());
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
        remind_minutes: Some(remind_minutes),
        invitee_user_ids: valid.invites.users.clone(),
        invitee_role_ids: valid.invites.roles.clone(),
        private: valid.private,
    };
    let jobs = crate::schedule::runner::jobs_for(starts_at, ends_at, Some(remind_minutes), now);
    data.store.create_meeting(&new, &jobs).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot store a scheduled meeting");
        Refusal(if e.is_unavailable() {
            "The database is unavailable, so I cannot schedule meetings right now. Nothing was saved; please try again in a few minutes.".into()
        } else {
            "I could not save the meeting; nothing was scheduled. Please try again.".into()
        })
    })?;
    data.scheduler_wake.notify_one();
    tracing::info!(guild = guild_id, meeting = %id, starts = %starts_at, repeat = %opts.repeat, "meeting scheduled");

    let mut text = format!(
        "Scheduled **{}** for <t:{ts}:F> (<t:{ts}:R>){}.\n",
        escape(&valid.topic),
        if opts.repeat == Repeat::None {
            String::new()
        } else {
            format!(", repeating {}", opts.repeat)
        },
        ts = starts_at.timestamp()
    );
    if valid.private {
        text.push_str("It is private: no announcement; ");
    } else {
        text.push_str(&format!("The announcement goes to <#{channel_id}>; "));
    }
    text.push_str(&format!(
        "{} invitee{} get their personal link by DM {}.\nLinks open {} minutes before the start. Meeting id: `{id}`.",
        invitees_count,
        if invitees_count == 1 { "" } else { "s" },
        if remind_minutes == 0 {
            "at the start".to_string()
        } else {
            format!("{remind_minutes} minutes before")
        },
        policy.join_window.as_secs() / 60,
    ));
    if !valid.private {
        let perms = match ctx {
            Context::Application(app) => app.interaction.app_permissions.map(|p| p.bits()),
            _ => None,
        };
        if let Some(p) = perms {
            let allowed = p & (CREATE_EVENTS | MANAGE_EVENTS | 1 << 3) != 0;
            // The scheduler has no interaction to read permissions from; without this it would learn of a
            // missing permission only from a 403, and Discord counts those toward banning the bot's IP.
            if let Err(e) = data
                .store
                .set_setting(
                    guild_id,
                    EVENTS_ALLOWED_KEY,
                    &json!(allowed),
                    ctx.author().id.get(),
                    now,
                )
                .await
            {
                tracing::warn!(error = %e, "could not record whether Discord events may be created");
            }
            if !allowed {
                text.push_str("\nNote: I lack the **Create Events** permission, so there will be no Discord event for it (the announcement still goes out).");
            }
        }
    }
    let _ = facts;
    reply(ctx, &text).await;
    Ok(())
}

/// Manage this server's scheduled meetings.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("list", "cancel", "link"),
    subcommand_required
)]
pub async fn meetings(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

const PAGE: u32 = 10;

/// Upcoming meetings of this server.
#[poise::command(slash_command, guild_only)]
pub async fn list(
    ctx: Context<'_>,
    #[description = "Page (10 a page)"] page: Option<u32>,
) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    let data = ctx.data();
    let now = data.clock.now();
    let guild = ctx.guild_id().map(|g| g.get()).unwrap_or_default();
    let page = page.unwrap_or(1).max(1);
    let text = match data
        .store
        .upcoming(guild, now, PAGE + 1, (page - 1) * PAGE)
        .await
    {
        Err(e) => {
            tracing::warn!(error = %e, "listing meetings failed");
            "The database is unavailable; please try again in a moment.".to_string()
        }
        Ok(rows) if rows.is_empty() && page == 1 => {
            "No upcoming meetings. Schedule one with `/meet when:…`.".into()
        }
        Ok(rows) if rows.is_empty() => format!("There is no page {page}."),
        Ok(rows) => {
            let more = rows.len() > PAGE as usize;
            let mut s = format!("**Upcoming meetings** (page {page})\n");
            for (m, o) in rows.iter().take(PAGE as usize) {
                let line = format!(
                    "• **{}** — <t:{}:F> (<t:{}:R>){}{} · host <@{}> · `{}`\n",
                    escape(&m.topic),
                    o.starts_at.timestamp(),
                    o.starts_at.timestamp(),
                    if m.repeat != "none" {
                        format!(" · {}", m.repeat)
                    } else {
                        String::new()
                    },
                    if o.status == OccurrenceStatus::Started {
                        " · **now**"
                    } else {
                        ""
                    },
                    m.host_id,
                    m.id
                );
                if s.len() + line.len() > MAX_CONTENT - 60 {
                    break;
                }
                s.push_str(&line);
            }
            if more {
                s.push_str(&format!("More: `/meetings list page:{}`", page + 1));
            }
            s
        }
    };
    reply(ctx, &text).await;
    Ok(())
}

/// Cancel a meeting (its host or a moderator).
#[poise::command(slash_command, guild_only)]
pub async fn cancel(
    ctx: Context<'_>,
    #[description = "The meeting"]
    #[autocomplete = "autocomplete_meeting"]
    meeting: String,
    #[description = "Only the next occurrence of a repeating meeting"] only_next: Option<bool>,
) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    let text = match cancel_inner(ctx, &meeting, only_next.unwrap_or(false)).await {
        Ok(t) => t,
        Err(Refusal(t)) => t,
    };
    reply(ctx, &text).await;
    Ok(())
}

async fn find_meeting(data: &Data, guild: u64, id: &str) -> Result<Meeting, Refusal> {
    match data.store.meeting(id.trim()).await {
        Ok(Some(m)) if m.guild_id == guild => Ok(m),
        Ok(_) => Err(Refusal(
            "I know no such meeting in this server. Pick one from the list as you type.".into(),
        )),
        Err(e) if e.is_unavailable() => Err(Refusal(
            "The database is unavailable; please try again in a moment.".into(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "reading a meeting failed");
            Err(Refusal(
                "I could not read that meeting; please try again.".into(),
            ))
        }
    }
}

fn caller_facts(ctx: Context<'_>) -> MemberFacts {
    match ctx {
        Context::Application(app) => app
            .interaction
            .member
            .as_ref()
            .map(|m| MemberFacts {
                role_ids: m.roles.iter().map(|r| r.get()).collect(),
                is_administrator: m.permissions.is_some_and(|p| p.administrator()),
            })
            .unwrap_or_default(),
        _ => MemberFacts::default(),
    }
}

async fn cancel_inner(ctx: Context<'_>, id: &str, only_next: bool) -> Result<String, Refusal> {
    let data = ctx.data();
    let guild_id = ctx
        .guild_id()
        .ok_or_else(|| Refusal("Use this in a server.".into()))?;
    let meeting = find_meeting(data, guild_id.get(), id).await?;
    let facts = super::meet::guild_facts(ctx.serenity_context(), data, guild_id)
        .await
        .map_err(|_| {
            Refusal("I cannot read this server's roles right now; please try again.".into())
        })?;
    let policy = &effective(&data.config, &data.store, guild_id.get())
        .await
        .guild;
    let caller = ctx.author().id.get();
    if caller != meeting.host_id && !policy.is_moderator(&caller_facts(ctx), &facts.role_infos()) {
        return Err(Refusal(format!(
            "Only the host (<@{}>) or a moderator ({}) may cancel this meeting.",
            meeting.host_id,
            policy.describe_moderator_roles(&facts.role_infos())
        )));
    }
    let now = data.clock.now();
    let occurrences = data.store.occurrences(&meeting.id).await.map_err(|_| {
        Refusal("The database is unavailable; please try again in a moment.".into())
    })?;
    let pending: Vec<Occurrence> = occurrences
        .into_iter()
        .filter(|o| {
            matches!(
                o.status,
                OccurrenceStatus::Scheduled | OccurrenceStatus::Started
            ) && o.ends_at > now
        })
        .collect();
    let targets: Vec<Occurrence> = if only_next {
        pending.into_iter().take(1).collect()
    } else {
        pending
    };
    if only_next {
        if let Some(o) = targets.first() {
            data.store.cancel_occurrence(o.id).await.map_err(|_| {
                Refusal("The database is unavailable; nothing was cancelled.".into())
            })?;
            // The next occurrence is normally added when this one starts; cancelling dropped that start job,
            // so add it here or the series would silently end.
            if let Err(e) = crate::schedule::runner::add_next_occurrence(
                &data.store,
                &meeting,
                o.starts_at,
                now,
                crate::schedule::runner::SchedulerOptions::default().announce_lead,
            )
            .await
            {
                tracing::warn!(error = %e, meeting = %meeting.id, "could not schedule the occurrence after a cancelled one");
            }
        }
    } else {
        data.store
            .cancel_meeting(&meeting.id)
            .await
            .map_err(|_| Refusal("The database is unavailable; nothing was cancelled.".into()))?;
    }
    let exec = DiscordExecutor::from_data(data);
    let mut told = 0;
    for o in &targets {
        told += exec.announce_cancellation(&meeting, o).await;
    }
    tracing::info!(meeting = %meeting.id, by = caller, only_next, occurrences = targets.len(), "meeting cancelled");
    Ok(format!(
        "Cancelled **{}**{}. {}",
        escape(&meeting.topic),
        if only_next {
            " (the next occurrence only)"
        } else {
            ""
        },
        if told > 0 {
            format!(
                "{told} invitee{} who already had a link were told.",
                if told == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    ))
}

/// My own link for a meeting, once its join window is open.
#[poise::command(slash_command, guild_only)]
pub async fn link(
    ctx: Context<'_>,
    #[description = "The meeting"]
    #[autocomplete = "autocomplete_meeting"]
    meeting: String,
) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    let data = ctx.data();
    let guild_id = ctx.guild_id().map(|g| g.get()).unwrap_or_default();
    let text = match find_meeting(data, guild_id, &meeting).await {
        Err(Refusal(t)) => t,
        Ok(m) => {
            let member = match ctx {
                Context::Application(app) => app.interaction.member.clone(),
                _ => None,
            };
            match member {
                Some(member) => {
                    personal_reply(ctx.serenity_context(), data, &m, ctx.author(), &member).await
                }
                None => "Use this in a server.".into(),
            }
        }
    };
    reply(ctx, &text).await;
    Ok(())
}

/// The custom_id of a scheduled meeting's Join button. Meeting ids are random and unguessable, and the click is
/// checked against the stored meeting, so no signature is needed.
pub fn join_custom_id(meeting_id: &str) -> String {
    format!("mm1:{meeting_id}")
}

/// A click on a scheduled meeting's Join button.
pub async fn on_join_click(
    sctx: &serenity::Context,
    data: &Data,
    click: &serenity::ComponentInteraction,
) -> Result<(), Error> {
    let id = click.data.custom_id.trim_start_matches("mm1:");
    let guild = click.guild_id.map(|g| g.get()).unwrap_or_default();
    let content = match (find_meeting(data, guild, id).await, click.member.as_ref()) {
        (Err(Refusal(t)), _) => t,
        (Ok(_), None) => "Join works inside the server.".into(),
        (Ok(m), Some(member)) => personal_reply(sctx, data, &m, &click.user, member).await,
    };
    click
        .create_response(
            sctx,
            serenity::CreateInteractionResponse::Message(
                serenity::CreateInteractionResponseMessage::new()
                    .content(content)
                    .ephemeral(true)
                    // The reply names the meeting's topic, which may hold mentions: ping nobody.
                    .allowed_mentions(serenity::CreateAllowedMentions::new()),
            ),
        )
        .await?;
    Ok(())
}

/// The occurrence a link should be for now: the running one, else the next one.
fn current_occurrence(
    occurrences: &[Occurrence],
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<&Occurrence> {
    occurrences
        .iter()
        .filter(|o| {
            matches!(
                o.status,
                OccurrenceStatus::Scheduled | OccurrenceStatus::Started
            ) && o.ends_at + grace > now
        })
        .min_by_key(|o| o.starts_at)
}

/// The text of an ephemeral answer with the person's own link for a scheduled meeting, or why not yet.
async fn personal_reply(
    sctx: &serenity::Context,
    data: &Data,
    m: &Meeting,
    user: &serenity::User,
    member: &serenity::Member,
) -> String {
    let now = data.clock.now();
    if m.status == MeetingStatus::Cancelled {
        return "This meeting was cancelled.".into();
    }
    let occurrences = match data.store.occurrences(&m.id).await {
        Ok(o) => o,
        Err(_) => return "The database is unavailable; please try again in a moment.".into(),
    };
    let Some(occ) = current_occurrence(&occurrences, now, grace(data)).cloned() else {
        return "This meeting has ended.".into();
    };
    let server = effective(&data.config, &data.store, m.guild_id).await;
    let window = Duration::from_std(server.join_window).unwrap_or(Duration::minutes(10));
    let opens = occ.starts_at - window;
    if now < opens {
        return format!(
            "Links for **{}** open <t:{}:R> (<t:{}:t>), {} minutes before the start. Come back then.",
            escape(&m.topic),
            opens.timestamp(),
            opens.timestamp(),
            window.num_minutes()
        );
    }
    let guild_id = serenity::GuildId::new(m.guild_id);
    let facts = super::meet::guild_facts(sctx, data, guild_id).await.ok();
    let roles = facts.as_ref().map(|f| f.role_infos()).unwrap_or_default();
    let policy = &server.guild;
    let mf = MemberFacts {
        role_ids: member.roles.iter().map(|r| r.get()).collect(),
        is_administrator: member.permissions.is_some_and(|p| p.administrator()),
    };
    let moderator = policy.is_moderator(&mf, &roles);
    if m.private
        && user.id.get() != m.host_id
        && !moderator
        && !m.invitee_user_ids.contains(&user.id.get())
        && !mf.role_ids.iter().any(|r| m.invitee_role_ids.contains(r))
    {
        return "This meeting is private: only the people invited can join.".into();
    }
    let who = Invitee {
        user_id: user.id.get(),
        name: member
            .nick
            .clone()
            .or_else(|| user.global_name.clone())
            .unwrap_or_else(|| user.name.clone()),
        avatar: Some(user.face()),
        moderator,
    };
    let exec = DiscordExecutor::from_data(data);
    match exec.link_for(m, &occ, &who, &server) {
        Ok(link) => {
            exec.audit_link(
                m,
                &who,
                &server,
                who.user_id,
                "/meetings link or the Join button",
                occ.ends_at + grace(data),
            )
            .await;
            format!(
            "Your personal link for **{}** (<t:{}:F>, works until <t:{}:t>). You join as {}.\n**[Open your personal meeting link](<{}>)** — it is yours alone.",
            escape(&m.topic),
            occ.starts_at.timestamp(),
            (occ.ends_at + grace(data)).timestamp(),
            if moderator { "a **moderator**" } else { "a participant" },
            link.expose()
        )
        }
        Err(e) => {
            tracing::error!(error = %e, "minting failed");
            "I could not create your link; the bot's Jitsi settings need attention (`meetbot check`).".into()
        }
    }
}

/// Carries out due work on Discord. Cheap to build: everything inside is shared.
#[derive(Clone)]
pub struct DiscordExecutor {
    rest: Arc<RestClient>,
    store: Store,
    minter: Arc<Minter>,
    config: Arc<Config>,
    clock: crate::clock::SharedClock,
    shutdown: tokio::sync::watch::Receiver<bool>,
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
        minter: Arc<Minter>,
        config: Arc<Config>,
        clock: crate::clock::SharedClock,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> DiscordExecutor {
        DiscordExecutor {
            rest,
            store,
            minter,
            config,
            clock,
            shutdown,
        }
    }

    /// Builds the executor from the bot's shared state.
    pub fn from_data(data: &Data) -> DiscordExecutor {
        DiscordExecutor {
            rest: data.rest.clone(),
            store: data.store.clone(),
            minter: data.minter.clone(),
            config: data.config.clone(),
            clock: data.clock.clone(),
            shutdown: data.shutdown.clone(),
        }
    }

    fn grace(&self) -> Duration {
        Duration::from_std(self.config.meetings.grace).unwrap_or(Duration::minutes(15))
    }

    /// Records a moderator link in the audit trail (member links are not recorded).
    async fn audit_link(
        &self,
        m: &Meeting,
        who: &Invitee,
        server: &EffectivePolicy,
        actor: u64,
        via: &str,
        until: DateTime<Utc>,
    ) {
        if !who.moderator {
            return;
        }
        let user = who.user_id;
        record_audit(
            &self.rest,
            &self.store,
            server.audit_channel,
            audit_entry(
                m.guild_id,
                self.clock.now(),
                actor,
                actions::MODERATOR_LINK,
                Some(&m.id),
                user.to_string(),
                format!(
                    "issued a moderator link to <@{user}> via {via}, valid until <t:{}:f>",
                    until.timestamp()
                ),
            ),
        )
        .await;
    }

    /// A personal link for one occurrence: usable from the join window's opening to the end plus grace.
    fn link_for(
        &self,
        m: &Meeting,
        occ: &Occurrence,
        who: &Invitee,
        server: &EffectivePolicy,
    ) -> Result<Link, crate::jitsi::TokenError> {
        let room = Room::from_normalized(m.room.clone())
            .map_err(|e| crate::jitsi::TokenError::Setting(e.to_string()))?;
        let identity = Identity {
            id: who.user_id.to_string(),
            name: who.name.clone(),
            avatar: who.avatar.clone(),
            email: None,
        };
        let window = Duration::from_std(server.join_window).unwrap_or(Duration::minutes(10));
        // Never earlier than the window, even in a reminder sent before it opens: the DM says when the link
        // starts working, and the join window is the meeting's promise to everyone else.
        let opens = occ.starts_at - window;
        let minter = server.minter(&self.minter);
        let mut grant = Grant::new(
            room.clone(),
            identity,
            who.moderator,
            opens,
            minter.settings(),
        );
        grant.expires_at = occ.ends_at + self.grace();
        let minted = minter.mint(&grant)?;
        let name = minter
            .settings()
            .prefill_display_name
            .then_some(who.name.as_str());
        Ok(minter.link(&room, &minted.token, name))
    }

    fn announcement_body(&self, m: &Meeting, occ: &Occurrence, state: &str) -> Value {
        let headline = format!(
            "📅 **{}** — hosted by <@{}>\n<t:{s}:F> (<t:{s}:R>) until <t:{e}:t>{}",
            escape(&m.topic),
            m.host_id,
            if m.repeat != "none" {
                format!(" · repeats {}", m.repeat)
            } else {
                String::new()
            },
            s = occ.starts_at.timestamp(),
            e = occ.ends_at.timestamp(),
        );
        // Cancelled and ended meetings lose their Join button.
        let open = !state.starts_with('❌') && !state.starts_with('🏁');
        super::render::public_post(
            &headline,
            &m.invitee_user_ids,
            &m.invitee_role_ids,
            state,
            open.then(|| join_custom_id(&m.id)).as_deref(),
        )
    }

    fn window_text(&self, occ: &Occurrence, join_window: std::time::Duration) -> String {
        let window = Duration::from_std(join_window).unwrap_or(Duration::minutes(10));
        format!(
            "Press **Join** for your own personal link; links open <t:{}:R>.",
            (occ.starts_at - window).timestamp()
        )
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
        if occ.announcement_message_id.is_none() {
            let state = if now >= occ.starts_at {
                format!(
                    "🟢 Started {} minutes ago. Press **Join** for your own personal link.",
                    (now - occ.starts_at).num_minutes()
                )
            } else {
                let server = effective(&self.config, &self.store, m.guild_id).await;
                self.window_text(occ, server.join_window)
            };
            let msg = self
                .rest
                .send_message(m.channel_id, &self.announcement_body(m, occ, &state))
                .await
                .map_err(classify)?;
            self.store
                .set_announcement(occ.id, msg)
                .await
                .map_err(|e| ExecError::Transient(e.to_string()))?;
        }
        if occ.discord_event_id.is_none() && now < occ.ends_at && self.events_allowed(m).await {
            let body = json!({
                "name": clip(&m.topic, 100),
                "privacy_level": 2,
                "scheduled_start_time": occ.starts_at.max(now + Duration::seconds(5)).to_rfc3339(),
                "scheduled_end_time": occ.ends_at.to_rfc3339(),
                "description": "Video meeting hosted by meetbot. Use the Join button in the announcement for your personal link.",
                "entity_type": 3,
                "entity_metadata": { "location": clip(self.minter.room_url(&Room::from_normalized(m.room.clone()).unwrap_or_else(|_| Room::from_user_input("meeting").expect("fixed name"))).as_str(), 100) },
            });
            match self
                .rest
                .request(
                    Method::POST,
                    &format!("/guilds/{}/scheduled-events", m.guild_id),
                    Some(&body),
                )
                .await
            {
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
                    if let Err(e) = self
                        .store
                        .set_setting(
                            m.guild_id,
                            EVENTS_ALLOWED_KEY,
                            &json!(false),
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
        }
        Ok(())
    }

    /// Whether the guild let the bot create events when last seen (unknown counts as yes: Discord then says).
    async fn events_allowed(&self, m: &Meeting) -> bool {
        match self.store.setting(m.guild_id, EVENTS_ALLOWED_KEY).await {
            Ok(Some(Value::Bool(false))) => {
                tracing::info!(guild = m.guild_id, meeting = %m.id, "no permission to create a Discord event; skipped");
                false
            }
            _ => true,
        }
    }

    /// DMs every invitee and every Interested user their own link (once per occurrence), and posts a note.
    async fn remind_now(&self, m: &Meeting, occ: &Occurrence) -> Result<(), ExecError> {
        let now = self.clock.now();
        let facts = self.guild_facts(m.guild_id).await.map_err(classify)?;
        let server = effective(&self.config, &self.store, m.guild_id).await;
        let policy = server.guild.clone();
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
        let resolve = |invites: InviteList| {
            let policy = &policy;
            let facts = &facts;
            async move {
                resolve_invitees(
                    &self.rest,
                    m.guild_id,
                    facts,
                    policy,
                    &invites,
                    m.host_id,
                    usize::MAX,
                )
                .await
            }
        };
        let (mut invitees, _not_members) = match resolve(invites.clone()).await {
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
        // The cap was checked when the meeting was scheduled, but an invited role can grow since, and a repeating
        // meeting re-reads it for every occurrence: without this, the cap would not bound what the bot DMs.
        let cap = policy.invitee_cap;
        if invitees.len() > cap {
            tracing::warn!(meeting = %m.id, invited = invitees.len(), cap, "more invitees than the cap; reminding only the first ones, the rest can use the Join button");
            invitees.truncate(cap);
        }
        // The host gets their link too: they are the first person the meeting needs.
        if let Ok(Some(host)) = self.rest.get_member(m.guild_id, m.host_id).await {
            invitees.push(super::meet::invitee_from_member(
                &host,
                m.guild_id,
                &facts,
                &policy,
                &facts.role_infos(),
            ));
        }
        if let Some(event) = occ.discord_event_id {
            for user in self
                .interested_users(m.guild_id, event)
                .await
                .unwrap_or_default()
            {
                if invitees.iter().any(|i| i.user_id == user) {
                    continue;
                }
                if let Ok(Some(member)) = self.rest.get_member(m.guild_id, user).await {
                    if !member.bot {
                        invitees.push(super::meet::invitee_from_member(
                            &member,
                            m.guild_id,
                            &facts,
                            &policy,
                            &facts.role_infos(),
                        ));
                    }
                }
            }
        }
        let scope = DeliveryScope::Occurrence(occ.id);
        let mut dms = Vec::new();
        for inv in &invitees {
            // Claimed before sending: a crash after this point never leads to a second DM.
            match self.store.claim_delivery(&scope, inv.user_id, now).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Err(ExecError::Transient(e.to_string())),
            }
            let link = self
                .link_for(m, occ, inv, &server)
                .map_err(|e| ExecError::Permanent(e.to_string()))?;
            self.audit_link(
                m,
                inv,
                &server,
                m.host_id,
                "a reminder DM",
                occ.ends_at + self.grace(),
            )
            .await;
            dms.push(Dm {
                user_id: inv.user_id,
                body: reminder_dm(
                    m,
                    occ,
                    &facts.name,
                    &link,
                    inv.moderator,
                    server.join_window,
                ),
            });
        }
        let store = self.store.clone();
        let mut records = Vec::new();
        let outcomes = deliver_all_with(
            &self.rest,
            dms,
            self.config.discord.dm_concurrency,
            self.shutdown.clone(),
            |user, outcome| {
                records.push((user, outcome.clone()));
            },
        )
        .await;
        let _ = outcomes;
        for (user, outcome) in records {
            let r = match &outcome {
                DmOutcome::Delivered { .. } => store.mark_delivered(&scope, user, now).await,
                other => store.mark_failed(&scope, user, other.kind(), now).await,
            };
            if let Err(e) = r {
                tracing::warn!(error = %e, user, "could not record a delivery");
            }
        }
        // A rerun (the first run's completion was lost) must not post the note again; the DMs above are
        // guarded per user by claim_delivery.
        if !m.private && occ.reminded_at.is_none() {
            let note = json!({
                "content": format!("⏰ **{}** starts <t:{}:R>. Invitees have their links by DM; everyone else can press **Join** on the announcement.", escape(&m.topic), occ.starts_at.timestamp()),
                "allowed_mentions": { "parse": [] },
            });
            if let Err(e) = self.rest.send_message(m.channel_id, &note).await {
                tracing::warn!(error = %e, meeting = %m.id, "could not post the starting note");
            }
        }
        self.store
            .set_reminded(occ.id, now)
            .await
            .map_err(|e| ExecError::Transient(e.to_string()))?;
        Ok(())
    }

    async fn guild_facts(&self, guild_id: u64) -> Result<GuildFacts, RestError> {
        super::meet::guild_facts_rest(&self.rest, guild_id).await
    }

    async fn interested_users(&self, guild: u64, event: u64) -> Result<Vec<u64>, RestError> {
        let mut out = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let path = match after {
                Some(a) => {
                    format!("/guilds/{guild}/scheduled-events/{event}/users?limit=100&after={a}")
                }
                None => format!("/guilds/{guild}/scheduled-events/{event}/users?limit=100"),
            };
            let page = self.rest.request(Method::GET, &path, None).await?;
            let ids: Vec<u64> = page
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u["user"]["id"].as_str().and_then(|s| s.parse().ok()))
                        .collect()
                })
                .unwrap_or_default();
            let n = ids.len();
            after = ids.iter().max().copied();
            out.extend(ids);
            if n < 100 || out.len() >= 10_000 {
                return Ok(out);
            }
        }
    }

    async fn set_event_status(&self, m: &Meeting, occ: &Occurrence, status: u8) {
        if let Some(event) = occ.discord_event_id {
            let body = json!({ "status": status });
            if let Err(e) = self
                .rest
                .request(
                    Method::PATCH,
                    &format!("/guilds/{}/scheduled-events/{event}", m.guild_id),
                    Some(&body),
                )
                .await
            {
                tracing::warn!(error = %e, meeting = %m.id, status, "could not update the Discord event");
            }
        }
    }

    async fn edit_announcement(&self, m: &Meeting, occ: &Occurrence, state: &str) {
        if let Some(msg) = occ.announcement_message_id {
            if let Err(e) = self
                .rest
                .edit_message(m.channel_id, msg, &self.announcement_body(m, occ, state))
                .await
            {
                tracing::warn!(error = %e, meeting = %m.id, "could not edit the announcement");
            }
        }
    }

    /// The meeting starts: the event goes ACTIVE and the announcement says so.
    async fn start_now(&self, m: &Meeting, occ: &Occurrence) -> Result<(), ExecError> {
        self.set_event_status(m, occ, EVENT_ACTIVE).await;
        self.edit_announcement(
            m,
            occ,
            &format!(
                "🟢 Started <t:{}:R>. Press **Join** for your own personal link.",
                occ.starts_at.timestamp()
            ),
        )
        .await;
        Ok(())
    }

    /// The meeting ends: the event COMPLETED, the announcement says it ended (no Join button).
    async fn end_now(&self, m: &Meeting, occ: &Occurrence) -> Result<(), ExecError> {
        if occ.status == OccurrenceStatus::Scheduled {
            // The start was missed (the bot was down): Discord completes only an ACTIVE event, and the meeting's
            // time did happen with working links, so it ends rather than being marked cancelled.
            self.set_event_status(m, occ, EVENT_ACTIVE).await;
        }
        self.set_event_status(m, occ, EVENT_COMPLETED).await;
        self.edit_announcement(
            m,
            occ,
            &format!("🏁 Ended <t:{}:R>.", occ.ends_at.timestamp()),
        )
        .await;
        Ok(())
    }

    /// Cancellation: the event cancelled (or completed if it had started), the announcement edited, and everyone
    /// who already got a link told. Returns how many were told.
    pub async fn announce_cancellation(&self, m: &Meeting, occ: &Occurrence) -> usize {
        let status = if occ.status == OccurrenceStatus::Started {
            EVENT_COMPLETED
        } else {
            EVENT_CANCELED
        };
        self.set_event_status(m, occ, status).await;
        self.edit_announcement(m, occ, "❌ Cancelled.").await;
        let delivered: Vec<u64> = match self
            .store
            .deliveries(&DeliveryScope::Occurrence(occ.id))
            .await
        {
            Ok(d) => d
                .into_iter()
                .filter(|d| d.status == crate::store::DeliveryStatus::Delivered)
                .map(|d| d.user_id)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read deliveries to announce a cancellation");
                Vec::new()
            }
        };
        let dms: Vec<Dm> = delivered
            .iter()
            .map(|u| Dm {
                user_id: *u,
                body: json!({
                    "content": format!("❌ **{}** (<t:{}:F>) was cancelled. The link you got for it no longer matters.", escape(&m.topic), occ.starts_at.timestamp()),
                    "allowed_mentions": { "parse": [] },
                }),
            })
            .collect();
        let out = super::delivery::deliver_all(
            &self.rest,
            dms,
            self.config.discord.dm_concurrency,
            self.shutdown.clone(),
        )
        .await;
        out.iter()
            .filter(|(_, o)| matches!(o, DmOutcome::Delivered { .. }))
            .count()
    }
}

fn reminder_dm(
    m: &Meeting,
    occ: &Occurrence,
    guild: &str,
    link: &Link,
    moderator: bool,
    window: std::time::Duration,
) -> Value {
    let opens = occ.starts_at - Duration::from_std(window).unwrap_or(Duration::minutes(10));
    let content = format!(
        "**{}** on **{}** starts <t:{s}:R> (<t:{s}:t>) and runs until <t:{e}:t>.\nYou join as {}. The link works from <t:{o}:t>.\n**[Open your personal meeting link](<{}>)**\n-# This link is yours alone: it carries your name and your role. Don't forward it.",
        escape(&m.topic),
        escape(guild),
        if moderator { "a **moderator**" } else { "a participant" },
        link.expose(),
        s = occ.starts_at.timestamp(),
        e = occ.ends_at.timestamp(),
        o = opens.timestamp(),
    );
    json!({ "content": content, "allowed_mentions": { "parse": [] } })
}

#[async_trait::async_trait]
impl crate::schedule::runner::Executor for DiscordExecutor {
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
        _lateness: JobContext,
    ) -> Result<(), ExecError> {
        self.remind_now(meeting, occurrence).await
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
