//! Who may see or join a meeting: one rule — its host, its invitees (by name or role) and moderators; for a meeting
//! that is not private also the members who can see the channel it was posted in. Every place that shows a meeting
//! or hands out a link to one applies it: `/meetings list`, every meeting autocomplete, `/meetings link`, `/invite`,
//! both Join buttons and a reminder's Interested users. It reads plain facts about the meeting and the person asking.

/// What the rule needs to know about a meeting.
#[derive(Debug, Clone, Copy)]
pub struct MeetingAccess<'a> {
    /// Who scheduled it.
    pub host_id: u64,
    /// Invite only: no announcement, no Join button for the rest of the server.
    pub private: bool,
    /// Users it invites.
    pub invited_users: &'a [u64],
    /// Roles it invites.
    pub invited_roles: &'a [u64],
}

/// What the rule needs to know about the person asking.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// Their user id.
    pub user_id: u64,
    /// Their roles in the meeting's server.
    pub role_ids: &'a [u64],
    /// Whether the server's policy makes them a moderator.
    pub moderator: bool,
    /// Whether they can see the channel the meeting was posted in (see `meeting::channel`).
    pub sees_channel: bool,
}

/// Why someone may not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The meeting is private and they are neither its host, invited (by name or role), nor a moderator.
    Private,
    /// The meeting lives in a channel they cannot see, and they are neither its host, invited, nor a moderator.
    Channel,
}

/// The rule's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// They may see and join it.
    Granted,
    /// They may not.
    Denied(Denial),
}

/// Whether `viewer` may see and join `meeting`.
pub fn may_join(meeting: &MeetingAccess<'_>, viewer: &Viewer<'_>) -> Access {
    let invited = viewer.user_id == meeting.host_id
        || meeting.invited_users.contains(&viewer.user_id)
        || viewer
            .role_ids
            .iter()
            .any(|r| meeting.invited_roles.contains(r));
    if invited || viewer.moderator {
        Access::Granted
    } else if meeting.private {
        Access::Denied(Denial::Private)
    } else if !viewer.sees_channel {
        Access::Denied(Denial::Channel)
    } else {
        Access::Granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: u64 = 1;
    const INVITED: u64 = 2;
    const TEAM: u64 = 50;

    fn meeting(private: bool) -> MeetingAccess<'static> {
        MeetingAccess {
            host_id: HOST,
            private,
            invited_users: &[INVITED],
            invited_roles: &[TEAM],
        }
    }

    fn viewer(user_id: u64, role_ids: &[u64], moderator: bool) -> Viewer<'_> {
        Viewer {
            user_id,
            role_ids,
            moderator,
            sees_channel: true,
        }
    }

    fn blind(v: Viewer<'_>) -> Viewer<'_> {
        Viewer {
            sees_channel: false,
            ..v
        }
    }

    #[test]
    fn a_private_meeting_admits_its_host_its_invitees_by_name_or_role_and_moderators() {
        let m = meeting(true);
        assert_eq!(may_join(&m, &viewer(HOST, &[], false)), Access::Granted);
        assert_eq!(may_join(&m, &viewer(INVITED, &[], false)), Access::Granted);
        assert_eq!(may_join(&m, &viewer(7, &[9, TEAM], false)), Access::Granted);
        assert_eq!(may_join(&m, &viewer(7, &[], true)), Access::Granted);
    }

    #[test]
    fn a_private_meeting_refuses_everyone_else() {
        assert_eq!(
            may_join(&meeting(true), &viewer(7, &[9], false)),
            Access::Denied(Denial::Private)
        );
    }

    #[test]
    fn a_public_meeting_admits_whoever_sees_its_channel() {
        assert_eq!(
            may_join(&meeting(false), &viewer(7, &[], false)),
            Access::Granted
        );
    }

    #[test]
    fn a_public_meeting_in_a_channel_someone_cannot_see_refuses_them_but_not_its_invitees_or_moderators(
    ) {
        let m = meeting(false);
        assert_eq!(
            may_join(&m, &blind(viewer(7, &[9], false))),
            Access::Denied(Denial::Channel)
        );
        assert_eq!(
            may_join(&m, &blind(viewer(HOST, &[], false))),
            Access::Granted
        );
        assert_eq!(
            may_join(&m, &blind(viewer(INVITED, &[], false))),
            Access::Granted
        );
        assert_eq!(
            may_join(&m, &blind(viewer(7, &[TEAM], false))),
            Access::Granted
        );
        assert_eq!(may_join(&m, &blind(viewer(7, &[], true))), Access::Granted);
    }

    #[test]
    fn seeing_the_channel_does_not_open_a_private_meeting() {
        assert_eq!(
            may_join(&meeting(true), &viewer(7, &[], false)),
            Access::Denied(Denial::Private)
        );
    }
}
