//! Cancelling a scheduled meeting: who may, and what it changes — the whole series, or only the next occurrence
//! of a repeating one — and which occurrences' announcements and link holders must hear of it.

use super::occurrences::{pending, Timed};
use chrono::{DateTime, Utc};

/// Whether `caller` may cancel a meeting `host` scheduled: its host, or a moderator.
pub fn may_cancel(caller: u64, host: u64, caller_is_moderator: bool) -> bool {
    caller == host || caller_is_moderator
}

/// What a cancel changes in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The meeting and every occurrence still pending.
    Meeting,
    /// Only the next pending occurrence (`only_next`); the series goes on after it.
    NextOccurrence,
}

/// A cancel, decided.
#[derive(Debug)]
pub struct Plan<'a, T> {
    /// What changes.
    pub scope: Scope,
    /// The occurrences that no longer take place: their announcements and everyone who got a link for them hear
    /// of it. With [`Scope::NextOccurrence`] it holds at most one (none: nothing left to cancel).
    pub targets: Vec<&'a T>,
}

/// What cancelling at `now` changes: the occurrences still pending (not over, not past their end), all of them or
/// only the first.
pub fn plan<T: Timed>(occurrences: &[T], now: DateTime<Utc>, only_next: bool) -> Plan<'_, T> {
    let mut targets = pending(occurrences, now);
    if only_next {
        targets.truncate(1);
    }
    Plan {
        scope: if only_next {
            Scope::NextOccurrence
        } else {
            Scope::Meeting
        },
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::occurrences::tests::{at, slot};
    use crate::meeting::occurrences::Stage;

    #[test]
    fn only_the_host_or_a_moderator_may_cancel() {
        assert!(may_cancel(1, 1, false));
        assert!(may_cancel(2, 1, true));
        assert!(!may_cancel(2, 1, false));
    }

    #[test]
    fn cancelling_the_meeting_reaches_every_pending_occurrence() {
        let occ = [
            slot(-2 * 60, Stage::Over),
            slot(-30, Stage::Running),
            slot(24 * 60, Stage::Upcoming),
            slot(-3 * 60, Stage::Upcoming),
        ];
        let p = plan(&occ, at(0), false);
        assert_eq!(p.scope, Scope::Meeting);
        assert_eq!(p.targets, vec![&occ[1], &occ[2]]);
    }

    #[test]
    fn only_next_cancels_the_first_pending_occurrence_alone() {
        let occ = [slot(-30, Stage::Running), slot(24 * 60, Stage::Upcoming)];
        let p = plan(&occ, at(0), true);
        assert_eq!(p.scope, Scope::NextOccurrence);
        assert_eq!(p.targets, vec![&occ[0]]);
        let nothing_left = plan(&occ[..1], at(60), true);
        assert_eq!(nothing_left.scope, Scope::NextOccurrence);
        assert!(nothing_left.targets.is_empty());
    }
}
