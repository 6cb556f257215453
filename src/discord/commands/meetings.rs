//! `/meetings`: this server's scheduled meetings — `list` them, `cancel` one (its host or a moderator), and get
//! my own `link` to one once its join window is open.

use super::autocomplete;
use crate::discord::announcement;
use crate::discord::buttons::personal_answer;
use crate::discord::guild::{caller, caller_facts, facts_for_command, guild_facts};
use crate::discord::policy::effective;
use crate::discord::render;
use crate::discord::reply::{answer, Refusal};
use crate::discord::visibility::{visible_meeting, Caller};
use crate::discord::{Context, Error};
use crate::meeting::cancel::{self, Scope, Unchanged};
use crate::schedule::runner::{add_next_occurrence, SchedulerOptions};
use crate::store::MeetingStatus;
use poise::serenity_prelude as serenity;

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

/// Meetings a page of `/meetings list` shows.
const PAGE: u32 = 10;
/// How many upcoming meetings `/meetings list` reads before the access rule picks the caller's.
const LIST_SCAN: u32 = 1000;

/// Upcoming meetings of this server.
#[poise::command(slash_command, guild_only)]
pub async fn list(
    ctx: Context<'_>,
    // The list reads at most LIST_SCAN meetings, so there are never more pages than this.
    #[description = "Page (10 a page)"]
    #[min = 1]
    #[max = 100]
    page: Option<u32>,
) -> Result<(), Error> {
    answer(ctx, async {
        let data = ctx.data();
        let now = data.clock.now();
        let guild = ctx.guild_id().map(|g| g.get()).unwrap_or_default();
        let page = page.unwrap_or(1).max(1);
        // The rule decides per meeting who may see it, so the page is cut after filtering: read a bounded window.
        let rows = data
            .store
            .upcoming(guild, now, LIST_SCAN, 0)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "listing meetings failed");
                Refusal("The database is unavailable; please try again in a moment.".into())
            })?;
        let facts = facts_for_command(ctx, serenity::GuildId::new(guild)).await?;
        let mut caller = Caller::of(ctx, &facts, guild).await;
        let mut visible = Vec::new();
        for row in rows {
            if caller.admits(&row.0).await {
                visible.push(row);
            }
        }
        let skip = (page as usize - 1).saturating_mul(PAGE as usize);
        let rows: Vec<_> = visible
            .into_iter()
            .skip(skip)
            .take(PAGE as usize + 1)
            .collect();
        let live = live_counts(data, guild, &rows, now).await;
        Ok(render::upcoming_page(&rows, &live, page, PAGE))
    })
    .await
}

/// How many are in the call of each listed occurrence that Jitsi reports live (`None` otherwise, or when the
/// server turned live status off). Only counts: the list never names who is in.
async fn live_counts(
    data: &crate::discord::Data,
    guild: u64,
    rows: &[(crate::store::Meeting, crate::store::Occurrence)],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Option<u32>> {
    use crate::meeting::live::{view, LiveState, LiveStatus, LiveTimings};
    if effective(&data.config, &data.store, guild)
        .await
        .live_status
        == LiveStatus::Off
    {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(rows.len());
    for (_, occurrence) in rows.iter().take(PAGE as usize) {
        // A record that cannot be read shows the meeting as it would be without live status.
        let record = data.store.live_record(occurrence.id).await.ok().flatten();
        let v = view(record.as_ref(), occurrence, now, &LiveTimings::default());
        out.push(matches!(v.state, LiveState::Live { .. }).then(|| v.in_call()));
    }
    out
}

/// Cancel a meeting (its host or a moderator).
#[poise::command(slash_command, guild_only)]
pub async fn cancel(
    ctx: Context<'_>,
    #[description = "The meeting"]
    #[autocomplete = "autocomplete::meeting"]
    #[max_length = 100]
    meeting: String,
    #[description = "Only the next occurrence of a repeating meeting"] only_next: Option<bool>,
) -> Result<(), Error> {
    answer(
        ctx,
        cancel_meeting(ctx, &meeting, only_next.unwrap_or(false)),
    )
    .await
}

async fn cancel_meeting(ctx: Context<'_>, id: &str, only_next: bool) -> Result<String, Refusal> {
    let data = ctx.data();
    let guild_id = ctx
        .guild_id()
        .ok_or_else(|| Refusal("Use this in a server.".into()))?;
    let meeting = visible_meeting(ctx, id).await?;
    let facts = guild_facts(ctx.serenity_context(), data, guild_id)
        .await
        .map_err(|_| {
            Refusal("I cannot read this server's roles right now; please try again.".into())
        })?;
    let policy = &effective(&data.config, &data.store, guild_id.get())
        .await
        .guild;
    let caller = ctx.author().id.get();
    let roles = facts.role_infos();
    if !cancel::may_cancel(
        caller,
        meeting.host_id,
        policy.is_moderator(&caller_facts(ctx), &roles),
    ) {
        return Err(Refusal(format!(
            "Only the host (<@{}>) or a moderator ({}) may cancel this meeting.",
            meeting.host_id,
            policy.describe_moderator_roles(&roles)
        )));
    }
    let now = data.clock.now();
    let occurrences = data.store.occurrences(&meeting.id).await.map_err(|_| {
        Refusal("The database is unavailable; please try again in a moment.".into())
    })?;
    let plan = cancel::plan(
        &occurrences,
        now,
        only_next,
        meeting.status == MeetingStatus::Cancelled,
    )
    .map_err(|why| Refusal(render::cancel_unchanged(&meeting.topic, why)))?;
    let nothing_cancelled =
        || Refusal("The database is unavailable; nothing was cancelled.".into());
    // The store's update is the one that counts: of two cancels at once (or on two instances), only the one that
    // changed the row goes on to tell anyone.
    match plan.scope {
        Scope::NextOccurrence => {
            let Some(o) = plan.targets.first() else {
                return Err(Refusal(render::cancel_unchanged(
                    &meeting.topic,
                    Unchanged::NothingLeft,
                )));
            };
            let changed = data
                .store
                .cancel_occurrence(o.id)
                .await
                .map_err(|_| nothing_cancelled())?;
            if !changed {
                return Err(Refusal(render::cancel_unchanged(
                    &meeting.topic,
                    Unchanged::AlreadyCancelled,
                )));
            }
            // The next occurrence is normally added when this one starts; cancelling dropped that start job,
            // so add it here or the series would silently end.
            if let Err(e) = add_next_occurrence(
                &data.store,
                &meeting,
                o.starts_at,
                now,
                SchedulerOptions::default().announce_lead,
            )
            .await
            {
                tracing::warn!(error = %e, meeting = %meeting.id, "could not schedule the occurrence after a cancelled one");
            }
        }
        Scope::Meeting => {
            let changed = data
                .store
                .cancel_meeting(&meeting.id)
                .await
                .map_err(|_| nothing_cancelled())?;
            if changed == 0 {
                return Err(Refusal(render::cancel_unchanged(
                    &meeting.topic,
                    Unchanged::AlreadyCancelled,
                )));
            }
        }
    }
    let mut told = 0;
    for o in &plan.targets {
        told += announcement::announce_cancellation(
            &data.rest,
            &data.store,
            data.config.discord.dm_concurrency,
            data.shutdown.clone(),
            &meeting,
            o,
            now,
        )
        .await;
    }
    tracing::info!(meeting = %meeting.id, by = caller, only_next, occurrences = plan.targets.len(), "meeting cancelled");
    Ok(render::cancelled_reply(&meeting.topic, only_next, told))
}

/// My own link for a meeting, once its join window is open.
#[poise::command(slash_command, guild_only)]
pub async fn link(
    ctx: Context<'_>,
    #[description = "The meeting"]
    #[autocomplete = "autocomplete::meeting"]
    #[max_length = 100]
    meeting: String,
) -> Result<(), Error> {
    answer(ctx, async {
        let data = ctx.data();
        let m = visible_meeting(ctx, &meeting).await?;
        let member = caller(ctx).ok_or_else(|| Refusal("Use this in a server.".into()))?;
        Ok(personal_answer(ctx.serenity_context(), data, &m, ctx.author(), member).await)
    })
    .await
}
