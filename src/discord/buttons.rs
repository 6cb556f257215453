//! Join clicks, on an immediate meeting's announcement (the signed button) and on a scheduled one's (the stored
//! meeting), and `/meetings link`, which asks the same question: the one place that decides who gets which link.
//! The decision is the core's (`meeting::join`, `meeting::access`); this room gathers the facts and answers.

use super::audit::{self, LinkIssued};
use super::custom_ids::{JoinTarget, Refused};
use super::guild::{guild_facts, invitee_of, member_facts};
use super::links::{self, grace};
use super::policy::effective;
use super::render;
use super::reply::{ack_observed, edit, ephemeral, Refusal};
use super::stored::find_meeting;
use super::visibility::Visibility;
use super::{Data, Error};
use crate::jitsi::Room;
use crate::meeting::access::{may_join, Access, MeetingAccess, Viewer};
use crate::meeting::join::{self, NoLink};
use crate::store::{Meeting, MeetingStatus};
use chrono::Duration;
use poise::serenity_prelude as serenity;

/// How long a click's answer may take before the click is deferred (Discord allows 3 seconds for the first
/// response; the rest covers the network).
pub const ANSWER_BUDGET: std::time::Duration = std::time::Duration::from_millis(2000);

/// Answers a click with what `work` yields: at once when it is ready within [`ANSWER_BUDGET`], else the click is
/// deferred (ephemeral) first and the answer follows as an edit, so Discord's 3-second deadline always holds.
async fn answer_within(
    sctx: &serenity::Context,
    click: &serenity::ComponentInteraction,
    work: impl std::future::Future<Output = Result<String, Error>>,
) -> Result<(), Error> {
    tokio::pin!(work);
    let kind = crate::metrics::InteractionKind::Component;
    match tokio::time::timeout(ANSWER_BUDGET, &mut work).await {
        Ok(content) => {
            click.create_response(sctx, ephemeral(&content?)).await?;
            ack_observed(kind, click.id.get());
        }
        Err(_) => {
            let defer = serenity::CreateInteractionResponse::Defer(
                serenity::CreateInteractionResponseMessage::new().ephemeral(true),
            );
            click.create_response(sctx, defer).await?;
            ack_observed(kind, click.id.get());
            let content = work.await?;
            click.edit_response(sctx, edit(&content)).await?;
        }
    }
    Ok(())
}

/// A click on an immediate meeting's Join button: the clicker's own link, moderator by their own roles.
pub async fn on_immediate_click(
    sctx: &serenity::Context,
    data: &Data,
    click: &serenity::ComponentInteraction,
) -> Result<(), Error> {
    answer_within(sctx, click, immediate_answer(sctx, data, click)).await
}

/// What a click on an immediate meeting's Join button is answered with.
async fn immediate_answer(
    sctx: &serenity::Context,
    data: &Data,
    click: &serenity::ComponentInteraction,
) -> Result<String, Error> {
    let now = data.clock.now();
    // The signature covers the server the button was posted in: checked against the server of the click.
    let clicked_in = click.guild_id.map(|g| g.get()).unwrap_or_default();
    let target = match data.join_signer.parse(&click.data.custom_id, clicked_in) {
        Ok(t) => t,
        Err(why) => {
            return Ok(match why {
                Refused::OldFormat => "This Join button is from an older version of the bot and no longer works. Ask the host to start the meeting again, or use `/meetings link` if it was saved.",
                Refused::Invalid => "This button is not valid any more.",
            }
            .into())
        }
    };
    let validity = match join::immediate(target.ends_at, now, grace(&data.config)) {
        Ok(v) => v,
        Err(why) => return Ok(render::no_link("", &why)),
    };
    let (Some(guild_id), Some(member)) = (click.guild_id, click.member.as_ref()) else {
        return Ok("Join works inside the server.".into());
    };
    let JoinTarget { room, ends_at, .. } = target;
    let room =
        Room::from_normalized(room).map_err(|e| format!("join button carries a bad room: {e}"))?;
    // The roles come with the click; only their names need the guild (from the cache when possible).
    let facts = guild_facts(sctx, data, guild_id).await;
    let roles = facts.as_ref().map(|f| f.role_infos()).unwrap_or_default();
    let effective = effective(&data.config, &data.store, guild_id.get()).await;
    let moderator = effective.guild.is_moderator(&member_facts(member), &roles);
    let who = invitee_of(&click.user, member, moderator);
    let base = match data.minters.for_guild(guild_id.get()).await {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal.0),
    };
    let minter = links::minter(&effective, &base);
    // Only public meetings have this button, and it sits in the channel it was posted in: the rule admits whoever
    // sees that channel, which the click's own permissions (computed by Discord for this channel) tell.
    let mf = member_facts(member);
    let viewer = Viewer {
        user_id: who.user_id,
        role_ids: &mf.role_ids,
        moderator,
        sees_channel: member
            .permissions
            .is_some_and(|p| p.contains(serenity::Permissions::VIEW_CHANNEL)),
    };
    let public = MeetingAccess {
        host_id: 0,
        private: false,
        invited_users: &[],
        invited_roles: &[],
    };
    let admission = match join::admit(validity, may_join(&public, &viewer), moderator) {
        Ok(a) => a,
        Err(why) => return Ok(render::no_link("", &why)),
    };
    let content = match links::personal(&minter, &room, &who, admission.validity) {
        Err(e) => links::mint_failed(&e, "your meeting link").0,
        Ok(link) => {
            audit::link_issued(
                &data.rest,
                &data.store,
                effective.audit_channel,
                LinkIssued {
                    guild: guild_id.get(),
                    at: data.clock.now(),
                    actor: who.user_id,
                    user: who.user_id,
                    moderator,
                    meeting: None,
                    via: "the Join button",
                    until: admission.validity.until,
                },
            )
            .await;
            tracing::info!(
                guild = guild_id.get(),
                user = who.user_id,
                room = room.as_str(),
                moderator,
                "join link issued"
            );
            render::with_note(
                render::join_reply(None, &link, moderator, ends_at),
                render::outage_note(effective.outage),
            )
        }
    };
    Ok(content)
}

/// A click on a scheduled meeting's Join button (its custom_id named meeting `id`).
pub async fn on_scheduled_click(
    sctx: &serenity::Context,
    data: &Data,
    click: &serenity::ComponentInteraction,
    id: &str,
) -> Result<(), Error> {
    let guild = click.guild_id.map(|g| g.get()).unwrap_or_default();
    answer_within(sctx, click, async {
        Ok(
            match (find_meeting(data, guild, id).await, click.member.as_ref()) {
                (Err(Refusal(t)), _) => t,
                (Ok(_), None) => "Join works inside the server.".into(),
                (Ok(m), Some(member)) => personal_answer(sctx, data, &m, &click.user, member).await,
            },
        )
    })
    .await
}

/// The answer to someone asking for their own link to a stored meeting (its Join button, `/meetings link`): the
/// link, or why there is none yet.
pub(crate) async fn personal_answer(
    sctx: &serenity::Context,
    data: &Data,
    m: &Meeting,
    user: &serenity::User,
    member: &serenity::Member,
) -> String {
    let now = data.clock.now();
    let server = effective(&data.config, &data.store, m.guild_id).await;
    let guild_id = serenity::GuildId::new(m.guild_id);
    let Ok(facts) = guild_facts(sctx, data, guild_id).await else {
        return "I cannot read this server's roles right now; please try again in a moment.".into();
    };
    let roles = facts.role_infos();
    let mf = member_facts(member);
    let moderator = server.guild.is_moderator(&mf, &roles);
    // The rule first: whoever it refuses learns nothing of the meeting, not even that it was cancelled.
    let access = Visibility::new(Some(sctx), &data.rest, &facts, m.guild_id)
        .access(m, user.id.get(), &mf.role_ids, moderator)
        .await;
    if let Access::Denied(why) = access {
        return render::no_link(&m.topic, &NoLink::Denied(why));
    }
    if m.status == MeetingStatus::Cancelled {
        return render::no_link(&m.topic, &NoLink::Cancelled);
    }
    let occurrences = match data.store.occurrences(&m.id).await {
        Ok(o) => o,
        Err(_) => return "The database is unavailable; please try again in a moment.".into(),
    };
    let window = Duration::from_std(server.join_window).unwrap_or(Duration::minutes(10));
    let (occ, validity) = match join::scheduled(&occurrences, now, grace(&data.config), window) {
        Ok(found) => found,
        Err(why) => return render::no_link(&m.topic, &why),
    };
    let admission = match join::admit(validity, access, moderator) {
        Ok(a) => a,
        Err(why) => return render::no_link(&m.topic, &why),
    };
    let who = invitee_of(user, member, admission.moderator);
    let base = match data.minters.for_guild(m.guild_id).await {
        Ok(b) => b,
        Err(refusal) => return refusal.0,
    };
    let minter = links::minter(&server, &base);
    match links::for_meeting(&minter, m, &who, admission.validity) {
        Ok(link) => {
            audit::link_issued(
                &data.rest,
                &data.store,
                server.audit_channel,
                LinkIssued {
                    guild: m.guild_id,
                    at: data.clock.now(),
                    actor: who.user_id,
                    user: who.user_id,
                    moderator: who.moderator,
                    meeting: Some(&m.id),
                    via: "/meetings link or the Join button",
                    until: admission.validity.until,
                },
            )
            .await;
            render::with_note(
                render::scheduled_join_reply(
                    &m.topic,
                    occ.starts_at,
                    admission.validity.until,
                    admission.moderator,
                    &link,
                ),
                render::outage_note(server.outage),
            )
        }
        Err(e) => links::mint_failed(&e, "your link").0,
    }
}
