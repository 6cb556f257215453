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
use crate::discord::reply::{answer, followup, reply, Refusal};
use crate::discord::visibility::visible_meeting;
use crate::discord::{Context, Data, Error};
use crate::jitsi::{Identity, Link, Room};
use crate::meeting::cooldown::Action;
use crate::meeting::join::Validity;
use crate::meeting::occurrences::current;
use crate::meeting::settings::{EffectivePolicy, Outage};
use crate::store::{GuestSlots, Meeting, MeetingStatus, Occurrence};
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
    #[max_length = 100]
    meeting: String,
) -> Result<(), Error> {
    answer(ctx, invite_member(ctx, user.get(), &meeting)).await
}

/// Guest links for people outside Discord, for you to forward: one per name.
#[poise::command(slash_command, guild_only)]
pub async fn guest(
    ctx: Context<'_>,
    #[description = "The guest's display name in the meeting; several separated by commas (at most 5)"]
    #[max_length = 340]
    name: String,
    #[description = "The meeting"]
    #[autocomplete = "autocomplete::meeting"]
    #[max_length = 100]
    meeting: String,
    #[description = "The guest's e-mail (only put in the token when the bot is set to include e-mails)"]
    #[max_length = 254]
    email: Option<String>,
    #[description = "How long the link works, e.g. 2h or 90m (at most the server's maximum)"]
    #[max_length = 32]
    valid_for: Option<String>,
) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    let messages =
        match invite_guests(ctx, &name, &meeting, email.as_deref(), valid_for.as_deref()).await {
            Ok(m) => m,
            Err(Refusal(t)) => vec![t],
        };
    let mut messages = messages.into_iter();
    if let Some(first) = messages.next() {
        reply(ctx, &first).await;
    }
    // One link a message: a link is several hundred characters, and a message holds 2,000.
    for more in messages {
        followup(ctx, &more).await;
    }
    Ok(())
}

/// The most guests one `/invite guest` names.
const GUEST_NAMES_MAX: usize = 5;
/// The longest guest name (Jitsi shows it in the meeting).
const GUEST_NAME_MAX_CHARS: usize = 64;

/// Reads `name`: one name or several separated by commas, each trimmed, repeats dropped.
fn parse_names(text: &str) -> Result<Vec<String>, Refusal> {
    let mut names: Vec<String> = Vec::new();
    // Names go into tokens (Jitsi shows them to everyone) and into the audit trail: no invisible characters.
    let text = crate::text::plain(text);
    for n in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if n.chars().count() > GUEST_NAME_MAX_CHARS {
            return Err(Refusal(format!(
                "A guest name may be at most {GUEST_NAME_MAX_CHARS} characters; \"{}\" is longer.",
                escape(&crate::text::clip(n, 20))
            )));
        }
        if !names.iter().any(|m| m.to_lowercase() == n.to_lowercase()) {
            names.push(n.to_string());
        }
    }
    match names.len() {
        0 => Err(Refusal("Give the guest a `name`.".into())),
        n if n > GUEST_NAMES_MAX => Err(Refusal(format!(
            "At most {GUEST_NAMES_MAX} guests at once; you named {n}. Invite the rest with another `/invite guest`."
        ))),
        _ => Ok(names),
    }
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
    /// Guest invitations claimed for this command.
    slots: u32,
    /// Whether the caller's cooldown was taken.
    cooldown: bool,
}

/// Permission, cooldown and meeting checks, then `slots` guest invitations claimed under the meeting's cap. On
/// success the caller's cooldown is taken (when `cooldown`); every refusal after that gives both back (nothing was
/// sent): see [`undo`].
async fn prepare(
    ctx: Context<'_>,
    meeting_id: &str,
    slots: u32,
    cooldown: bool,
) -> Result<Ready, Refusal> {
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
    if cooldown {
        let wait = Duration::from_std(policy.cooldown).unwrap_or(Duration::zero());
        if let Err(until) = data
            .take_cooldown(guild, caller, Action::Invite, now, wait)
            .await
        {
            return Err(Refusal(format!(
                "You invited someone a moment ago; you can invite again <t:{}:R>.",
                until.timestamp()
            )));
        }
    }
    // The access rule: a guest-inviter who may not see a meeting (a private one they are not invited to, one in a
    // channel they cannot see) cannot invite anyone to it, themselves included, nor learn it exists.
    let found = match visible_meeting(ctx, meeting_id).await {
        Ok(m) => find(data, m, now).await,
        Err(r) => Err(r),
    };
    let found = match found {
        Ok((meeting, occurrence)) => claim_slots(data, &meeting, slots, policy.guild.invitee_cap)
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
            slots,
            cooldown,
        }),
        Err(r) => {
            if cooldown {
                data.give_back_cooldown(guild, caller, Action::Invite, now)
                    .await;
            }
            Err(r)
        }
    }
}

/// The invitee cap holds for guests too: one meeting gets at most that many guest invitations, counted exactly by
/// the store and claimed in the same statement that checks the count (two moderators racing at the cap cannot
/// both pass), so `/invite` cannot be used to DM a server bit by bit.
async fn claim_slots(data: &Data, meeting: &Meeting, n: u32, cap: usize) -> Result<(), Refusal> {
    let cap = u32::try_from(cap).unwrap_or(u32::MAX);
    match data.store.claim_guest_slots(&meeting.id, n, cap).await {
        Ok(GuestSlots::Claimed { .. }) => Ok(()),
        Ok(GuestSlots::Full { total }) => Err(Refusal(render::guest_cap_reached(
            &meeting.topic,
            total,
            n,
            cap,
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "claiming guest invitations failed");
            Err(Refusal(
                "The database is unavailable; please try again in a moment.".into(),
            ))
        }
    }
}

/// Hands back what [`prepare`] took when nothing was handed out: the cooldown and the claimed guest slots.
async fn undo(data: &Data, r: &Ready, refusal: Refusal) -> Refusal {
    if r.cooldown {
        data.give_back_cooldown(r.guild, r.caller, Action::Invite, r.now)
            .await;
    }
    release(data, r, r.slots).await;
    refusal
}

/// Gives back `n` of the claimed slots (logged on failure: the count then stays high, which only refuses sooner).
async fn release(data: &Data, r: &Ready, n: u32) {
    if n == 0 {
        return;
    }
    if let Err(e) = data.store.release_guest_slots(&r.meeting.id, n).await {
        tracing::warn!(error = %e, meeting = %r.meeting.id, "could not give back guest invitations");
    }
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
    let r = prepare(ctx, meeting_id, 1, true).await?;
    match member_invitation(data, &r, user).await {
        Ok(answer) => Ok(answer),
        Err(Failed::Undo(refusal)) => Err(undo(data, &r, refusal).await),
        Err(Failed::Attempted(refusal)) => {
            // The DM was attempted, so the cooldown is kept: a 403 counts towards Discord's invalid-request limit
            // (10,000 per 10 minutes bans the bot's IP), and a loop of /invite at a closed inbox must not be free.
            // The guest slot goes back: nobody was invited.
            release(data, &r, r.slots).await;
            Err(refusal)
        }
    }
}

/// Why an invitation was not handed out, and whether what [`prepare`] took goes back.
enum Failed {
    /// Nothing was sent: cooldown and slots go back.
    Undo(Refusal),
    /// A DM was attempted and did not arrive: the cooldown stays, the slot goes back.
    Attempted(Refusal),
}

async fn member_invitation(data: &Data, r: &Ready, user: u64) -> Result<String, Failed> {
    let m = match data.rest.get_member(r.guild, user).await {
        Ok(Some(m)) if m.bot => return Err(Failed::Undo(Refusal("Bots cannot join meetings.".into()))),
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(Failed::Undo(Refusal(format!(
                "<@{user}> is not a member of this server. For someone outside it, use `/invite guest`."
            ))))
        }
        Err(e) => {
            tracing::warn!(error = %e, "member lookup failed");
            return Err(Failed::Undo(Refusal(
                "I could not look that member up; please try again in a moment.".into(),
            )));
        }
    };
    let (opens, expires) = guest_window(data, r, None).map_err(Failed::Undo)?;
    let identity = Identity {
        id: m.user_id.to_string(),
        name: m.display_name().to_string(),
        avatar: m.avatar_url.clone(),
        email: None,
    };
    let link = guest_link(data, r, identity, opens, expires)
        .await
        .map_err(Failed::Undo)?;
    let invitation = invitation(r, opens, expires);
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
        Some(DmOutcome::DmsClosed) => Err(Failed::Attempted(Refusal(format!(
            "<@{user}> does not accept DMs from me, so the guest link was **not** delivered. Ask them to allow DMs from this server, or give them a link with `/invite guest`."
        )))),
        Some(DmOutcome::Failed(why) | DmOutcome::Unconfirmed(why)) => Err(Failed::Attempted(Refusal(format!(
            "I could not DM <@{user}> ({why}); the guest link was not delivered. Please try again."
        )))),
        Some(DmOutcome::NotSent(_)) | None => Err(Failed::Undo(Refusal(
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

/// One guest link per name, each with its own guest id, all under the meeting's guest cap (all or none). No
/// cooldown: nothing is sent to anyone, the links come back to the caller.
async fn invite_guests(
    ctx: Context<'_>,
    names: &str,
    meeting_id: &str,
    email: Option<&str>,
    valid_for: Option<&str>,
) -> Result<Vec<String>, Refusal> {
    let data = ctx.data();
    // Input checks first: a typo should cost nothing.
    let names = parse_names(names)?;
    let max = data.config.meetings.guest_max_validity;
    let valid_for = valid_for
        .filter(|v| !v.trim().is_empty())
        .map(|v| parse_valid_for(v, max))
        .transpose()?;
    let email = email
        .filter(|e| !e.trim().is_empty())
        .map(check_email)
        .transpose()?;
    if email.is_some() && names.len() > 1 {
        return Err(Refusal(
            "An `email` belongs to one guest: name one guest with it, or leave it out.".into(),
        ));
    }
    let count = u32::try_from(names.len()).unwrap_or(u32::MAX);
    let r = prepare(ctx, meeting_id, count, false).await?;
    let (opens, expires) = match guest_window(data, &r, valid_for) {
        Ok(w) => w,
        Err(refusal) => return Err(undo(data, &r, refusal).await),
    };
    let mut minted = Vec::with_capacity(names.len());
    for name in &names {
        let guest_id = {
            let mut rng = rand::thread_rng();
            format!("guest-{:016x}", rng.gen::<u64>())
        };
        let identity = Identity {
            id: guest_id.clone(),
            name: name.clone(),
            avatar: None,
            email: email.clone(),
        };
        match guest_link(data, &r, identity, opens, expires).await {
            Ok(link) => minted.push((name, guest_id, link)),
            Err(refusal) => return Err(undo(data, &r, refusal).await),
        }
    }
    let mut messages = Vec::with_capacity(minted.len() + 1);
    if minted.len() > 1 {
        messages.push(render::guest_links_header(
            &invitation(&r, opens, expires),
            minted.len(),
        ));
    }
    for (name, guest_id, link) in minted {
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
        messages.push(render::guest_link_reply(
            &invitation(&r, opens, expires),
            name,
            &link,
        ));
    }
    Ok(messages)
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
    fn guest_names_split_on_commas_drop_repeats_and_are_capped() {
        assert_eq!(parse_names(" Ada ").ok(), Some(vec!["Ada".to_string()]));
        assert_eq!(
            parse_names("Ada, Bea,,ada , Cy").ok(),
            Some(vec!["Ada".to_string(), "Bea".into(), "Cy".into()])
        );
        assert!(parse_names(" , ").is_err());
        let Err(Refusal(t)) = parse_names("a,b,c,d,e,f") else {
            panic!("six names passed a cap of five")
        };
        assert!(t.contains("At most 5"), "{t}");
        assert!(parse_names(&"x".repeat(65)).is_err());
    }

    #[test]
    fn email_check_accepts_addresses_and_refuses_other_text() {
        assert_eq!(check_email(" a@b.org ").ok().as_deref(), Some("a@b.org"));
        for bad in ["ab.org", "a@b", "a b@c.org", "@b.org", "a@b@c.org"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
