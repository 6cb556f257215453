//! Cancelling a scheduled meeting: who may, and what it changes — the whole series, or only the next occurrence
//! of a repeating one — and which occurrences' announcements and link holders must hear of it.

use super::occurrences::{pending, Stage, Timed};
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

/// Why a cancel changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// The meeting was cancelled before: a cancelled thing is cancelled once, and nobody is told twice.
    AlreadyCancelled,
    /// No occurrence is left that could still take place.
    NothingLeft,
    /// `only_next` named the occurrence that is running now: people are in it, and cancelling it alone would not
    /// take their links back. Cancelling the whole meeting does (Join refuses at once).
    Running,
}

/// What cancelling at `now` changes: the occurrences still pending (not over, not past their end), all of them or
/// only the first — or why nothing changes (`cancelled`: the meeting is cancelled already).
pub fn plan<T: Timed>(
    occurrences: &[T],
    now: DateTime<Utc>,
    only_next: bool,
    cancelled: bool,
) -> Result<Plan<'_, T>, Unchanged> {
    if cancelled {
        return Err(Unchanged::AlreadyCancelled);
    }
    let mut targets = pending(occurrences, now);
    if only_next {
        targets.truncate(1);
        if targets
            .first()
            .is_some_and(|o| o.slot().stage == Stage::Running)
        {
            return Err(Unchanged::Running);
        }
    }
    if targets.is_empty() && only_next {
        return Err(Unchanged::NothingLeft);
    }
    Ok(Plan {
        scope: if only_next {
            Scope::NextOccurrence
        } else {
            Scope::Meeting
        },
        targets,
    })
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
        let p = plan(&occ, at(0), false, false).unwrap();
        assert_eq!(p.scope, Scope::Meeting);
        assert_eq!(p.targets, vec![&occ[1], &occ[2]]);
    }

    #[test]
    fn only_next_cancels_the_first_pending_occurrence_alone() {
        let occ = [slot(30, Stage::Upcoming), slot(24 * 60, Stage::Upcoming)];
        let p = plan(&occ, at(0), true, false).unwrap();
        assert_eq!(p.scope, Scope::NextOccurrence);
        assert_eq!(p.targets, vec![&occ[0]]);
        assert_eq!(
            plan(&occ[..1], at(120), true, false).unwrap_err(),
            Unchanged::NothingLeft
        );
    }

    #[test]
    fn only_next_on_a_running_occurrence_changes_nothing_and_says_why() {
        let occ = [slot(-30, Stage::Running), slot(24 * 60, Stage::Upcoming)];
        assert_eq!(
            plan(&occ, at(0), true, false).unwrap_err(),
            Unchanged::Running
        );
        // The whole meeting can still be cancelled: that ends the running one too.
        assert_eq!(plan(&occ, at(0), false, false).unwrap().targets.len(), 2);
    }

    #[test]
    fn a_cancelled_meeting_is_not_cancelled_again() {
        let occ = [slot(30, Stage::Upcoming)];
        for only_next in [false, true] {
            assert_eq!(
                plan(&occ, at(0), only_next, true).unwrap_err(),
                Unchanged::AlreadyCancelled
            );
        }
    }
}
