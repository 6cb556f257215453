//! Repeat rules: when the next occurrence of a meeting falls, in the meeting's own zone.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// How a meeting repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Repeat {
    /// Once.
    #[default]
    None,
    /// Every day.
    Daily,
    /// Monday to Friday.
    Weekdays,
    /// Every 7 days.
    Weekly,
    /// Every 14 days.
    Biweekly,
    /// The same day each month (the last day when a month is shorter).
    Monthly,
}

/// The text was not a repeat rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown repeat \"{0}\"; use one of: none, daily, weekdays, weekly, biweekly, monthly")]
pub struct UnknownRepeat(pub String);

impl Repeat {
    /// Every rule, in the order they are offered.
    pub const ALL: [Repeat; 6] = [
        Repeat::None,
        Repeat::Daily,
        Repeat::Weekdays,
        Repeat::Weekly,
        Repeat::Biweekly,
        Repeat::Monthly,
    ];

    /// The rule's name as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::None => "none",
            Repeat::Daily => "daily",
            Repeat::Weekdays => "weekdays",
            Repeat::Weekly => "weekly",
            Repeat::Biweekly => "biweekly",
            Repeat::Monthly => "monthly",
        }
    }

    /// The first occurrence strictly after `after` of a series that starts at `first_start`.
    ///
    /// Computed on the wall clock of `tz`, so a 9:30 meeting stays at 9:30 local across DST. A
    /// local time that does not exist that day (spring gap) is read with the offset in force
    /// before the gap, which moves it forward by the gap's length (02:30 becomes 03:30), as
    /// RFC 5545 does; a time that happens twice (autumn fold) takes the earlier instant.
    /// `None` when the series has no such occurrence (a one-off already past).
    pub fn next_after(
        self,
        first_start: DateTime<Utc>,
        tz: Tz,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if first_start > after {
            return Some(first_start);
        }
        let local_first = first_start.with_timezone(&tz).naive_local();
        let first_day = local_first.date();
        let time = local_first.time();
        let after_day = after.with_timezone(&tz).date_naive();
        // Start a step or two before `after` rather than walking from the first occurrence.
        let days_between = (after_day - first_day).num_days().max(0);
        let (start_step, max_steps) = match self {
            Repeat::None => return None,
            Repeat::Daily | Repeat::Weekdays => (days_between - 2, 16),
            Repeat::Weekly => (days_between / 7 - 1, 4),
            Repeat::Biweekly => (days_between / 14 - 1, 4),
            Repeat::Monthly => {
                let months = (after_day.year() - first_day.year()) * 12 + after_day.month() as i32
                    - first_day.month() as i32;
                (i64::from(months) - 1, 4)
            }
        };
        (start_step.max(0)..start_step.max(0) + max_steps)
            .filter_map(|step| self.nth_day(first_day, step))
            .map(|day| resolve_forward(day.and_time(time), tz))
            .find(|at| *at > after)
    }

    /// The start of the `times`-th occurrence (1: the first) of a series that starts at `first_start`; `None` when
    /// the series has fewer (a one-off asked for two).
    pub fn nth_start(
        self,
        first_start: DateTime<Utc>,
        tz: Tz,
        times: u32,
    ) -> Option<DateTime<Utc>> {
        let mut at = first_start;
        for _ in 1..times {
            at = self.next_after(first_start, tz, at)?;
        }
        Some(at)
    }

    /// The last start a series that ends on `last_day` (in `tz`, that day included) may have: the last instant of
    /// that day.
    pub fn last_start_on(last_day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
        let next_day = last_day.succ_opt()?.and_hms_opt(0, 0, 0)?;
        Some(resolve_forward(next_day, tz) - Duration::seconds(1))
    }

    /// The date of the `step`-th candidate day, or `None` when that day is skipped.
    fn nth_day(self, first_day: NaiveDate, step: i64) -> Option<NaiveDate> {
        match self {
            Repeat::None => (step == 0).then_some(first_day),
            Repeat::Daily => first_day.checked_add_signed(Duration::days(step)),
            Repeat::Weekdays => first_day
                .checked_add_signed(Duration::days(step))
                .filter(|d| step == 0 || !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)),
            Repeat::Weekly => first_day.checked_add_signed(Duration::days(7 * step)),
            Repeat::Biweekly => first_day.checked_add_signed(Duration::days(14 * step)),
            Repeat::Monthly => {
                // Counting from the first day (not the previous occurrence) keeps the 31st
                // after a clamped 30th.
                let month_start = first_day.with_day(1)?;
                let target =
                    month_start.checked_add_months(Months::new(u32::try_from(step).ok()?))?;
                let last = last_day_of_month(target)?;
                target.with_day(first_day.day().min(last))
            }
        }
    }
}

fn last_day_of_month(d: NaiveDate) -> Option<u32> {
    let next = d.with_day(1)?.checked_add_months(Months::new(1))?;
    Some(next.pred_opt()?.day())
}

/// The instant of a wall-clock time in `tz`: the earlier one in a fold; in a gap, the time read
/// with the offset from before the gap.
fn resolve_forward(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // Gaps are at most a few hours; a day earlier is safely before it.
            let before = tz
                .from_local_datetime(&(local - Duration::days(1)))
                .earliest()
                .map(|d| d.offset().fix())
                .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
            (local - Duration::seconds(i64::from(before.local_minus_utc()))).and_utc()
        }
    }
}

impl fmt::Display for Repeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Repeat {
    type Err = UnknownRepeat;
    fn from_str(s: &str) -> Result<Self, UnknownRepeat> {
        let wanted = s.trim().to_lowercase();
        Repeat::ALL
            .into_iter()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| UnknownRepeat(s.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_of_n_ends_at_its_nth_start_and_an_end_date_at_the_end_of_that_day() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let first = Utc.with_ymd_and_hms(2026, 12, 1, 8, 30, 0).unwrap(); // Tue 9:30 Berlin
        assert_eq!(Repeat::Weekly.nth_start(first, tz, 1), Some(first));
        assert_eq!(
            Repeat::Weekly.nth_start(first, tz, 3),
            Some(Utc.with_ymd_and_hms(2026, 12, 15, 8, 30, 0).unwrap())
        );
        // Weekdays skip the weekend: the 5th from a Tuesday is the next Monday.
        assert_eq!(
            Repeat::Weekdays.nth_start(first, tz, 5),
            Some(Utc.with_ymd_and_hms(2026, 12, 7, 8, 30, 0).unwrap())
        );
        assert_eq!(Repeat::None.nth_start(first, tz, 2), None);
        let day = NaiveDate::from_ymd_opt(2027, 1, 31).unwrap();
        assert_eq!(
            Repeat::last_start_on(day, tz),
            Some(Utc.with_ymd_and_hms(2027, 1, 31, 22, 59, 59).unwrap())
        );
    }
}
