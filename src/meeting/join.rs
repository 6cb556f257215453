//! What a Join click (or `/meetings link`) yields: no link because the meeting is cancelled, over or not open yet,
//! or refused by the access rule; else a link as a moderator or a participant, and from when until when it works.
//! The same answer for both buttons: an immediate meeting's (the signed button carries its end) and a scheduled
//! one's (its occurrences are stored).

use super::access::{Access, Denial};
use super::occurrences::{current, Slot, Timed};
use chrono::{DateTime, Duration, Utc};

/// From when until when a link made now works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Its opening (the token's nbf is back-dated from it).
    pub from: DateTime<Utc>,
    /// Its expiry.
    pub until: DateTime<Utc>,
}

/// Why there is no link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoLink {
    /// The meeting was cancelled.
    Cancelled,
    /// Every occurrence is over (its end plus grace has passed).
    Ended,
    /// Links open at `opens_at`, `window` before the start.
    NotYetOpen {
        /// When links open.
        opens_at: DateTime<Utc>,
        /// How long before the start that is.
        window: Duration,
    },
    /// The access rule refused.
    Denied(Denial),
}

/// The link to mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// A moderator's link, else a participant's.
    pub moderator: bool,
    /// When it works.
    pub validity: Validity,
}

/// An immediate meeting's button: a link from now until its end plus `grace`, unless that has passed.
pub fn immediate(
    ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Validity, NoLink> {
    let until = ends_at + grace;
    if now >= until {
        return Err(NoLink::Ended);
    }
    Ok(Validity { from: now, until })
}

/// When a link for `slot` works: from the join window's opening (never earlier, even for a reminder sent before
/// it: the window is the meeting's promise to everyone else) to its end plus `grace`.
pub fn occurrence_validity(slot: Slot, window: Duration, grace: Duration) -> Validity {
    Validity {
        from: slot.starts_at - window,
        until: slot.ends_at + grace,
    }
}

/// A scheduled meeting: the occurrence a link is for now (the running one, else the next) and when that link
/// works, or why there is none yet.
pub fn scheduled<T: Timed>(
    occurrences: &[T],
    now: DateTime<Utc>,
    grace: Duration,
    window: Duration,
) -> Result<(&T, Validity), NoLink> {
    let occurrence = current(occurrences, now, grace).ok_or(NoLink::Ended)?;
    let validity = occurrence_validity(occurrence.slot(), window, grace);
    if now < validity.from {
        return Err(NoLink::NotYetOpen {
            opens_at: validity.from,
            window,
        });
    }
    Ok((occurrence, validity))
}

/// The link for someone the access rule answered for: a moderator's when the policy makes them one.
pub fn admit(validity: Validity, access: Access, moderator: bool) -> Result<Admission, NoLink> {
    match access {
        Access::Denied(why) => Err(NoLink::Denied(why)),
        Access::Granted => Ok(Admission {
            moderator,
            validity,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::access::{may_join, MeetingAccess, Viewer};
    use crate::meeting::occurrences::tests::{at, slot};
    use crate::meeting::occurrences::Stage;

    const GRACE: i64 = 15;
    const WINDOW: i64 = 10;

    fn scheduled_at(occ: &[Slot], now: DateTime<Utc>) -> Result<(&Slot, Validity), NoLink> {
        scheduled(
            occ,
            now,
            Duration::minutes(GRACE),
            Duration::minutes(WINDOW),
        )
    }

    #[test]
    fn an_immediate_button_links_until_the_end_plus_grace_then_says_ended() {
        let g = Duration::minutes(GRACE);
        assert_eq!(
            immediate(at(60), at(70), g),
            Ok(Validity {
                from: at(70),
                until: at(75)
            })
        );
        assert_eq!(immediate(at(60), at(75), g), Err(NoLink::Ended));
    }

    #[test]
    fn a_scheduled_meeting_is_not_open_before_its_join_window() {
        let occ = [slot(60, Stage::Upcoming)];
        assert_eq!(
            scheduled_at(&occ, at(49)),
            Err(NoLink::NotYetOpen {
                opens_at: at(50),
                window: Duration::minutes(WINDOW)
            })
        );
        let (o, v) = scheduled_at(&occ, at(50)).unwrap();
        assert_eq!(o, &occ[0]);
        // Valid from the window's opening, even when asked later, until the end plus grace.
        assert_eq!(scheduled_at(&occ, at(90)).unwrap().1, v);
        assert_eq!(
            v,
            Validity {
                from: at(50),
                until: at(135)
            }
        );
    }

    #[test]
    fn a_scheduled_meeting_has_ended_once_its_last_occurrence_and_grace_are_over() {
        let occ = [slot(0, Stage::Running), slot(-60 * 24, Stage::Over)];
        assert!(scheduled_at(&occ, at(74)).is_ok());
        assert_eq!(scheduled_at(&occ, at(75)), Err(NoLink::Ended));
        assert_eq!(
            scheduled_at(&[slot(60, Stage::Over)], at(55)),
            Err(NoLink::Ended)
        );
    }

    #[test]
    fn a_private_meeting_refuses_an_outsider_and_links_a_moderator_as_moderator() {
        let v = immediate(at(60), at(0), Duration::minutes(GRACE)).unwrap();
        let m = MeetingAccess {
            host_id: 1,
            private: true,
            invited_users: &[2],
            invited_roles: &[],
        };
        let outsider = Viewer {
            user_id: 3,
            role_ids: &[],
            moderator: false,
            sees_channel: true,
        };
        assert_eq!(
            admit(v, may_join(&m, &outsider), outsider.moderator),
            Err(NoLink::Denied(Denial::Private))
        );
        let moderator = Viewer {
            moderator: true,
            ..outsider
        };
        assert_eq!(
            admit(v, may_join(&m, &moderator), moderator.moderator),
            Ok(Admission {
                moderator: true,
                validity: v
            })
        );
        let invitee = Viewer {
            user_id: 2,
            ..outsider
        };
        assert_eq!(
            admit(v, may_join(&m, &invitee), invitee.moderator).map(|a| a.moderator),
            Ok(false)
        );
    }
}
