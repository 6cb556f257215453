//! Scheduled meetings on Discord: `/meet when:…`, `/meetings`, the scheduled Join button, and the executor that
//! carries out the scheduler's due work (announce, remind, start, end) with Discord messages, Scheduled Events and DMs.

use super::announcement;
use super::guild::{caller_facts, guild_facts, GuildFacts};
use super::policy::effective;
use super::render::{clip, escape, MAX_CONTENT};
use super::reply::{reply, Refusal};
use super::{Context, Data, Error};
use crate::jitsi::Room;
use crate::meeting::request::ValidRequest;
use crate::meeting::settings::EffectivePolicy;
use crate::schedule::{describe, parse_timezone, parse_when_within, timezone_suggestions, Repeat};
use crate::store::{Meeting, NewMeeting, Occurrence, OccurrenceStatus};
use chrono::Duration;
use chrono_tz::Tz;
use poise::serenity_prelude as serenity;

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

async fn cancel_inner(ctx: Context<'_>, id: &str, only_next: bool) -> Result<String, Refusal> {
    let data = ctx.data();
    let guild_id = ctx
        .guild_id()
        .ok_or_else(|| Refusal("Use this in a server.".into()))?;
    let meeting = find_meeting(data, guild_id.get(), id).await?;
    let facts = guild_facts(ctx.serenity_context(), data, guild_id)
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
    let mut told = 0;
    for o in &targets {
        told += announcement::announce_cancellation(
            &data.rest,
            &data.store,
            data.config.discord.dm_concurrency,
            data.shutdown.clone(),
            &meeting,
            o,
        )
        .await;
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
                    super::buttons::personal_answer(
                        ctx.serenity_context(),
                        data,
                        &m,
                        ctx.author(),
                        &member,
                    )
                    .await
                }
                None => "Use this in a server.".into(),
            }
        }
    };
    reply(ctx, &text).await;
    Ok(())
}
