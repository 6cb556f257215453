//! Who may see or join a meeting: one rule, applied by every place that hands out a link to a meeting someone
//! asks for (the scheduled Join button and `/meetings link` today). It reads plain facts about the meeting and about
//! the person asking, so a new fact (the channel the meeting lives in, say) is one more field and one more arm.

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
}

/// Why someone may not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The meeting is private and they are neither its host, invited (by name or role), nor a moderator.
    Private,
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
    if meeting.private && !invited && !viewer.moderator {
        return Access::Denied(Denial::Private);
    }
    Access::Granted
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
    fn a_public_meeting_admits_anyone_in_the_server() {
        assert_eq!(
            may_join(&meeting(false), &viewer(7, &[], false)),
            Access::Granted
        );
    }
}
