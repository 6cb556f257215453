//! `/invite`: moderators (and the server's guest-inviter roles) bring in people who are not moderators — a member of
//! another team by DM, or someone outside Discord through a link the moderator forwards. Guest links never carry
//! moderator rights or a lobby bypass, and never outlive the meeting (plus grace) or the configured maximum.

use super::autocomplete;
use crate::discord::audit::{actions, entry, record_audit};
use crate::discord::delivery::{deliver_all, Dm, DmOutcome};
use crate::discord::guild::{facts_for_command, member_facts};
use crate::discord::links::{self, grace};
use crate::discord::policy::effective;
use crate::discord::render::{self, escape, GuestInvitation};
use crate::discord::reply::{answer, Refusal};
use crate::discord::visibility::visible_meeting;
use crate::discord::{Context, Data, Error};
use crate::jitsi::{Identity, Link, Room};
use crate::meeting::cooldown::Action;
use crate::meeting::join::Validity;
use crate::meeting::occurrences::current;
use crate::meeting::settings::{EffectivePolicy, Outage};
use crate::store::{Meeting, MeetingStatus, Occurrence};
use chrono::{DateTime, Duration, Utc};
use poise::serenity_prelude as serenity;
use rand::Rng;

/// Invite someone who is not a moderator to a meeting, with a guest link.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("member", "guest"),
    subcommand_required
)]
pub async fn invite(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// DM a member of this server a guest link to a meeting.
#[poise::command(slash_command, guild_only)]
pub async fn member(
    ctx: Context<'_>,
    #[description = "The member to invite"] user: serenity::UserId,
    #[description = "The meeting"]
    #[autocomplete = "autocomplete::meeting"]
    meeting: String,
) -> Result<(), Error> {
    answer(ctx, invite_member(ctx, user.get(), &meeting)).await
}

/// A guest link for someone outside Discord, for you to forward.
#[poise::command(slash_command, guild_only)]
pub async fn guest(
    ctx: Context<'_>,
    #[description = "The guest's display name in the meeting"]
    #[max_length = 64]
    name: String,
    #[description = "The meeting"]
    #[autocomplete = "autocomplete::meeting"]
    meeting: String,
    #[description = "The guest's e-mail (only put in the token when the bot is set to include e-mails)"]
    email: Option<String>,
    #[description = "How long the link works, e.g. 2h or 90m (at most the server's maximum)"]
    valid_for: Option<String>,
) -> Result<(), Error> {
    answer(
        ctx,
        invite_guest(ctx, &name, &meeting, email.as_deref(), valid_for.as_deref()),
    )
    .await
}

/// What both forms of `/invite` establish before minting.
struct Ready {
    policy: EffectivePolicy,
    meeting: Meeting,
    occurrence: Occurrence,
    guild: u64,
    guild_name: String,
    caller: u64,
    now: DateTime<Utc>,
}

/// Permission, cooldown and meeting checks. On success the caller's cooldown is taken; every refusal after that
/// gives it back (nothing was sent).
async fn prepare(ctx: Context<'_>, meeting_id: &str) -> Result<Ready, Refusal> {
    let data: &Data = ctx.data();
    let now = data.clock.now();
    let guild_id = ctx
        .guild_id()
        .ok_or_else(|| Refusal("Use /invite in a server.".into()))?;
    let guild = guild_id.get();
    let Context::Application(app) = ctx else {
        return Err(Refusal("/invite is a slash command.".into()));
    };
    let member = app
        .interaction
        .member
        .as_ref()
        .ok_or_else(|| Refusal("Use /invite in a server.".into()))?;
    let caller_facts = member_facts(member);
    let facts = facts_for_command(ctx, guild_id).await?;
    let roles = facts.role_infos();
    let policy = effective(&data.config, &data.store, guild).await;
    if !policy.may_invite(&caller_facts, &roles) {
        if policy.outage == Some(Outage::MemberLinksOnly) {
            return Err(Refusal(
                "The database is unavailable and I have not read this server's settings yet, so I cannot tell who may invite; please try again in a moment.".into(),
            ));
        }
        return Err(Refusal(format!(
            "You may not invite guests here. These may: {}.",
            policy.describe_inviters(&roles)
        )));
    }
    let caller = ctx.author().id.get();
    let cooldown = Duration::from_std(policy.cooldown).unwrap_or(Duration::zero());
    if let Err(until) = data
        .cooldowns
        .try_take(guild, caller, Action::Invite, now, cooldown)
    {
        return Err(Refusal(format!(
            "You invited someone a moment ago; you can invite again <t:{}:R>.",
            until.timestamp()
        )));
    }
    // The access rule: a guest-inviter who may not see a meeting (a private one they are not invited to, one in a
    // channel they cannot see) cannot invite anyone to it, themselves included, nor learn it exists.
    let found = match visible_meeting(ctx, meeting_id).await {
        Ok(m) => find(data, m, now).await,
        Err(r) => Err(r),
    };
    let found = match found {
        Ok((meeting, occurrence)) => within_cap(data, guild, &meeting, policy.guild.invitee_cap)
            .await
            .map(|()| (meeting, occurrence)),
        Err(r) => Err(r),
    };
    match found {
        Ok((meeting, occurrence)) => Ok(Ready {
            policy,
            meeting,
            occurrence,
            guild,
            guild_name: facts.name,
            caller,
            now,
        }),
        Err(r) => {
            data.cooldowns.give_back(guild, caller, Action::Invite, now);
            Err(r)
        }
    }
}

/// The invitee cap holds for guests too: one meeting gets at most that many guest invitations (counted from the
/// audit trail, which records each one), so `/invite` cannot be used to DM a server bit by bit.
async fn within_cap(data: &Data, guild: u64, meeting: &Meeting, cap: usize) -> Result<(), Refusal> {
    let entries = data
        .store
        .recent_audit(
            guild,
            Some(&meeting.id),
            (cap as u32).saturating_mul(4).max(64),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "reading the audit trail failed");
            Refusal("The database is unavailable; please try again in a moment.".into())
        })?;
    let invited = entries
        .iter()
        .filter(|e| e.action == actions::GUEST_MEMBER || e.action == actions::GUEST_EXTERNAL)
        .count();
    if invited >= cap {
        return Err(Refusal(format!(
            "**{}** already has {invited} guest invitation{}; the limit here is {cap}.",
            escape(&meeting.topic),
            if invited == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// The occurrence of `meeting` to invite to, or why there is none.
async fn find(
    data: &Data,
    meeting: Meeting,
    now: DateTime<Utc>,
) -> Result<(Meeting, Occurrence), Refusal> {
    let unavailable =
        || Refusal("The database is unavailable; please try again in a moment.".into());
    if meeting.status == MeetingStatus::Cancelled {
        return Err(Refusal(format!(
            "**{}** was cancelled; there is nothing to invite to.",
            escape(&meeting.topic)
        )));
    }
    let occurrences = data.store.occurrences(&meeting.id).await.map_err(|e| {
        tracing::warn!(error = %e, "reading occurrences failed");
        unavailable()
    })?;
    // The occurrence an invitation is for: the running one, else the next; none when every one has ended.
    match current(&occurrences, now, Duration::zero()) {
        Some(o) if meeting.status == MeetingStatus::Active => Ok((meeting, o.clone())),
        _ => Err(Refusal(format!(
            "**{}** has ended; guest links are only for current and upcoming meetings.",
            escape(&meeting.topic)
        ))),
    }
}

/// When a guest link opens and when it expires: from the join window's opening (or now, when later) to the
/// earliest of the meeting's end plus grace, now + `valid_for`, and now + the configured maximum.
fn guest_window(
    data: &Data,
    r: &Ready,
    valid_for: Option<std::time::Duration>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Refusal> {
    let max = data.config.meetings.guest_max_validity;
    let window = Duration::from_std(r.policy.join_window).unwrap_or(Duration::minutes(10));
    let opens = (r.occurrence.starts_at - window).max(r.now);
    let asked = Duration::from_std(valid_for.unwrap_or(max)).unwrap_or(Duration::days(1));
    let cap = Duration::from_std(max).unwrap_or(Duration::days(1));
    let expires = (r.occurrence.ends_at + grace(&data.config))
        .min(r.now + asked)
        .min(r.now + cap);
    if expires <= opens {
        return Err(Refusal(format!(
            "A guest link made now would expire (<t:{}:F>) before the meeting's links open (<t:{}:F>). {}",
            expires.timestamp(),
            opens.timestamp(),
            if valid_for.is_some() {
                "Give a longer `valid_for`, or invite closer to the meeting."
            } else {
                "Invite closer to the meeting."
            }
        )));
    }
    Ok((opens, expires))
}

/// Mints a guest link: never a moderator, so neither moderator claims nor a lobby bypass.
async fn guest_link(
    data: &Data,
    r: &Ready,
    identity: Identity,
    opens: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<Link, Refusal> {
    let room = Room::from_normalized(r.meeting.room.clone()).map_err(|e| {
        tracing::error!(error = %e, meeting = %r.meeting.id, "stored room name is invalid");
        Refusal("This meeting's room is invalid; schedule it again.".into())
    })?;
    let base = data.minters.for_guild(r.guild).await?;
    let minter = links::minter(&r.policy, &base);
    let validity = Validity {
        from: opens,
        until: expires,
    };
    links::mint(&minter, &room, identity, false, validity)
        .map_err(|e| links::mint_failed(&e, "the guest link"))
}

/// The invitation as the messages tell it.
fn invitation<'a>(
    r: &'a Ready,
    opens: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> GuestInvitation<'a> {
    GuestInvitation {
        by: r.caller,
        topic: &r.meeting.topic,
        guild: &r.guild_name,
        starts_at: r.occurrence.starts_at,
        ends_at: r.occurrence.ends_at,
        opens_at: opens,
        expires_at: expires,
        now: r.now,
    }
}

async fn invite_member(ctx: Context<'_>, user: u64, meeting_id: &str) -> Result<String, Refusal> {
    let data = ctx.data();
    let r = prepare(ctx, meeting_id).await?;
    let give_back = |refusal: Refusal| {
        data.cooldowns
            .give_back(r.guild, r.caller, Action::Invite, r.now);
        refusal
    };
    let m = match data.rest.get_member(r.guild, user).await {
        Ok(Some(m)) if m.bot => return Err(give_back(Refusal("Bots cannot join meetings.".into()))),
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(give_back(Refusal(format!(
                "<@{user}> is not a member of this server. For someone outside it, use `/invite guest`."
            ))))
        }
        Err(e) => {
            tracing::warn!(error = %e, "member lookup failed");
            return Err(give_back(Refusal(
                "I could not look that member up; please try again in a moment.".into(),
            )));
        }
    };
    let (opens, expires) = guest_window(data, &r, None).map_err(give_back)?;
    let identity = Identity {
        id: m.user_id.to_string(),
        name: m.display_name().to_string(),
        avatar: m.avatar_url.clone(),
        email: None,
    };
    let link = guest_link(data, &r, identity, opens, expires)
        .await
        .map_err(give_back)?;
    let invitation = invitation(&r, opens, expires);
    let dm = Dm {
        user_id: user,
        body: render::guest_member_dm(&invitation, &link),
    };
    let outcome = deliver_all(&data.rest, vec![dm], 1, data.shutdown.clone())
        .await
        .into_iter()
        .next()
        .map(|(_, o)| o);
    match outcome {
        Some(DmOutcome::Delivered { .. }) => {
            tracing::info!(guild = r.guild, by = r.caller, user, meeting = %r.meeting.id, "guest link sent to a member");
            record_audit(
                &data.rest,
                &data.store,
                r.policy.audit_channel,
                entry(
                    r.guild,
                    r.now,
                    r.caller,
                    actions::GUEST_MEMBER,
                    Some(&r.meeting.id),
                    user.to_string(),
                    render::audit_guest_member(user, &r.meeting.topic, expires),
                ),
            )
            .await;
            Ok(render::guest_member_sent(&invitation, user))
        }
        // The DM was attempted, so the use is kept: a 403 counts towards Discord's invalid-request limit (10,000
        // per 10 minutes bans the bot's IP), and a loop of /invite at a closed inbox must not be free.
        Some(DmOutcome::DmsClosed) => Err(Refusal(format!(
            "<@{user}> does not accept DMs from me, so the guest link was **not** delivered. Ask them to allow DMs from this server, or give them a link with `/invite guest`."
        ))),
        Some(DmOutcome::Failed(why)) => Err(Refusal(format!(
            "I could not DM <@{user}> ({why}); the guest link was not delivered. Please try again."
        ))),
        Some(DmOutcome::NotSent(_)) | None => Err(give_back(Refusal(
            "The bot is shutting down; the guest link was not sent.".into(),
        ))),
    }
}

/// Reads `valid_for`: a duration like `2h` or `90m`, positive and within the configured maximum.
fn parse_valid_for(text: &str, max: std::time::Duration) -> Result<std::time::Duration, Refusal> {
    let d = humantime::parse_duration(text.trim()).map_err(|_| {
        Refusal(format!(
            "`valid_for` must be a duration like `2h` or `90m`; I cannot read {:?}.",
            text.chars().take(30).collect::<String>()
        ))
    })?;
    if d.is_zero() {
        return Err(Refusal("`valid_for` must be longer than zero.".into()));
    }
    if d > max {
        return Err(Refusal(format!(
            "`valid_for` may be at most {} here; you asked for {}.",
            humantime::format_duration(max),
            humantime::format_duration(d)
        )));
    }
    Ok(d)
}

/// A plausible e-mail address: one `@`, something on both sides, no spaces, not absurdly long.
fn check_email(text: &str) -> Result<String, Refusal> {
    let t = text.trim();
    let ok = t.len() <= 254
        && !t.chars().any(char::is_whitespace)
        && t.split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.contains('@'));
    if ok {
        Ok(t.to_string())
    } else {
        Err(Refusal(
            "That `email` does not look like an e-mail address.".into(),
        ))
    }
}

async fn invite_guest(
    ctx: Context<'_>,
    name: &str,
    meeting_id: &str,
    email: Option<&str>,
    valid_for: Option<&str>,
) -> Result<String, Refusal> {
    let data = ctx.data();
    // Input checks first: a typo should cost no cooldown.
    let name = name.trim();
    if name.is_empty() {
        return Err(Refusal("Give the guest a `name`.".into()));
    }
    let max = data.config.meetings.guest_max_validity;
    let valid_for = valid_for
        .filter(|v| !v.trim().is_empty())
        .map(|v| parse_valid_for(v, max))
        .transpose()?;
    let email = email
        .filter(|e| !e.trim().is_empty())
        .map(check_email)
        .transpose()?;
    let r = prepare(ctx, meeting_id).await?;
    let give_back = |refusal: Refusal| {
        data.cooldowns
            .give_back(r.guild, r.caller, Action::Invite, r.now);
        refusal
    };
    let (opens, expires) = guest_window(data, &r, valid_for).map_err(give_back)?;
    let guest_id = {
        let mut rng = rand::thread_rng();
        format!("guest-{:016x}", rng.gen::<u64>())
    };
    let identity = Identity {
        id: guest_id.clone(),
        name: name.to_string(),
        avatar: None,
        email,
    };
    let link = guest_link(data, &r, identity, opens, expires)
        .await
        .map_err(give_back)?;
    tracing::info!(guild = r.guild, by = r.caller, guest = %guest_id, meeting = %r.meeting.id, "guest link issued");
    record_audit(
        &data.rest,
        &data.store,
        r.policy.audit_channel,
        entry(
            r.guild,
            r.now,
            r.caller,
            actions::GUEST_EXTERNAL,
            Some(&r.meeting.id),
            name.to_string(),
            render::audit_guest_external(name, &guest_id, &r.meeting.topic, expires),
        ),
    )
    .await;
    Ok(render::guest_link_reply(
        &invitation(&r, opens, expires),
        name,
        &link,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_for_reads_durations_and_refuses_zero_garbage_and_too_long() {
        let max = std::time::Duration::from_secs(24 * 3600);
        assert_eq!(
            parse_valid_for("90m", max).ok(),
            Some(std::time::Duration::from_secs(5400))
        );
        assert!(parse_valid_for("0s", max).is_err());
        assert!(parse_valid_for("soon", max).is_err());
        let Err(Refusal(t)) = parse_valid_for("2days", max) else {
            panic!("two days passed a one-day limit")
        };
        assert!(t.contains("at most 1day"), "{t}");
    }

    #[test]
    fn email_check_accepts_addresses_and_refuses_other_text() {
        assert_eq!(check_email(" a@b.org ").ok().as_deref(), Some("a@b.org"));
        for bad in ["ab.org", "a@b", "a b@c.org", "@b.org", "a@b@c.org"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
