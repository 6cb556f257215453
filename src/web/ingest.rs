//! Applying a room event: find the meeting by the room name meetbot generated (tenant
//! checked), place the event in one of its occurrences, merge it into the store, and tell the
//! Discord side.

use super::state::WebDeps;
use crate::jitsi::events::RoomEvent;
use crate::jitsi::normalize_room_name;
use crate::meeting::live::{choose_occurrence, LiveChange};
use crate::metrics::EventVerdict;
use crate::store::{LiveApplied, LiveUpdate, StoreError};

/// Whether the event's tenant is the one this bot mints tokens for.
fn tenant_matches(event_tenant: Option<&str>, ours: Option<&str>) -> bool {
    match (event_tenant, ours) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Merges `event` into its occurrence's live state and reports the change; the verdict says
/// what happened (never an error for an event that is merely not ours).
pub(super) async fn apply(deps: &WebDeps, event: RoomEvent) -> Result<EventVerdict, StoreError> {
    if !tenant_matches(event.room.tenant.as_deref(), deps.tenant.as_deref()) {
        return Ok(EventVerdict::UnknownRoom);
    }
    let timings = &deps.timings;
    let (from, to) = (
        event.anchor - timings.max_overrun,
        event.anchor + timings.early,
    );
    // Rooms meetbot generates are already in Jitsi's normal form; a custom room typed with
    // other characters is stored normalised, while Prosody may report it decoded.
    let mut names = vec![event.room.room.clone()];
    let normalized = normalize_room_name(&event.room.room);
    if normalized != event.room.room {
        names.push(normalized);
    }
    let mut candidates = Vec::new();
    for name in &names {
        candidates = deps.store.live_room_candidates(name, from, to).await?;
        if !candidates.is_empty() {
            break;
        }
    }
    let Some((meeting, occurrence)) =
        choose_occurrence(&candidates, event.anchor, timings, |(_, o)| (o, o.id))
    else {
        for name in &names {
            if deps.store.room_in_use(name).await? {
                return Ok(EventVerdict::NoOccurrence);
            }
        }
        return Ok(EventVerdict::UnknownRoom);
    };
    let update = LiveUpdate {
        occurrence_id: occurrence.id,
        at: event.at,
        rooms: event.lives,
        visits: event.presences,
        idempotency_key: event.idempotency_key,
    };
    match deps.store.apply_live(&update, deps.clock.now()).await? {
        LiveApplied::Duplicate => Ok(EventVerdict::Duplicate),
        LiveApplied::Applied => {
            deps.sink.changed(LiveChange {
                guild_id: meeting.guild_id,
                meeting_id: meeting.id.clone(),
                occurrence_id: occurrence.id,
            });
            Ok(EventVerdict::Applied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_must_agree_both_ways() {
        assert!(tenant_matches(None, None));
        assert!(tenant_matches(Some("team-a"), Some("Team-A")));
        assert!(!tenant_matches(Some("team-b"), Some("team-a")));
        assert!(!tenant_matches(Some("team-a"), None));
        assert!(!tenant_matches(None, Some("team-a")));
    }
}
