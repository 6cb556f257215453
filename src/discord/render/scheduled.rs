//! The messages of a scheduled meeting: `/meet when:`'s reply, `/meetings` pages and answers, the announcement and
//! its states, reminder and cancellation DMs, and why a Join click gives no link yet.

use super::{escape, plural, public_post, role_label, ts, MAX_CONTENT};
use crate::jitsi::Link;
use crate::meeting::access::Denial;
use crate::meeting::cancel::Unchanged;
use crate::meeting::join::NoLink;
use crate::store::{Meeting, Occurrence, OccurrenceStatus};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The answer about a meeting that does not exist in this server, or that the asker may not know of.
pub const UNKNOWN_MEETING: &str =
    "I know no such meeting in this server. Pick one from the list as you type.";

/// What `/meet when:` tells the host about the meeting it scheduled.
#[derive(Debug, Clone)]
pub struct ScheduledReply<'a> {
    /// The topic as typed.
    pub topic: &'a str,
    /// The first start.
    pub starts_at: DateTime<Utc>,
    /// How it repeats, when it does.
    pub repeat: Option<String>,
    /// Invite only: no announcement.
    pub private: bool,
    /// Where the announcement goes.
    pub channel_id: u64,
    /// How many people get their link by DM.
    pub invitees: usize,
    /// Minutes before the start the links are DMed (0: at the start).
    pub remind_minutes: u32,
    /// Minutes before the start links open.
    pub join_window_minutes: u64,
    /// The stored meeting's id.
    pub meeting_id: &'a str,
    /// The bot may not create Discord events here.
    pub no_events: bool,
    /// Its occurrences get a Discord event.
    pub discord_event: bool,
    /// `@everyone` cannot see the announcement's channel.
    pub channel_hidden: bool,
}

/// The host's reply to `/meet when:`.
pub fn scheduled_reply(r: &ScheduledReply<'_>) -> String {
    let mut text = format!(
        "Scheduled **{}** for {} ({}){}.\n",
        escape(r.topic),
        ts(r.starts_at, 'F'),
        ts(r.starts_at, 'R'),
        r.repeat
            .as_ref()
            .map(|rep| format!(", repeating {rep}"))
            .unwrap_or_default(),
    );
    if r.private {
        text.push_str("It is private: no announcement; ");
    } else {
        text.push_str(&format!("The announcement goes to <#{}>; ", r.channel_id));
    }
    text.push_str(&format!(
        "{} invitee{} get their personal link by DM {}.\nLinks open {} minutes before the start. Meeting id: `{}`.",
        r.invitees,
        plural(r.invitees),
        if r.remind_minutes == 0 {
            "at the start".to_string()
        } else {
            format!("{} minutes before", r.remind_minutes)
        },
        r.join_window_minutes,
        r.meeting_id,
    ));
    if r.channel_hidden && !r.discord_event {
        text.push_str(&format!(
            "\nNo Discord event: <#{}> is not visible to everyone, and events are visible to the whole server. Add `event: true` if the whole server may know of it.",
            r.channel_id
        ));
    } else if r.channel_hidden {
        text.push_str(&format!(
            "\nIts Discord event is visible to the whole server, though <#{}> is not (you asked for it); links still go only to those who can see the channel, the invitees and moderators.",
            r.channel_id
        ));
    }
    if r.no_events && r.discord_event {
        text.push_str("\nNote: I lack the **Create Events** permission, so there will be no Discord event for it (the announcement still goes out).");
    }
    text
}

/// One page of `/meetings list`: `rows` holds up to `per_page + 1` upcoming occurrences (one more tells that there
/// is a next page); `live[i]`, when given, is how many are in the call of `rows[i]` now, which Jitsi says is live.
pub fn upcoming_page(
    rows: &[(Meeting, Occurrence)],
    live: &[Option<u32>],
    page: u32,
    per_page: u32,
) -> String {
    if rows.is_empty() {
        return if page == 1 {
            "No upcoming meetings. Schedule one with `/meet when:…`.".into()
        } else {
            format!("There is no page {page}.")
        };
    }
    let more = rows.len() > per_page as usize;
    let mut s = format!("**Upcoming meetings** (page {page})\n");
    for (i, (m, o)) in rows.iter().take(per_page as usize).enumerate() {
        let now = match live.get(i).copied().flatten() {
            Some(n) => format!(" · 🟢 **live**, {n} in the call"),
            None if o.status == OccurrenceStatus::Started => " · **now**".to_string(),
            None => String::new(),
        };
        let line = format!(
            "• **{}** — {} ({}){}{} · host <@{}> · `{}`\n",
            escape(&m.topic),
            ts(o.starts_at, 'F'),
            ts(o.starts_at, 'R'),
            if m.repeat != "none" {
                format!(
                    " · {}{}",
                    m.repeat,
                    m.repeat_until
                        .map(|u| series_end_label(u, None))
                        .unwrap_or_default()
                )
            } else {
                String::new()
            },
            now,
            m.host_id,
            m.id
        );
        if s.len() + line.len() > MAX_CONTENT - 60 {
            break;
        }
        s.push_str(&line);
    }
    if more {
        s.push_str(&format!(
            "More: `/meetings list page:{}`",
            page.saturating_add(1)
        ));
    }
    s
}

/// The reply to `/meetings cancel`: what was cancelled, and how many link holders were told.
pub fn cancelled_reply(topic: &str, only_next: bool, told: usize) -> String {
    format!(
        "Cancelled **{}**{}. {}",
        escape(topic),
        if only_next {
            " (the next occurrence only)"
        } else {
            ""
        },
        if told > 0 {
            format!(
                "{told} invitee{} who already had a link were told.",
                plural(told)
            )
        } else {
            String::new()
        }
    )
}

/// Why `/meetings cancel` changed nothing.
pub fn cancel_unchanged(topic: &str, why: Unchanged) -> String {
    let topic = escape(topic);
    match why {
        Unchanged::AlreadyCancelled => {
            format!("**{topic}** was already cancelled; nothing changed and nobody was told again.")
        }
        Unchanged::NothingLeft => {
            format!("**{topic}** has no occurrence left to cancel; nothing changed.")
        }
        Unchanged::Running => format!(
            "The next occurrence of **{topic}** is running now, so `only_next` would not take anyone's link back. Cancel the whole meeting (its links stop at once), or let this one end; nothing changed."
        ),
    }
}

/// The DM to someone who already got a link for an occurrence that was then cancelled.
pub fn cancellation_dm(topic: &str, starts_at: DateTime<Utc>) -> Value {
    let content = format!(
        "❌ **{}** ({}) was cancelled. The link you got for it no longer matters.",
        escape(topic),
        ts(starts_at, 'F')
    );
    json!({ "content": content, "allowed_mentions": { "parse": [] } })
}

/// Why a Join click or `/meetings link` gives no link, for a meeting about `topic`.
pub fn no_link(topic: &str, why: &NoLink) -> String {
    match why {
        NoLink::Cancelled => "This meeting was cancelled.".into(),
        NoLink::Ended => "This meeting has ended.".into(),
        NoLink::NotYetOpen { opens_at, window } => format!(
            "Links for **{}** open {} ({}), {} minutes before the start. Come back then.",
            escape(topic),
            ts(*opens_at, 'R'),
            ts(*opens_at, 't'),
            window.num_minutes()
        ),
        // Whoever the rule refuses is not told the meeting exists: its topic, host and id stay with those it admits.
        NoLink::Denied(Denial::Private | Denial::Channel) => UNKNOWN_MEETING.into(),
    }
}

/// The ephemeral answer with a person's own link for a scheduled meeting's occurrence.
pub fn scheduled_join_reply(
    topic: &str,
    starts_at: DateTime<Utc>,
    until: DateTime<Utc>,
    moderator: bool,
    link: &Link,
) -> String {
    format!(
        "Your personal link for **{}** ({}, works until {}). You join as {}.\n**[Open your personal meeting link](<{}>)** — it is yours alone.",
        escape(topic),
        ts(starts_at, 'F'),
        ts(until, 't'),
        role_label(moderator),
        link.expose()
    )
}

/// The reminder DM with a personal link for one occurrence; the link works from `opens_at`.
pub fn reminder_dm(
    topic: &str,
    guild: &str,
    occ: &Occurrence,
    opens_at: DateTime<Utc>,
    link: &Link,
    moderator: bool,
) -> Value {
    let content = format!(
        "**{}** on **{}** starts {} ({}) and runs until {}.\nYou join as {}. The link works from {}.\n**[Open your personal meeting link](<{}>)**\n-# This link is yours alone: it carries your name and your role. Don't forward it.",
        escape(topic),
        escape(guild),
        ts(occ.starts_at, 'R'),
        ts(occ.starts_at, 't'),
        ts(occ.ends_at, 't'),
        role_label(moderator),
        ts(opens_at, 't'),
        link.expose(),
    );
    json!({ "content": content, "allowed_mentions": { "parse": [] } })
}

/// The note posted in the channel when a public meeting's reminders go out.
pub fn starting_note(topic: &str, starts_at: DateTime<Utc>) -> Value {
    json!({
        "content": format!("⏰ **{}** starts {}. Invitees have their links by DM; everyone else can press **Join** on the announcement.", escape(topic), ts(starts_at, 'R')),
        "allowed_mentions": { "parse": [] },
    })
}

/// Where a scheduled meeting's announcement says the occurrence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnouncementState {
    /// Not started; links open at the given time.
    LinksOpen(DateTime<Utc>),
    /// Announced late, this many minutes after the start.
    StartedMinutesAgo(i64),
    /// Started at the given time.
    Started(DateTime<Utc>),
    /// Ended at the given time.
    Ended(DateTime<Utc>),
    /// Cancelled.
    Cancelled,
}

impl AnnouncementState {
    /// Whether pressing Join still makes sense: cancelled and ended meetings lose their button.
    pub fn keeps_join_button(self) -> bool {
        !matches!(self, Self::Ended(_) | Self::Cancelled)
    }

    fn line(self) -> String {
        match self {
            Self::LinksOpen(opens) => format!(
                "Press **Join** for your own personal link; links open {}.",
                ts(opens, 'R')
            ),
            Self::StartedMinutesAgo(m) => {
                format!("🟢 Started {m} minutes ago. Press **Join** for your own personal link.")
            }
            Self::Started(at) => format!(
                "🟢 Started {}. Press **Join** for your own personal link.",
                ts(at, 'R')
            ),
            Self::Ended(at) => format!("🏁 Ended {}.", ts(at, 'R')),
            Self::Cancelled => "❌ Cancelled.".into(),
        }
    }
}

/// A scheduled meeting's announcement for one occurrence; `join_custom_id` is its Join button while it keeps one.
pub fn scheduled_announcement(
    m: &Meeting,
    occ: &Occurrence,
    state: AnnouncementState,
    join_custom_id: &str,
    pinged_roles: &[u64],
) -> Value {
    let headline = format!(
        "📅 **{}** — hosted by <@{}>\n{} ({}) until {}{}",
        escape(&m.topic),
        m.host_id,
        ts(occ.starts_at, 'F'),
        ts(occ.starts_at, 'R'),
        ts(occ.ends_at, 't'),
        if m.repeat != "none" {
            format!(
                " · repeats {}{}",
                m.repeat,
                m.repeat_until
                    .map(|u| series_end_label(u, None))
                    .unwrap_or_default()
            )
        } else {
            String::new()
        },
    );
    public_post(
        &headline,
        &m.invitee_user_ids,
        &m.invitee_role_ids,
        pinged_roles,
        &state.line(),
        state.keeps_join_button().then_some(join_custom_id),
    )
}

/// How a repeating series ends, after its rule: ", 5 times, the last <date>" or ", until <date>".
pub fn series_end_label(last: DateTime<Utc>, times: Option<i64>) -> String {
    match times {
        Some(n) => format!(", {n} times, the last {}", ts(last, 'D')),
        None => format!(", until {}", ts(last, 'D')),
    }
}

/// The refusal when the host or the server already has as many meetings still to come as allowed.
pub fn future_cap_reached(
    counts: &crate::store::FutureCounts,
    caps: &crate::store::FutureCaps,
) -> String {
    if counts.by_host >= caps.per_host {
        format!(
            "You already host {} upcoming meetings here, the most one person may; cancel one with `/meetings cancel` first. Nothing was scheduled.",
            counts.by_host
        )
    } else {
        format!(
            "This server already has {} upcoming meetings, the most it may; cancel one with `/meetings cancel` first. Nothing was scheduled.",
            counts.in_guild
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::render::tests::link;
    use crate::store::{MeetingStatus, OccurrenceStatus};
    use chrono::{Duration, TimeZone};

    fn start() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn meeting(topic: &str) -> Meeting {
        Meeting {
            id: "AbCdEf123456".into(),
            guild_id: 100,
            channel_id: 200,
            host_id: 1,
            topic: topic.into(),
            room: "room".into(),
            created_at: start() - Duration::days(1),
            starts_at: start(),
            duration_minutes: 60,
            timezone: "UTC".into(),
            repeat: "weekly".into(),
            repeat_until: None,
            remind_minutes: Some(10),
            invitee_user_ids: vec![2],
            invitee_role_ids: vec![9],
            private: false,
            discord_event: true,
            status: MeetingStatus::Active,
        }
    }

    fn occurrence(status: OccurrenceStatus) -> Occurrence {
        Occurrence {
            id: 7,
            meeting_id: "AbCdEf123456".into(),
            starts_at: start(),
            ends_at: start() + Duration::hours(1),
            status,
            announcement_message_id: None,
            discord_event_id: None,
            reminded_at: None,
        }
    }

    #[test]
    fn an_ended_or_cancelled_announcement_loses_its_join_button() {
        let m = meeting("*Weekly* @here");
        let occ = occurrence(OccurrenceStatus::Scheduled);
        let open = scheduled_announcement(
            &m,
            &occ,
            AnnouncementState::LinksOpen(start()),
            "mm1:x",
            &[9],
        );
        let content = open["content"].as_str().unwrap();
        assert!(content.contains("\\*Weekly\\* \\@here") && content.contains("repeats weekly"));
        assert!(content.contains(&format!("links open <t:{}:R>", start().timestamp())));
        assert_eq!(open["components"][0]["components"][0]["custom_id"], "mm1:x");
        assert_eq!(open["allowed_mentions"]["users"], json!(["2"]));
        for state in [
            AnnouncementState::Ended(start()),
            AnnouncementState::Cancelled,
        ] {
            let closed = scheduled_announcement(&m, &occ, state, "mm1:x", &[]);
            assert_eq!(closed["components"], json!([]), "{state:?}");
        }
        assert!(AnnouncementState::StartedMinutesAgo(3).keeps_join_button());
    }

    #[test]
    fn no_link_says_when_links_open_and_why_a_private_meeting_refuses() {
        let opens = start() - Duration::minutes(10);
        let not_yet = no_link(
            "Stand-up",
            &NoLink::NotYetOpen {
                opens_at: opens,
                window: Duration::minutes(10),
            },
        );
        assert!(not_yet.contains("Stand\\-up"), "{not_yet}");
        assert!(not_yet.contains(&format!("<t:{}:R>", opens.timestamp())));
        assert!(not_yet.contains("10 minutes before the start"));
        for why in [Denial::Private, Denial::Channel] {
            let refused = no_link("Secret plans", &NoLink::Denied(why));
            assert_eq!(refused, UNKNOWN_MEETING, "{refused}");
        }
        assert_eq!(no_link("x", &NoLink::Ended), "This meeting has ended.");
    }

    #[test]
    fn a_page_of_meetings_stays_under_discords_limit_and_points_to_the_next() {
        let long = "a".repeat(100);
        let rows: Vec<_> = (0..11)
            .map(|_| (meeting(&long), occurrence(OccurrenceStatus::Started)))
            .collect();
        let page = upcoming_page(&rows, &[], 1, 10);
        assert!(page.chars().count() <= MAX_CONTENT);
        assert!(page.contains("· **now**") && page.ends_with("More: `/meetings list page:2`"));
        assert!(upcoming_page(&[], &[], 1, 10).starts_with("No upcoming meetings"));
        assert_eq!(upcoming_page(&[], &[], 3, 10), "There is no page 3.");
    }

    #[test]
    fn a_live_meeting_says_so_with_how_many_are_in() {
        let rows = vec![
            (meeting("Live one"), occurrence(OccurrenceStatus::Started)),
            (meeting("Quiet one"), occurrence(OccurrenceStatus::Started)),
        ];
        let page = upcoming_page(&rows, &[Some(3), None], 1, 10);
        let lines: Vec<&str> = page.lines().collect();
        assert!(lines[1].contains("🟢 **live**, 3 in the call"), "{page}");
        assert!(!lines[1].contains("**now**"), "{page}");
        assert!(
            lines[2].contains("· **now**") && !lines[2].contains("live"),
            "{page}"
        );
    }

    #[test]
    fn the_last_page_number_there_is_points_to_no_page_beyond_it() {
        let rows: Vec<_> = (0..11)
            .map(|_| (meeting("Standup"), occurrence(OccurrenceStatus::Scheduled)))
            .collect();
        // `page + 1` overflowed here (a panic in debug builds).
        let page = upcoming_page(&rows, &[], u32::MAX, 10);
        assert!(page.contains(&format!("(page {})", u32::MAX)), "{page}");
        assert!(page.ends_with(&format!("page:{}`", u32::MAX)), "{page}");
    }

    #[test]
    fn the_scheduled_reply_counts_invitees_and_says_when_no_event_is_made() {
        let mut r = ScheduledReply {
            topic: "Retro",
            starts_at: start(),
            repeat: Some("weekly".into()),
            private: false,
            channel_id: 200,
            invitees: 1,
            remind_minutes: 0,
            join_window_minutes: 10,
            meeting_id: "AbCdEf123456",
            no_events: true,
            discord_event: true,
            channel_hidden: false,
        };
        let text = scheduled_reply(&r);
        assert!(text.contains(", repeating weekly") && text.contains("<#200>"));
        assert!(text.contains("1 invitee get their personal link by DM at the start."));
        assert!(text.contains("**Create Events**"));
        r.private = true;
        r.invitees = 3;
        r.remind_minutes = 15;
        r.no_events = false;
        let text = scheduled_reply(&r);
        assert!(text.contains("It is private") && !text.contains("<#200>"));
        assert!(text.contains("3 invitees get their personal link by DM 15 minutes before."));
        assert!(!text.contains("Create Events"));
    }

    #[test]
    fn the_scheduled_reply_says_why_a_hidden_channel_gets_no_event_and_warns_when_one_was_asked_for(
    ) {
        let mut r = ScheduledReply {
            topic: "Retro",
            starts_at: start(),
            repeat: None,
            private: false,
            channel_id: 200,
            invitees: 0,
            remind_minutes: 0,
            join_window_minutes: 10,
            meeting_id: "AbCdEf123456",
            no_events: true,
            discord_event: false,
            channel_hidden: true,
        };
        let text = scheduled_reply(&r);
        assert!(
            text.contains("No Discord event") && text.contains("`event: true`"),
            "{text}"
        );
        assert!(
            !text.contains("Create Events"),
            "no event was planned: {text}"
        );
        r.discord_event = true;
        let text = scheduled_reply(&r);
        assert!(
            text.contains("visible to the whole server, though <#200> is not"),
            "{text}"
        );
    }

    #[test]
    fn the_reminder_dm_carries_the_personal_link_and_when_it_starts_working() {
        let opens = start() - Duration::minutes(10);
        let body = reminder_dm(
            "Retro",
            "Rustaceans",
            &occurrence(OccurrenceStatus::Scheduled),
            opens,
            &link(),
            true,
        );
        let content = body["content"].as_str().unwrap();
        assert!(content.contains(&format!("(<{}>)", link().expose())));
        assert!(content.contains(&format!("The link works from <t:{}:t>", opens.timestamp())));
        assert!(content.contains("a **moderator**"));
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        let told = cancelled_reply("Retro", true, 1);
        assert_eq!(
            told,
            "Cancelled **Retro** (the next occurrence only). 1 invitee who already had a link were told."
        );
    }
}
