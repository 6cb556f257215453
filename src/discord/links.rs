//! Minting a person's link: the one place a token is signed for a room, whether for `/meet`, a Join button, a
//! reminder DM or a guest. Callers decide who gets which link and for how long (see `meeting::join`); this room turns
//! that into a signed, personal URL that follows the server's lobby setting.

use super::reply::Refusal;
use crate::config::Config;
use crate::jitsi::{Grant, Identity, Link, Minter, Room, TokenError};
use crate::meeting::join::Validity;
use crate::meeting::recipients::Invitee;
use crate::meeting::settings::EffectivePolicy;
use crate::store::Meeting;
use std::borrow::Cow;
use std::time::Duration;

/// The longest any token minted with a server's key can live: a scheduled meeting's links open a join window
/// (and the reminder lead) before the start and work until the end plus the grace; guest links and CLI tokens
/// have their own caps. A retired key is served at least this long.
pub fn longest_lifetime(config: &Config) -> Duration {
    let m = &config.meetings;
    let meeting = m.max_duration + m.grace + m.join_window.max(m.remind);
    meeting.max(m.guest_max_validity).max(config.jitsi.lifetime)
}

/// How long after its end a meeting's links keep working, so a meeting that runs over is not cut off.
pub(crate) fn grace(config: &Config) -> chrono::Duration {
    chrono::Duration::from_std(config.meetings.grace).unwrap_or(chrono::Duration::minutes(15))
}

/// A minter that follows this server's lobby-bypass setting: the shared one when it already does, else a copy
/// with the flag changed (built per use: cheap next to the Discord round trips around it).
pub fn minter<'m>(policy: &EffectivePolicy, base: &'m Minter) -> Cow<'m, Minter> {
    if base.settings().lobby_bypass_for_moderators == policy.lobby_bypass_for_moderators {
        return Cow::Borrowed(base);
    }
    let mut settings = base.settings().clone();
    settings.lobby_bypass_for_moderators = policy.lobby_bypass_for_moderators;
    match Minter::new(settings) {
        Ok(m) => Cow::Owned(m),
        Err(e) => {
            // The same key and settings built `base`, so this cannot fail in practice; the shared minter is the
            // safe answer if it ever does.
            tracing::error!(error = %e, "cannot build a minter for the server's lobby setting");
            Cow::Borrowed(base)
        }
    }
}

/// The identity an invitee's token carries: their id, their name in the server, their avatar.
pub(crate) fn identity_of(who: &Invitee) -> Identity {
    Identity {
        id: who.user_id.to_string(),
        name: who.name.clone(),
        avatar: who.avatar.clone(),
        email: None,
    }
}

/// A link to `room` for `identity`, usable as `validity` says (Jitsi allows no clock skew, so `Grant::new`
/// back-dates nbf from its opening); the name is prefilled when the settings say so.
pub(crate) fn mint(
    minter: &Minter,
    room: &Room,
    identity: Identity,
    moderator: bool,
    validity: Validity,
) -> Result<Link, TokenError> {
    let name = identity.name.clone();
    let mut grant = Grant::new(
        room.clone(),
        identity,
        moderator,
        validity.from,
        minter.settings(),
    );
    grant.expires_at = validity.until;
    let minted = minter.mint(&grant)?;
    let shown = minter
        .settings()
        .prefill_display_name
        .then_some(name.as_str());
    Ok(minter.link(room, &minted.token, shown))
}

/// [`mint`] for an invitee, moderator as the policy decided for them.
pub(crate) fn personal(
    minter: &Minter,
    room: &Room,
    who: &Invitee,
    validity: Validity,
) -> Result<Link, TokenError> {
    mint(minter, room, identity_of(who), who.moderator, validity)
}

/// [`personal`] for a stored meeting, whose room name was normalised when it was scheduled.
pub(crate) fn for_meeting(
    minter: &Minter,
    m: &Meeting,
    who: &Invitee,
    validity: Validity,
) -> Result<Link, TokenError> {
    let room =
        Room::from_normalized(m.room.clone()).map_err(|e| TokenError::Setting(e.to_string()))?;
    personal(minter, &room, who, validity)
}

/// The refusal when signing fails (the key or the settings are wrong: the operator's `meetbot check` says which);
/// `what` names the link ("your meeting link", "the guest link").
pub(crate) fn mint_failed(e: &TokenError, what: &str) -> Refusal {
    tracing::error!(error = %e, "minting {what} failed");
    Refusal(format!(
        "I could not create {what}; the bot's Jitsi settings need attention (`meetbot check`)."
    ))
}
