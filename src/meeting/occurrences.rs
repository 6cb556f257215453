//! A meeting's occurrences as the core's rules see them: when each one runs and whether it may still take place,
//! and which one a link or an invitation is for now.

use chrono::{DateTime, Duration, Utc};

/// Where one occurrence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not started yet.
    Upcoming,
    /// Running now.
    Running,
    /// Ended or cancelled: it will not take place (again).
    Over,
}

/// One occurrence: when it runs, where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// Its end.
    pub ends_at: DateTime<Utc>,
    /// Where it stands.
    pub stage: Stage,
}

/// Anything that is one occurrence of a meeting (the store's record, or a [`Slot`] itself).
pub trait Timed {
    /// The occurrence as the rules see it.
    fn slot(&self) -> Slot;
}

impl Timed for Slot {
    fn slot(&self) -> Slot {
        *self
    }
}

impl Slot {
    /// Whether it may still take place at `now`: not over, and its end plus `slack` not passed.
    pub fn is_pending(&self, now: DateTime<Utc>, slack: Duration) -> bool {
        self.stage != Stage::Over && self.ends_at + slack > now
    }
}

/// The occurrences that may still take place at `now`, in the order given.
pub fn pending<T: Timed>(occurrences: &[T], now: DateTime<Utc>) -> Vec<&T> {
    occurrences
        .iter()
        .filter(|o| o.slot().is_pending(now, Duration::zero()))
        .collect()
}

/// The occurrence a link or an invitation is for at `now`: the running one, else the next. `slack` keeps one
/// that has just ended current a little longer (a meeting's links work for a grace period after its end).
pub fn current<T: Timed>(occurrences: &[T], now: DateTime<Utc>, slack: Duration) -> Option<&T> {
    occurrences
        .iter()
        .filter(|o| o.slot().is_pending(now, slack))
        .min_by_key(|o| o.slot().starts_at)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Noon on a fixed day, plus `minutes`.
    pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    /// An hour-long occurrence starting `start` minutes after noon.
    pub(crate) fn slot(start: i64, stage: Stage) -> Slot {
        Slot {
            starts_at: at(start),
            ends_at: at(start + 60),
            stage,
        }
    }

    #[test]
    fn the_running_occurrence_is_current_before_the_next_one() {
        let week = 7 * 24 * 60;
        let occ = [
            slot(week, Stage::Upcoming),
            slot(0, Stage::Running),
            slot(-week, Stage::Over),
        ];
        assert_eq!(current(&occ, at(30), Duration::zero()), Some(&occ[1]));
        // After the running one ended, the next week's is current; within the slack, the ended one still is.
        assert_eq!(current(&occ, at(61), Duration::zero()), Some(&occ[0]));
        assert_eq!(current(&occ, at(61), Duration::minutes(15)), Some(&occ[1]));
    }

    #[test]
    fn over_or_past_occurrences_are_not_pending() {
        let occ = [
            slot(-120, Stage::Upcoming),
            slot(-30, Stage::Running),
            slot(60, Stage::Over),
            slot(60, Stage::Upcoming),
        ];
        assert_eq!(pending(&occ, at(0)), vec![&occ[1], &occ[3]]);
        assert_eq!(current(&occ, at(0), Duration::zero()), Some(&occ[1]));
        assert_eq!(current(&occ[..1], at(0), Duration::zero()), None);
    }
}
