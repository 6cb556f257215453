//! The time parser and repeat rules, table-driven.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use chrono_tz::{America::New_York, Europe::Berlin};
use meetbot::schedule::{
    describe, parse_timezone, parse_when, parse_when_within, timezone_suggestions, Repeat,
    WhenError,
};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A local wall-clock time in `tz` (the earlier instant if it happens twice).
fn local(tz: Tz, s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    tz.from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn show(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Tuesday 1 Dec 2026, 11:00 in Berlin (CET, UTC+1).
fn now() -> DateTime<Utc> {
    utc("2026-12-01T10:00:00Z")
}

#[test]
fn every_accepted_form_reads_as_the_expected_instant() {
    let cases: &[(&str, &str)] = &[
        ("2026-12-01 15:00", "2026-12-01T14:00:00Z"),
        ("2026-12-01T15:00", "2026-12-01T14:00:00Z"),
        ("2026-12-01t15:00", "2026-12-01T14:00:00Z"),
        ("  2026-12-01    15:00  ", "2026-12-01T14:00:00Z"),
        ("2026/12/01 15:00", "2026-12-01T14:00:00Z"),
        ("2026-12-01 3pm", "2026-12-01T14:00:00Z"),
        // A bare time: today while still ahead, otherwise tomorrow.
        ("15:00", "2026-12-01T14:00:00Z"),
        ("9:30", "2026-12-02T08:30:00Z"),
        ("11:01", "2026-12-01T10:01:00Z"),
        ("11:00", "2026-12-02T10:00:00Z"),
        ("3pm", "2026-12-01T14:00:00Z"),
        ("3 PM", "2026-12-01T14:00:00Z"),
        ("3:15pm", "2026-12-01T14:15:00Z"),
        ("9am", "2026-12-02T08:00:00Z"),
        ("12pm", "2026-12-01T11:00:00Z"),
        ("noon", "2026-12-01T11:00:00Z"),
        ("12am", "2026-12-01T23:00:00Z"),
        ("midnight", "2026-12-01T23:00:00Z"),
        ("15:00:30", "2026-12-01T14:00:30Z"),
        ("tomorrow 9:30", "2026-12-02T08:30:00Z"),
        ("TOMORROW  at 9:30", "2026-12-02T08:30:00Z"),
        ("9:30 tomorrow", "2026-12-02T08:30:00Z"),
        ("today 18:00", "2026-12-01T17:00:00Z"),
        ("Today 6pm", "2026-12-01T17:00:00Z"),
        ("in 2h", "2026-12-01T12:00:00Z"),
        ("in 90 minutes", "2026-12-01T11:30:00Z"),
        ("in 1h30m", "2026-12-01T11:30:00Z"),
        ("in 1 hour 30 min", "2026-12-01T11:30:00Z"),
        ("IN 2 days", "2026-12-03T10:00:00Z"),
        ("in 1w", "2026-12-08T10:00:00Z"),
        // Weekdays: the soonest such day with that time still ahead.
        ("friday 18:00", "2026-12-04T17:00:00Z"),
        ("fri 18:00", "2026-12-04T17:00:00Z"),
        ("on Fri at 6pm", "2026-12-04T17:00:00Z"),
        ("tuesday 18:00", "2026-12-01T17:00:00Z"),
        ("tue 9:00", "2026-12-08T08:00:00Z"),
        ("monday 9:00", "2026-12-07T08:00:00Z"),
        // `next` never means today.
        ("next friday 18:00", "2026-12-04T17:00:00Z"),
        ("next tuesday 18:00", "2026-12-08T17:00:00Z"),
        // Offsets make the zone irrelevant.
        ("2026-12-01T15:00:00+01:00", "2026-12-01T14:00:00Z"),
        ("2026-12-01T15:00:00Z", "2026-12-01T15:00:00Z"),
        ("2026-12-01t15:00:00z", "2026-12-01T15:00:00Z"),
        ("2026-12-01T15:00+03:00", "2026-12-01T12:00:00Z"),
        ("2026-12-01T15:00Z", "2026-12-01T15:00:00Z"),
        ("2026-12-01 15:00+01:00", "2026-12-01T14:00:00Z"),
    ];
    for (input, want) in cases {
        assert_eq!(
            parse_when(input, now(), Berlin),
            Ok(utc(want)),
            "input {input:?}"
        );
    }
}

#[test]
fn the_same_words_mean_the_local_time_of_the_given_zone() {
    // 10:00 UTC is 05:00 in New York: 9:30 is still ahead today there.
    assert_eq!(
        parse_when("9:30", now(), New_York),
        Ok(utc("2026-12-01T14:30:00Z"))
    );
    assert_eq!(
        parse_when("9:30", now(), Berlin),
        Ok(utc("2026-12-02T08:30:00Z"))
    );
}

#[test]
fn each_kind_of_bad_input_gets_its_own_error() {
    type Check = fn(&WhenError) -> bool;
    let not_a_time: Check = |e| matches!(e, WhenError::NotATime(_));
    let missing: Check = |e| matches!(e, WhenError::MissingTime(_));
    let past: Check = |e| matches!(e, WhenError::InPast(_));
    let far: Check = |e| matches!(e, WhenError::TooFarAhead { max_days: 366, .. });
    let cases: &[(&str, Check)] = &[
        ("", not_a_time),
        ("   ", not_a_time),
        ("banana", not_a_time),
        ("25:00", not_a_time),
        ("15", not_a_time),
        ("9:5", not_a_time),
        ("13pm", not_a_time),
        ("0am", not_a_time),
        ("in", not_a_time),
        ("in 2 parsecs", not_a_time),
        ("in soon", not_a_time),
        ("friday friday 9:00", not_a_time),
        ("next 9:00", not_a_time),
        ("tomorrow 9:30 banana", not_a_time),
        ("2026-13-01 10:00", not_a_time),
        ("2026-12-01", missing),
        ("tomorrow", missing),
        ("next friday", missing),
        ("today 9:00", past),
        ("2026-11-30 15:00", past),
        ("in 0m", past),
        ("2026-12-01T10:00:00Z", past),
        ("2028-01-01 10:00", far),
        ("in 400 days", far),
    ];
    for (input, check) in cases {
        let got = parse_when(input, now(), Berlin);
        match &got {
            Err(e) if check(e) => {}
            other => panic!("input {input:?} gave {other:?}"),
        }
    }
}

#[test]
fn every_error_message_says_why_and_shows_a_form_that_works() {
    let errors = [
        parse_when("banana", now(), Berlin).unwrap_err(),
        parse_when("2026-12-01", now(), Berlin).unwrap_err(),
        parse_when("today 9:00", now(), Berlin).unwrap_err(),
        parse_when("2027-03-28 02:30", now(), Berlin).unwrap_err(),
        parse_when("2027-10-31 02:30", now(), Berlin).unwrap_err(),
        parse_when("2028-01-01 10:00", now(), Berlin).unwrap_err(),
        parse_timezone("Mars/Olympus").unwrap_err(),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(msg.contains('`'), "no example in {msg:?}");
    }
    assert_eq!(
        parse_when("2026-12-01", now(), Berlin)
            .unwrap_err()
            .to_string(),
        "\"2026-12-01\" has no time of day; add one, e.g. `2026-12-01 15:00`"
    );
    assert!(parse_when("2028-01-01 10:00", now(), Berlin)
        .unwrap_err()
        .to_string()
        .contains("before 2027-12-02"));
}

#[test]
fn a_custom_limit_bounds_how_far_ahead_a_time_may_be() {
    let week = Duration::days(7);
    assert_eq!(
        parse_when_within("2026-12-08 10:00", now(), Berlin, week),
        Ok(utc("2026-12-08T09:00:00Z"))
    );
    assert!(matches!(
        parse_when_within("2026-12-10 10:00", now(), Berlin, week),
        Err(WhenError::TooFarAhead { max_days: 7, .. })
    ));
}

#[test]
fn spring_gap_times_are_refused_naming_the_zone() {
    let cases = [
        (Berlin, "2027-03-28 02:30", "Europe/Berlin"),
        (New_York, "2027-03-14 02:30", "America/New_York"),
    ];
    for (tz, input, zone) in cases {
        let err = parse_when(input, now(), tz).unwrap_err();
        assert!(
            matches!(&err, WhenError::NonexistentLocalTime { zone: z, .. } if z == zone),
            "{input}: {err:?}"
        );
        assert!(err.to_string().contains(zone));
    }
    // Just outside the gap is fine.
    assert_eq!(
        parse_when("2027-03-28 03:00", now(), Berlin),
        Ok(utc("2027-03-28T01:00:00Z"))
    );
    assert_eq!(
        parse_when("2027-03-28 01:59", now(), Berlin),
        Ok(utc("2027-03-28T00:59:00Z"))
    );
}

#[test]
fn autumn_fold_times_ask_for_an_explicit_offset() {
    let err = parse_when("2027-10-31 02:30", now(), Berlin).unwrap_err();
    match &err {
        WhenError::AmbiguousLocalTime {
            zone,
            first,
            second,
            ..
        } => {
            assert_eq!(zone, "Europe/Berlin");
            assert_eq!(first, "2027-10-31T02:30:00+02:00");
            assert_eq!(second, "2027-10-31T02:30:00+01:00");
        }
        other => panic!("{other:?}"),
    }
    // The suggested forms are accepted and name different instants.
    assert_eq!(
        parse_when("2027-10-31T02:30:00+02:00", now(), Berlin),
        Ok(utc("2027-10-31T00:30:00Z"))
    );
    assert_eq!(
        parse_when("2027-10-31T02:30:00+01:00", now(), Berlin),
        Ok(utc("2027-10-31T01:30:00Z"))
    );
    // New York falls back from 02:00 to 01:00: 01:30 repeats, 02:30 does not.
    assert!(matches!(
        parse_when("2027-11-07 01:30", now(), New_York),
        Err(WhenError::AmbiguousLocalTime { .. })
    ));
    assert_eq!(
        parse_when("2027-11-07 02:30", now(), New_York),
        Ok(utc("2027-11-07T07:30:00Z"))
    );
}

#[test]
fn describe_shows_local_time_zone_and_distance() {
    let at = utc("2026-12-01T14:00:00Z");
    let cases = [
        (
            utc("2026-11-28T14:00:00Z"),
            "Tue 1 Dec 2026 15:00 CET — in 3 days",
        ),
        (
            utc("2026-11-30T13:00:00Z"),
            "Tue 1 Dec 2026 15:00 CET — in 1 day",
        ),
        (
            utc("2026-12-01T11:30:00Z"),
            "Tue 1 Dec 2026 15:00 CET — in 2 hours 30 minutes",
        ),
        (
            utc("2026-12-01T13:00:00Z"),
            "Tue 1 Dec 2026 15:00 CET — in 1 hour",
        ),
        (
            utc("2026-12-01T13:15:00Z"),
            "Tue 1 Dec 2026 15:00 CET — in 45 minutes",
        ),
        (
            utc("2026-12-01T13:59:30Z"),
            "Tue 1 Dec 2026 15:00 CET — now",
        ),
        (
            utc("2026-12-01T14:01:00Z"),
            "Tue 1 Dec 2026 15:00 CET — 1 minute ago",
        ),
    ];
    for (now, want) in cases {
        assert_eq!(describe(at, Berlin, now), want);
    }
    assert_eq!(
        describe(
            utc("2027-07-01T13:30:00Z"),
            New_York,
            utc("2027-06-24T13:30:00Z")
        ),
        "Thu 1 Jul 2027 09:30 EDT — in 7 days"
    );
}

#[test]
fn time_zones_are_found_by_name_case_insensitively() {
    let cases = [
        ("Europe/Berlin", Berlin),
        ("europe/berlin", Berlin),
        ("  EUROPE/BERLIN ", Berlin),
        ("America/New York", New_York),
        ("utc", chrono_tz::UTC),
    ];
    for (input, want) in cases {
        assert_eq!(parse_timezone(input), Ok(want), "{input:?}");
    }
    for bad in ["Mars/Olympus", "", "Berlin"] {
        assert!(
            matches!(parse_timezone(bad), Err(WhenError::UnknownTimeZone(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn timezone_suggestions_match_substrings_prefix_first_and_cap_at_25() {
    assert!(timezone_suggestions("berl", 10).contains(&"Europe/Berlin"));
    assert_eq!(timezone_suggestions("new y", 10)[0], "America/New_York");
    assert_eq!(
        timezone_suggestions("NEW_YORK", 10),
        vec!["America/New_York"]
    );
    let europe = timezone_suggestions("EUROPE/", 100);
    assert_eq!(europe.len(), 25);
    assert!(europe.iter().all(|z| z.starts_with("Europe/")));
    let york = timezone_suggestions("york", 25);
    assert!(york.contains(&"America/New_York"));
    assert!(timezone_suggestions("zzzz", 25).is_empty());
    assert_eq!(timezone_suggestions("", 3).len(), 3);
    assert!(timezone_suggestions("", 25).contains(&"UTC"));
    assert_eq!(timezone_suggestions("a", 5).len(), 5);
}

#[test]
fn repeat_rules_read_and_print_their_names() {
    let names = ["none", "daily", "weekdays", "weekly", "biweekly", "monthly"];
    for (rule, name) in Repeat::ALL.iter().zip(names) {
        assert_eq!(rule.to_string(), name);
        assert_eq!(name.parse::<Repeat>(), Ok(*rule));
    }
    assert_eq!(" Weekly ".parse::<Repeat>(), Ok(Repeat::Weekly));
    assert!("hourly".parse::<Repeat>().is_err());
}

#[test]
fn next_occurrence_follows_the_rule_on_the_local_wall_clock() {
    // (rule, zone, first start local, after local, expected next local)
    let cases: &[(Repeat, Tz, &str, &str, Option<&str>)] = &[
        // A one-off has only its own start.
        (
            Repeat::None,
            Berlin,
            "2026-12-04 09:30",
            "2026-12-01 09:30",
            Some("2026-12-04 09:30"),
        ),
        (
            Repeat::None,
            Berlin,
            "2026-12-04 09:30",
            "2026-12-04 09:30",
            None,
        ),
        // Strictly after: an occurrence at `after` itself does not count.
        (
            Repeat::Daily,
            Berlin,
            "2026-12-01 09:30",
            "2026-12-01 09:30",
            Some("2026-12-02 09:30"),
        ),
        (
            Repeat::Daily,
            Berlin,
            "2026-12-01 09:30",
            "2026-12-01 09:29",
            Some("2026-12-01 09:30"),
        ),
        (
            Repeat::Daily,
            Berlin,
            "2026-01-01 09:30",
            "2026-12-01 12:00",
            Some("2026-12-02 09:30"),
        ),
        // Weekdays skip the weekend.
        (
            Repeat::Weekdays,
            Berlin,
            "2026-12-04 09:30",
            "2026-12-04 09:30",
            Some("2026-12-07 09:30"),
        ),
        (
            Repeat::Weekdays,
            Berlin,
            "2026-12-04 09:30",
            "2026-12-05 12:00",
            Some("2026-12-07 09:30"),
        ),
        (
            Repeat::Weekdays,
            Berlin,
            "2026-12-04 09:30",
            "2026-12-07 10:00",
            Some("2026-12-08 09:30"),
        ),
        (
            Repeat::Weekly,
            Berlin,
            "2026-12-01 09:30",
            "2026-12-01 09:30",
            Some("2026-12-08 09:30"),
        ),
        (
            Repeat::Weekly,
            Berlin,
            "2026-12-01 09:30",
            "2027-02-10 00:00",
            Some("2027-02-16 09:30"),
        ),
        (
            Repeat::Biweekly,
            Berlin,
            "2026-12-01 09:30",
            "2026-12-01 09:30",
            Some("2026-12-15 09:30"),
        ),
        (
            Repeat::Biweekly,
            Berlin,
            "2026-12-01 09:30",
            "2026-12-16 00:00",
            Some("2026-12-29 09:30"),
        ),
        // Monthly on the 31st: the last day of shorter months, back to the 31st after.
        (
            Repeat::Monthly,
            Berlin,
            "2027-01-31 10:00",
            "2027-01-31 10:00",
            Some("2027-02-28 10:00"),
        ),
        (
            Repeat::Monthly,
            Berlin,
            "2027-01-31 10:00",
            "2027-02-28 10:00",
            Some("2027-03-31 10:00"),
        ),
        (
            Repeat::Monthly,
            Berlin,
            "2027-01-31 10:00",
            "2027-03-31 10:00",
            Some("2027-04-30 10:00"),
        ),
        (
            Repeat::Monthly,
            Berlin,
            "2027-12-31 10:00",
            "2028-01-31 10:00",
            Some("2028-02-29 10:00"),
        ),
        (
            Repeat::Monthly,
            Berlin,
            "2026-12-15 10:00",
            "2027-06-20 10:00",
            Some("2027-07-15 10:00"),
        ),
    ];
    for (rule, tz, first, after, want) in cases {
        let got = rule.next_after(local(*tz, first), *tz, local(*tz, after));
        assert_eq!(
            got.map(|g| show(*tz, g)),
            want.map(|w| show(*tz, local(*tz, w))),
            "{rule} from {first}, after {after}"
        );
    }
}

#[test]
fn repeats_keep_local_half_past_nine_across_dst_changes() {
    // (rule, zone, first start UTC, after UTC, expected UTC): the UTC hour shifts, 09:30 stays.
    let cases = [
        // Berlin springs forward on 28 Mar 2027: 08:30Z (CET) becomes 07:30Z (CEST).
        (
            Repeat::Daily,
            Berlin,
            "2027-03-27T08:30:00Z",
            "2027-03-27T08:30:00Z",
            "2027-03-28T07:30:00Z",
        ),
        (
            Repeat::Weekly,
            Berlin,
            "2027-03-22T08:30:00Z",
            "2027-03-22T08:30:00Z",
            "2027-03-29T07:30:00Z",
        ),
        // Berlin falls back on 31 Oct 2027.
        (
            Repeat::Weekly,
            Berlin,
            "2027-10-25T07:30:00Z",
            "2027-10-25T07:30:00Z",
            "2027-11-01T08:30:00Z",
        ),
        // New York: 7 Nov 2027 falls back (EDT→EST), 14 Mar 2027 springs forward.
        (
            Repeat::Weekly,
            New_York,
            "2027-11-01T13:30:00Z",
            "2027-11-01T13:30:00Z",
            "2027-11-08T14:30:00Z",
        ),
        (
            Repeat::Weekdays,
            New_York,
            "2027-03-12T14:30:00Z",
            "2027-03-12T14:30:00Z",
            "2027-03-15T13:30:00Z",
        ),
        (
            Repeat::Monthly,
            New_York,
            "2027-02-14T14:30:00Z",
            "2027-02-14T14:30:00Z",
            "2027-03-14T13:30:00Z",
        ),
    ];
    for (rule, tz, first, after, want) in cases {
        let got = rule.next_after(utc(first), tz, utc(after)).unwrap();
        assert_eq!(got, utc(want), "{rule} from {first}");
        assert_eq!(got.with_timezone(&tz).format("%H:%M").to_string(), "09:30");
    }
}

#[test]
fn repeat_in_a_spring_gap_moves_forward_past_the_gap_and_a_fold_takes_the_earlier_instant() {
    let cases = [
        // Daily 02:30 Berlin: 28 Mar 2027 has no 02:30, read with CET it is 03:30 CEST.
        (
            Berlin,
            "2027-03-27T01:30:00Z",
            "2027-03-27T01:30:00Z",
            "2027-03-28T01:30:00Z",
            "03:30",
        ),
        (
            Berlin,
            "2027-03-27T01:30:00Z",
            "2027-03-28T01:30:00Z",
            "2027-03-29T00:30:00Z",
            "02:30",
        ),
        (
            New_York,
            "2027-03-13T07:30:00Z",
            "2027-03-13T07:30:00Z",
            "2027-03-14T07:30:00Z",
            "03:30",
        ),
        // Folds: 02:30 twice in Berlin on 31 Oct 2027, 01:30 twice in New York on 7 Nov 2027.
        (
            Berlin,
            "2027-10-30T00:30:00Z",
            "2027-10-30T00:30:00Z",
            "2027-10-31T00:30:00Z",
            "02:30",
        ),
        (
            New_York,
            "2027-11-06T05:30:00Z",
            "2027-11-06T05:30:00Z",
            "2027-11-07T05:30:00Z",
            "01:30",
        ),
    ];
    for (tz, first, after, want, want_local) in cases {
        let got = Repeat::Daily
            .next_after(utc(first), tz, utc(after))
            .unwrap();
        assert_eq!(got, utc(want), "from {first} after {after}");
        assert_eq!(
            got.with_timezone(&tz).format("%H:%M").to_string(),
            want_local
        );
    }
}
