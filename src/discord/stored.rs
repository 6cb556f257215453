//! Stored meetings as commands and buttons read them: one meeting of this server by id (with the sentence for
//! whoever asked when there is none), and what the core's rules need of a stored meeting and its occurrences.

use super::render::UNKNOWN_MEETING;
use super::reply::Refusal;
use super::Data;
use crate::meeting::access::MeetingAccess;
use crate::store::Meeting;

/// What the access rule needs to know about a stored meeting.
pub(crate) fn access(m: &Meeting) -> MeetingAccess<'_> {
    MeetingAccess {
        host_id: m.host_id,
        private: m.private,
        invited_users: &m.invitee_user_ids,
        invited_roles: &m.invitee_role_ids,
    }
}

/// The meeting `id` (as picked from the autocomplete list, or typed) of `guild`.
pub(crate) async fn find_meeting(data: &Data, guild: u64, id: &str) -> Result<Meeting, Refusal> {
    match data.store.meeting(id.trim()).await {
        Ok(Some(m)) if m.guild_id == guild => Ok(m),
        Ok(_) => Err(Refusal(UNKNOWN_MEETING.into())),
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
