//! Reading the start times people type, in their own time zone. Pure: the clock is passed in.
//!
//! Accepted forms (case-insensitive, extra spaces ignored, an optional `at`/`on` skipped):
//! - `2026-12-01 15:00`, `2026-12-01T15:00` — a local date and time in the given zone
//! - `15:00`, `9:30`, `3pm`, `3:15 pm`, `noon`, `midnight` — the next such time (today if still ahead)
//! - `today 18:00`, `tomorrow 9:30`
//! - `friday 18:00`, `fri 18:00` — the soonest Friday at 18:00 still ahead (today counts)
//! - `next friday 18:00` — the first Friday after today (today never counts)
//! - `in 2h`, `in 90 minutes`, `in 1h30m`, `in 2 days`
//! - RFC 3339 with an offset: `2026-12-01T15:00:00+01:00`, `2026-12-01T14:00Z`
//!
//! A date without a time (`2026-12-01`, `tomorrow`) is an error asking for a time: meetings have
//! no sensible default hour.

use crate::text::clip;
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// How far ahead [`parse_when`] accepts a time.
pub const DEFAULT_MAX_AHEAD_DAYS: i64 = 366;

const EXAMPLES: &str = "`2026-12-01 15:00`, `tomorrow 9:30`, `friday 18:00` or `in 2h`";

/// How much of the input a refusal quotes: enough to recognise it, never enough to swamp the reply.
const ECHO_CHARS: usize = 50;

/// The input as a refusal quotes it.
fn echo(input: &str) -> String {
    clip(input.trim(), ECHO_CHARS)
}

/// Why a typed time was not accepted. Each message says why and shows a form that works.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    /// Nothing recognisable as a time.
    #[error("I couldn't read \"{0}\" as a time; try {EXAMPLES}")]
    NotATime(String),
    /// A day was given without a time of day.
    #[error("\"{0}\" has no time of day; add one, e.g. `{0} 15:00`")]
    MissingTime(String),
    /// The time has already passed.
    #[error("{0} is in the past; pick a later time, e.g. `in 1h` or `tomorrow 9:30`")]
    InPast(String),
    /// The local time falls in a daylight-saving gap.
    #[error(
        "{local} does not exist in {zone}: the clocks skip it that night; \
         pick a time outside the gap, e.g. `{suggestion}`"
    )]
    NonexistentLocalTime {
        /// The local date and time typed.
        local: String,
        /// The zone's name.
        zone: String,
        /// The same wall-clock time an hour later.
        suggestion: String,
    },
    /// The local time happens twice (clocks go back).
    #[error(
        "{local} happens twice in {zone}: the clocks go back that night; \
         give the offset explicitly, e.g. `{first}` or `{second}`"
    )]
    AmbiguousLocalTime {
        /// The local date and time typed.
        local: String,
        /// The zone's name.
        zone: String,
        /// RFC 3339 form of the earlier instant.
        first: String,
        /// RFC 3339 form of the later instant.
        second: String,
    },
    /// Not a known IANA time zone.
    #[error("unknown time zone \"{0}\"; use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`")]
    UnknownTimeZone(String),
    /// A date so far from today that the calendar arithmetic itself runs out (chrono's dates end with
    /// the year 262142), which no limit on scheduling would accept anyway.
    #[error("\"{0}\" is too far away to schedule; try {EXAMPLES}")]
    OutOfRange(String),
    /// Further ahead than allowed.
    #[error(
        "that is more than {max_days} days ahead; pick a date before {limit}, e.g. `in 7 days`"
    )]
    TooFarAhead {
        /// The limit in days.
        max_days: i64,
        /// The last accepted date, as `YYYY-MM-DD`.
        limit: String,
    },
}

/// Reads a start time typed by a user in zone `tz`, relative to `now`; it must lie after `now`
/// and at most [`DEFAULT_MAX_AHEAD_DAYS`] ahead.
pub fn parse_when(input: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, WhenError> {
    parse_when_within(input, now, tz, Duration::days(DEFAULT_MAX_AHEAD_DAYS))
}

/// Like [`parse_when`] with an explicit limit on how far ahead the time may be.
pub fn parse_when_within(
    input: &str,
    now: DateTime<Utc>,
    tz: Tz,
    max_ahead: Duration,
) -> Result<DateTime<Utc>, WhenError> {
    let at = parse_any(input, now, tz)?;
    if at <= now {
        return Err(WhenError::InPast(
            at.with_timezone(&tz)
                .format("%a %-d %b %Y %H:%M %Z")
                .to_string(),
        ));
    }
    if at - now > max_ahead {
        // `at` exists, so `now + max_ahead` (which lies before it) does too.
        let limit = now.checked_add_signed(max_ahead).unwrap_or(at);
        return Err(WhenError::TooFarAhead {
            max_days: max_ahead.num_days(),
            limit: limit.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        });
    }
    Ok(at)
}

/// Which day a typed time refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
    Today,
    Tomorrow,
    Weekday { day: Weekday, skip_today: bool },
    Date(NaiveDate),
}

fn parse_any(input: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, WhenError> {
    let trimmed = input.trim();
    if let Some(at) = parse_with_offset(trimmed) {
        return Ok(at);
    }
    let text = trimmed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let not_a_time = || WhenError::NotATime(echo(trimmed));
    let out_of_range = || WhenError::OutOfRange(echo(trimmed));
    if text.is_empty() {
        return Err(not_a_time());
    }
    if let Some(rest) = text.strip_prefix("in ") {
        let span = parse_span(rest).ok_or_else(not_a_time)?;
        return now.checked_add_signed(span).ok_or_else(out_of_range);
    }

    // `2026-12-01t15:00` reads like `2026-12-01 15:00`.
    let text = split_iso_t(&text);
    let mut day = None;
    let mut clock = String::new();
    let mut tokens = text.split(' ').peekable();
    while let Some(tok) = tokens.next() {
        let found = match tok {
            "at" | "on" => continue,
            "today" => Some(Day::Today),
            "tomorrow" | "tmrw" | "tmr" => Some(Day::Tomorrow),
            "next" => match tokens.peek().and_then(|t| weekday(t)) {
                Some(w) => {
                    tokens.next();
                    Some(Day::Weekday {
                        day: w,
                        skip_today: true,
                    })
                }
                None => return Err(not_a_time()),
            },
            t => weekday(t)
                .map(|w| Day::Weekday {
                    day: w,
                    skip_today: false,
                })
                .or_else(|| parse_date(t).map(Day::Date)),
        };
        match found {
            Some(_) if day.is_some() => return Err(not_a_time()),
            Some(d) => day = Some(d),
            None => clock.push_str(tok),
        }
    }
    if clock.is_empty() {
        return Err(match day {
            Some(_) => WhenError::MissingTime(echo(trimmed)),
            None => not_a_time(),
        });
    }
    let time = parse_clock(&clock).ok_or_else(not_a_time)?;
    // Near the end of chrono's range the local time may not exist as a value even though `now` does.
    let local_now = now
        .naive_utc()
        .checked_add_offset(now.with_timezone(&tz).offset().fix())
        .ok_or_else(out_of_range)?;
    let today = local_now.date();
    let date = match day {
        None => {
            if today.and_time(time) > local_now {
                today
            } else {
                today.succ_opt().ok_or_else(out_of_range)?
            }
        }
        Some(Day::Today) => today,
        Some(Day::Tomorrow) => today.succ_opt().ok_or_else(out_of_range)?,
        Some(Day::Date(d)) => d,
        Some(Day::Weekday { day, skip_today }) => {
            let ahead =
                (7 + day.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
            let ahead = if ahead == 0 && (skip_today || today.and_time(time) <= local_now) {
                7
            } else {
                ahead
            };
            today
                .checked_add_days(chrono::Days::new(u64::from(ahead)))
                .ok_or_else(out_of_range)?
        }
    };
    resolve_local(date.and_time(time), tz)
}

/// The instant a local wall-clock time names in `tz`, refusing gaps and folds.
fn resolve_local(local: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, WhenError> {
    let shown = local.format("%Y-%m-%d %H:%M").to_string();
    // Within a day of chrono's first or last representable instant the UTC conversion (offsets are
    // under a day) would fall off the range, and chrono would call the time nonexistent rather
    // than unrepresentable. The suggestion below also needs the hour after.
    let day = Duration::days(1);
    if local.checked_sub_signed(day).is_none() || local.checked_add_signed(day).is_none() {
        return Err(WhenError::OutOfRange(shown));
    }
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => {
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            let rfc = |d: DateTime<Tz>| {
                d.with_timezone(&d.offset().fix())
                    .format("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            };
            Err(WhenError::AmbiguousLocalTime {
                local: shown,
                zone: tz.name().to_string(),
                first: rfc(first),
                second: rfc(second),
            })
        }
        LocalResult::None => Err(WhenError::NonexistentLocalTime {
            local: shown,
            zone: tz.name().to_string(),
            suggestion: local
                .checked_add_signed(Duration::hours(1))
                .unwrap_or(local)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
        }),
    }
}

/// RFC 3339 and its minute-precision cousin; the offset makes the zone irrelevant.
fn parse_with_offset(s: &str) -> Option<DateTime<Utc>> {
    let upper = s.to_uppercase();
    if let Ok(d) = DateTime::parse_from_rfc3339(&upper) {
        return Some(d.with_timezone(&Utc));
    }
    let upper = match upper.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => upper,
    };
    ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z", "%Y-%m-%dT%H:%M%z"]
        .iter()
        .find_map(|f| DateTime::<FixedOffset>::parse_from_str(&upper, f).ok())
        .map(|d| d.with_timezone(&Utc))
}

fn split_iso_t(text: &str) -> String {
    let b = text.as_bytes();
    if b.len() > 11 && b[10] == b't' && parse_date(&text[..10]).is_some() {
        format!("{} {}", &text[..10], &text[11..])
    } else {
        text.to_string()
    }
}

fn parse_date(t: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t, "%Y/%m/%d"))
        .ok()
        .filter(|_| t.len() >= 8)
}

fn weekday(t: &str) -> Option<Weekday> {
    Some(match t {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// `15:00`, `9:30`, `3pm`, `3:15pm`, `12am`, `noon`, `midnight` (spaces already removed).
fn parse_clock(s: &str) -> Option<NaiveTime> {
    match s {
        "noon" | "midday" => return NaiveTime::from_hms_opt(12, 0, 0),
        "midnight" => return NaiveTime::from_hms_opt(0, 0, 0),
        _ => {}
    }
    let s = s.replace('.', "");
    let (body, meridiem) = if let Some(b) = s.strip_suffix("am") {
        (b, Some(false))
    } else if let Some(b) = s.strip_suffix("pm") {
        (b, Some(true))
    } else {
        (s.as_str(), None)
    };
    let mut parts = body.split(':');
    let hour = parts.next().filter(|h| (1..=2).contains(&h.len()))?;
    let minute = parts.next();
    let second = parts.next();
    if parts.next().is_some() || !hour.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hour: u32 = hour.parse().ok()?;
    let two_digits = |x: &str| {
        (x.len() == 2 && x.bytes().all(|c| c.is_ascii_digit()))
            .then(|| x.parse::<u32>().ok())
            .flatten()
    };
    let minute = match minute {
        Some(m) => two_digits(m)?,
        // A bare number is a time only with am/pm: `15` alone could be anything.
        None if meridiem.is_some() => 0,
        None => return None,
    };
    let second = match second {
        Some(x) => two_digits(x)?,
        None => 0,
    };
    let hour = match meridiem {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(false) => hour % 12,
        Some(true) => hour % 12 + 12,
    };
    NaiveTime::from_hms_opt(hour, minute, second)
}

/// `2h`, `90 minutes`, `1h30m`, `1 hour 30 min`, `2 days`, `1w`.
fn parse_span(s: &str) -> Option<Duration> {
    let compact: String = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| *w != "and")
        .collect();
    let mut total = Duration::zero();
    let mut rest = compact.as_str();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let minutes = match unit {
            "m" | "min" | "mins" | "minute" | "minutes" => 1,
            "h" | "hr" | "hrs" | "hour" | "hours" => 60,
            "d" | "day" | "days" => 24 * 60,
            "w" | "wk" | "week" | "weeks" => 7 * 24 * 60,
            _ => return None,
        };
        total = total.checked_add(&Duration::try_minutes(n.checked_mul(minutes)?)?)?;
    }
    Some(total)
}

/// A preview of an instant in `tz` with how far off it is, e.g.
/// "Tue 1 Dec 2026 15:00 CET — in 3 days".
pub fn describe(at: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let local = at.with_timezone(&tz).format("%a %-d %b %Y %H:%M %Z");
    format!("{local} — {}", relative(at - now))
}

fn relative(d: Duration) -> String {
    let future = d >= Duration::zero();
    let d = if future { d } else { -d };
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let minutes = d.num_minutes();
    let amount = if minutes < 1 {
        return "now".to_string();
    } else if minutes < 60 {
        plural(minutes, "minute")
    } else if minutes < 24 * 60 {
        let (h, m) = (minutes / 60, minutes % 60);
        if m == 0 {
            plural(h, "hour")
        } else {
            format!("{} {}", plural(h, "hour"), plural(m, "minute"))
        }
    } else {
        plural(minutes / (24 * 60), "day")
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// An IANA time zone by name, case-insensitively (`europe/berlin`, `UTC`, `America/New York`).
pub fn parse_timezone(name: &str) -> Result<Tz, WhenError> {
    let wanted = name.trim().replace(' ', "_");
    if let Ok(tz) = wanted.parse::<Tz>() {
        return Ok(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .copied()
        .find(|tz| tz.name().eq_ignore_ascii_case(&wanted))
        .ok_or_else(|| WhenError::UnknownTimeZone(echo(name)))
}

/// Zones offered when nothing has been typed yet.
const COMMON_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
];

/// Zone names containing `typed` (case-insensitive; a space matches `_`), names starting with it
/// first, at most `limit` and never more than 25 (Discord's autocomplete cap).
pub fn timezone_suggestions(typed: &str, limit: usize) -> Vec<&'static str> {
    let limit = limit.min(25);
    let needle = typed.trim().replace(' ', "_").to_lowercase();
    if needle.is_empty() {
        return COMMON_ZONES.iter().copied().take(limit).collect();
    }
    let mut starts = Vec::new();
    let mut contains = Vec::new();
    for tz in chrono_tz::TZ_VARIANTS.iter() {
        let name = tz.name();
        let lower = name.to_lowercase();
        let city = lower.rsplit('/').next().unwrap_or_default();
        if lower.starts_with(&needle) || city.starts_with(&needle) {
            starts.push(name);
        } else if lower.contains(&needle) {
            contains.push(name);
        }
    }
    starts.sort_unstable();
    contains.sort_unstable();
    starts.into_iter().chain(contains).take(limit).collect()
}
