//! Every message the bot writes, as plain functions of plain values, so their content is tested directly.
//! Personal links only ever go into DMs and ephemeral replies; public messages carry none.

use crate::jitsi::Link;
use crate::meeting::access::Denial;
use crate::meeting::invite::Unreached;
use crate::meeting::join::NoLink;
use crate::store::{AuditEntry, Meeting, Occurrence, OccurrenceStatus};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Discord's limit on message content.
pub const MAX_CONTENT: usize = 2000;

/// The facts about a meeting that messages show.
#[derive(Debug, Clone)]
pub struct MeetingView {
    /// The topic as typed (escaped when rendered).
    pub topic: String,
    /// The host's user id.
    pub host_id: u64,
    /// The server's name, for DMs (which have no server context).
    pub guild_name: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Users invited by mention.
    pub invited_users: Vec<u64>,
    /// Roles invited by mention.
    pub invited_roles: Vec<u64>,
}

/// Escapes Discord markdown so a topic shows as typed and cannot restyle or break the message.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '~'
                | '`'
                | '|'
                | '>'
                | '#'
                | '['
                | ']'
                | '('
                | ')'
                | '-'
                | '<'
                | ':'
                | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn ts(at: DateTime<Utc>, style: char) -> String {
    format!("<t:{}:{style}>", at.timestamp())
}

fn role_label(moderator: bool) -> &'static str {
    if moderator {
        "a **moderator**"
    } else {
        "a participant"
    }
}

/// The DM with a personal link. Mentions in DMs ping nobody, but `allowed_mentions` is set anyway so a
/// topic can never turn into a ping.
pub fn invitation_dm(view: &MeetingView, link: &Link, moderator: bool) -> Value {
    let content = format!(
        "**<@{host}>** invited you to **{topic}** on **{guild}**.\n\
         Starts {start} ({start_rel}), ends {end}.\n\
         You join as {role}.\n\
         **[Open your personal meeting link](<{url}>)**\n\
         -# This link is yours alone: it carries your name and your role. Don't forward it.",
        host = view.host_id,
        topic = escape(&view.topic),
        guild = escape(&view.guild_name),
        start = ts(view.starts_at, 't'),
        start_rel = ts(view.starts_at, 'R'),
        end = ts(view.ends_at, 't'),
        role = role_label(moderator),
        url = link.expose(),
    );
    json!({ "content": content, "allowed_mentions": { "parse": [] } })
}

/// The public post: topic, host, invitees, time, and a Join button. No token, no link.
pub fn announcement(view: &MeetingView, join_custom_id: &str) -> Value {
    let headline = format!(
        "📹 **{topic}** — hosted by <@{host}>\nStarted {start}, ends {end}.",
        topic = escape(&view.topic),
        host = view.host_id,
        start = ts(view.starts_at, 'R'),
        end = ts(view.ends_at, 't'),
    );
    public_post(
        &headline,
        &view.invited_users,
        &view.invited_roles,
        "Press **Join** for your own personal link.",
        Some(join_custom_id),
    )
}

/// A public post about a meeting, immediate or scheduled: a headline, the invitees, a state line, and a Join button
/// while joining makes sense. Only the invitees are pinged: never @everyone, never a role or user a topic mentions.
pub fn public_post(
    headline: &str,
    users: &[u64],
    roles: &[u64],
    state: &str,
    join_custom_id: Option<&str>,
) -> Value {
    let mut invited: Vec<String> = users.iter().map(|u| format!("<@{u}>")).collect();
    invited.extend(roles.iter().map(|r| format!("<@&{r}>")));
    let mut content = format!("{headline}\n");
    if !invited.is_empty() {
        content.push_str("Invited: ");
        push_list(
            &mut content,
            &invited,
            MAX_CONTENT - 200 - state.len().min(400),
        );
        content.push('\n');
    }
    content.push_str(state);
    let users: Vec<String> = users.iter().take(100).map(u64::to_string).collect();
    let roles: Vec<String> = roles.iter().take(100).map(u64::to_string).collect();
    let components = match join_custom_id {
        Some(id) => json!([{
            "type": 1,
            "components": [{ "type": 2, "style": 1, "label": "Join", "custom_id": id }]
        }]),
        None => json!([]),
    };
    json!({
        "content": content,
        "allowed_mentions": { "parse": [], "users": users, "roles": roles },
        "components": components,
    })
}

/// Appends items separated by spaces while the text stays under `limit`, then "and N more".
fn push_list(out: &mut String, items: &[String], limit: usize) {
    for (i, item) in items.iter().enumerate() {
        if out.len() + item.len() + 20 > limit {
            out.push_str(&format!("and {} more", items.len() - i));
            return;
        }
        out.push_str(item);
        out.push(' ');
    }
}

/// Where the host's reply stands with the invitations.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Nobody was invited.
    NoInvitees,
    /// DMs are on their way.
    Sending(usize),
    /// All done.
    Done {
        /// How many got their DM.
        delivered: usize,
        /// How many were tried.
        total: usize,
        /// Who did not, and why.
        unreached: Vec<(u64, Unreached)>,
        /// Whether a Join button exists for them, and if not, why.
        join_button: JoinButton,
    },
}

/// Whether an immediate meeting has a Join button the unreached can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinButton {
    /// The announcement with the button is in the channel.
    Posted,
    /// A private meeting has no announcement.
    Private,
    /// The announcement could not be posted (e.g. no permission to send messages there).
    NotPosted,
}

/// The host's ephemeral reply: their own link, their role, and how the invitations went.
pub fn host_reply(view: &MeetingView, link: &Link, moderator: bool, delivery: &Delivery) -> String {
    let mut s = format!(
        "Your meeting **{topic}** is ready (until {end}). You join as {role}.\n**[Open your personal meeting link](<{url}>)** — it is yours alone.\n",
        topic = escape(&view.topic),
        end = ts(view.ends_at, 't'),
        role = role_label(moderator),
        url = link.expose(),
    );
    match delivery {
        Delivery::NoInvitees => {}
        Delivery::Sending(n) => s.push_str(&format!(
            "Sending personal links to {n} invitee{}…",
            plural(*n)
        )),
        Delivery::Done {
            delivered,
            total,
            unreached,
            join_button,
        } => {
            s.push_str(&format!(
                "Delivered personal links to {delivered} of {total}."
            ));
            if !unreached.is_empty() {
                s.push_str("\nNot reached: ");
                let items: Vec<String> = unreached
                    .iter()
                    .map(|(u, why)| format!("<@{u}> ({why})"))
                    .collect();
                push_list(&mut s, &items, MAX_CONTENT - 120);
                s.push('\n');
                s.push_str(match join_button {
                    JoinButton::Posted => "They can still use the **Join** button on the announcement.",
                    JoinButton::Private => "This meeting is private, so there is no Join button: ask them to open their DMs, or invite them again.",
                    JoinButton::NotPosted => "The announcement could not be posted, so there is no Join button: ask them to open their DMs, or invite them again.",
                });
            }
        }
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The ephemeral answer to a Join click.
pub fn join_reply(
    topic: Option<&str>,
    link: &Link,
    moderator: bool,
    ends_at: DateTime<Utc>,
) -> String {
    format!(
        "Here is your personal link{for_topic} (works until {end}). You join as {role}.\n**[Open your personal meeting link](<{url}>)** — it is yours alone.",
        for_topic = topic.map(|t| format!(" for **{}**", escape(t))).unwrap_or_default(),
        end = ts(ends_at, 't'),
        role = role_label(moderator),
        url = link.expose(),
    )
}

/// `s` cut to `max` characters, with an ellipsis when it was longer (Discord's limits count characters).
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// The host's reply with a note under it, when both fit in one message; a long reply (many unreached invitees)
/// keeps its own text, which matters more (the meeting still shows in `/invite`'s list as you type).
pub fn with_note(body: String, note: &str) -> String {
    if body.chars().count() + note.chars().count() <= MAX_CONTENT {
        body + note
    } else {
        body
    }
}

/// The note under `/meet`'s reply: the stored meeting's id, or that the database is down (`None`).
pub fn saved_note(meeting_id: Option<&str>) -> String {
    match meeting_id {
        Some(id) => format!("\nMeeting id: `{id}` (moderators can bring in guests with `/invite`)."),
        None => "\n⚠ The database is unavailable, so this meeting is not saved: `/invite` cannot find it, and `/meetings` does not list it. Everything else works.".into(),
    }
}

/// Appended to `/meet`'s note when the announcement could not be posted.
pub const NOT_ANNOUNCED_NOTE: &str = "\n⚠ I could not post the announcement in this channel (the bot may lack permission to send messages here), so there is no Join button.";

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
    if r.no_events {
        text.push_str("\nNote: I lack the **Create Events** permission, so there will be no Discord event for it (the announcement still goes out).");
    }
    text
}

/// One page of `/meetings list`: `rows` holds up to `per_page + 1` upcoming occurrences (one more tells that there
/// is a next page).
pub fn upcoming_page(rows: &[(Meeting, Occurrence)], page: u32, per_page: u32) -> String {
    if rows.is_empty() {
        return if page == 1 {
            "No upcoming meetings. Schedule one with `/meet when:…`.".into()
        } else {
            format!("There is no page {page}.")
        };
    }
    let more = rows.len() > per_page as usize;
    let mut s = format!("**Upcoming meetings** (page {page})\n");
    for (m, o) in rows.iter().take(per_page as usize) {
        let line = format!(
            "• **{}** — {} ({}){}{} · host <@{}> · `{}`\n",
            escape(&m.topic),
            ts(o.starts_at, 'F'),
            ts(o.starts_at, 'R'),
            if m.repeat != "none" {
                format!(" · {}", m.repeat)
            } else {
                String::new()
            },
            if o.status == OccurrenceStatus::Started {
                " · **now**"
            } else {
                ""
            },
            m.host_id,
            m.id
        );
        if s.len() + line.len() > MAX_CONTENT - 60 {
            break;
        }
        s.push_str(&line);
    }
    if more {
        s.push_str(&format!("More: `/meetings list page:{}`", page + 1));
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
        NoLink::Denied(Denial::Private) => {
            "This meeting is private: only the people invited can join.".into()
        }
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
) -> Value {
    let headline = format!(
        "📅 **{}** — hosted by <@{}>\n{} ({}) until {}{}",
        escape(&m.topic),
        m.host_id,
        ts(occ.starts_at, 'F'),
        ts(occ.starts_at, 'R'),
        ts(occ.ends_at, 't'),
        if m.repeat != "none" {
            format!(" · repeats {}", m.repeat)
        } else {
            String::new()
        },
    );
    public_post(
        &headline,
        &m.invitee_user_ids,
        &m.invitee_role_ids,
        &state.line(),
        state.keeps_join_button().then_some(join_custom_id),
    )
}

/// A guest invitation as `/invite` tells it: who invited, to what, and when the link works.
#[derive(Debug, Clone, Copy)]
pub struct GuestInvitation<'a> {
    /// The moderator who invited.
    pub by: u64,
    /// The meeting's topic.
    pub topic: &'a str,
    /// The server's name.
    pub guild: &'a str,
    /// The occurrence's start and end.
    pub starts_at: DateTime<Utc>,
    /// Its end.
    pub ends_at: DateTime<Utc>,
    /// When the link opens.
    pub opens_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The time of the invitation.
    pub now: DateTime<Utc>,
}

/// The DM with a guest link for a member of the server.
pub fn guest_member_dm(g: &GuestInvitation<'_>, link: &Link) -> Value {
    let content = format!(
        "<@{}> invited you as a guest to **{}** on **{}** ({}, until {}).\nYou join as a participant. The link works from {} until {}.\n**[Open your personal meeting link](<{}>)**\n-# This link is yours alone: it carries your name. Don't forward it.",
        g.by,
        escape(g.topic),
        escape(g.guild),
        ts(g.starts_at, 'F'),
        ts(g.ends_at, 't'),
        ts(g.opens_at, 't'),
        ts(g.expires_at, 'F'),
        link.expose(),
    );
    json!({ "content": content, "allowed_mentions": { "parse": [] } })
}

/// Said under a guest link that opens later than now.
fn opens_note(g: &GuestInvitation<'_>) -> String {
    if g.opens_at > g.now {
        format!(
            "\nThe link opens no earlier than {} ({}), when the meeting's join window opens.",
            ts(g.opens_at, 'F'),
            ts(g.opens_at, 'R')
        )
    } else {
        String::new()
    }
}

/// The moderator's reply once a member's guest link was delivered.
pub fn guest_member_sent(g: &GuestInvitation<'_>, user: u64) -> String {
    format!(
        "Sent <@{user}> a guest link to **{}** by DM. They join as a participant; the link works until {}.{}",
        escape(g.topic),
        ts(g.expires_at, 'F'),
        opens_note(g)
    )
}

/// The moderator's reply with a guest link to forward to someone outside Discord.
pub fn guest_link_reply(g: &GuestInvitation<'_>, name: &str, link: &Link) -> String {
    format!(
        "Guest link for **{}** to **{}** ({}). Forward it to them; it carries their name, does not make them a moderator, and only they should use it.\n<{}>\nIt expires {} ({}).{}",
        escape(name),
        escape(g.topic),
        ts(g.starts_at, 'F'),
        link.expose(),
        ts(g.expires_at, 'F'),
        ts(g.expires_at, 'R'),
        opens_note(g)
    )
}

/// The audit detail of a moderator link.
pub fn audit_moderator_link(user: u64, via: &str, until: DateTime<Utc>) -> String {
    format!(
        "issued a moderator link to <@{user}> via {via}, valid until {}",
        ts(until, 'f')
    )
}

/// The audit detail of a guest link sent to a member.
pub fn audit_guest_member(user: u64, topic: &str, expires_at: DateTime<Utc>) -> String {
    format!(
        "invited <@{user}> as a guest to **{}**, link valid until {}",
        escape(topic),
        ts(expires_at, 'f')
    )
}

/// The audit detail of a guest link made for someone outside Discord.
pub fn audit_guest_external(
    name: &str,
    guest_id: &str,
    topic: &str,
    expires_at: DateTime<Utc>,
) -> String {
    format!(
        "made a guest link for **{}** (`{guest_id}`) to **{}**, valid until {}",
        escape(name),
        escape(topic),
        ts(expires_at, 'f')
    )
}

/// `/meetbot audit`'s answer: the newest entries that fit, and how many older ones did not.
pub fn audit_page(entries: &[AuditEntry], meeting: Option<&str>) -> String {
    if entries.is_empty() {
        return match meeting {
            Some(m) => format!("Nothing recorded for meeting `{}` yet.", escape(m)),
            None => "Nothing recorded yet.".into(),
        };
    }
    let mut s = String::from("**Audit trail** (newest first)\n");
    let mut shown = 0;
    for e in entries {
        let line = format!(
            "{}\n",
            audit_line(e.at, e.actor_id, &e.detail, e.meeting_id.as_deref())
        );
        // Room for the "more" note below.
        if s.len() + line.len() > MAX_CONTENT - 40 {
            break;
        }
        s.push_str(&line);
        shown += 1;
    }
    if shown < entries.len() {
        s.push_str(&format!("…and {} older.", entries.len() - shown));
    }
    s
}

/// How one entry reads, in the audit channel and in `/meetbot audit`.
pub fn audit_line(at: DateTime<Utc>, actor: u64, detail: &str, meeting: Option<&str>) -> String {
    let mut s = format!("<t:{}:f> <@{actor}> {detail}", at.timestamp());
    if let Some(m) = meeting {
        s.push_str(&format!(" · meeting `{m}`"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use chrono::TimeZone;

    fn view() -> MeetingView {
        MeetingView {
            topic: "@everyone *Town* hall".into(),
            host_id: 1,
            guild_name: "Rustaceans".into(),
            starts_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
            ends_at: Utc.timestamp_opt(1_800_003_600, 0).unwrap(),
            invited_users: vec![2, 3],
            invited_roles: vec![9],
        }
    }

    fn link() -> Link {
        let minter = crate::jitsi::Minter::new(crate::jitsi::JitsiSettings::for_tests(
            "0123456789abcdef0123456789abcdef",
        ))
        .unwrap();
        let room = crate::jitsi::Room::from_normalized("room".into()).unwrap();
        minter.link(&room, &Secret::new("TOKEN.PART.SIG"), None)
    }

    #[test]
    fn the_announcement_has_no_link_pings_only_invitees_and_escapes_the_topic() {
        let body = announcement(&view(), "mj1:room:1:abc");
        let content = body["content"].as_str().unwrap();
        assert!(!content.contains("jwt") && !content.contains("https://"));
        assert!(content.contains("\\@everyone \\*Town\\* hall"));
        assert!(content.contains("<@2> <@3> <@&9>"));
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert_eq!(body["allowed_mentions"]["users"], json!(["2", "3"]));
        assert_eq!(body["allowed_mentions"]["roles"], json!(["9"]));
        assert_eq!(
            body["components"][0]["components"][0]["custom_id"],
            "mj1:room:1:abc"
        );
    }

    #[test]
    fn a_huge_invitee_list_is_shortened_under_discords_limit() {
        let mut v = view();
        v.invited_users = (100_000_000_000_000_000..100_000_000_000_000_300).collect();
        let body = announcement(&v, "x");
        let content = body["content"].as_str().unwrap();
        assert!(content.chars().count() <= MAX_CONTENT);
        assert!(content.contains("more"));
        assert_eq!(
            body["allowed_mentions"]["users"].as_array().unwrap().len(),
            100
        );
    }

    #[test]
    fn the_dm_carries_the_personal_link_and_the_role() {
        let body = invitation_dm(&view(), &link(), true);
        let content = body["content"].as_str().unwrap();
        assert!(content.contains(&format!("(<{}>)", link().expose())));
        assert!(link().expose().contains("TOKEN.PART.SIG"));
        assert!(content.contains("a **moderator**"));
        assert!(content.chars().count() <= MAX_CONTENT);
    }

    #[test]
    fn the_host_reply_names_who_was_not_reached_and_points_to_the_join_button() {
        let d = Delivery::Done {
            delivered: 1,
            total: 3,
            unreached: vec![(5, Unreached::DmsClosed), (6, Unreached::NotMember)],
            join_button: JoinButton::Posted,
        };
        let s = host_reply(&view(), &link(), false, &d);
        assert!(s.contains("Delivered personal links to 1 of 3."));
        assert!(s.contains("<@5> (DMs closed)"));
        assert!(s.contains("<@6> (not a member of this server)"));
        assert!(s.contains("Join"));
        assert!(s.contains("a participant"));
    }
}
