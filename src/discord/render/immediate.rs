//! The messages of an immediate meeting (`/meet` without `when`): the invitation DM, the announcement, the host's
//! reply, the answer to a Join click.

use super::{escape, plural, public_post, push_list, role_label, ts, MAX_CONTENT};
use crate::jitsi::Link;
use crate::meeting::invite::Unreached;
use crate::meeting::settings::Outage;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

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
    /// The invited roles the post pings (see `meeting::invite::pinged_roles`).
    pub pinged_roles: Vec<u64>,
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
        &view.pinged_roles,
        "Press **Join** for your own personal link.",
        Some(join_custom_id),
    )
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

/// The note under `/meet`'s reply: the stored meeting's id, or that the database is down (`None`).
pub fn saved_note(meeting_id: Option<&str>) -> String {
    match meeting_id {
        Some(id) => format!("\nMeeting id: `{id}` (moderators can bring in guests with `/invite`)."),
        None => "\n⚠ The database is unavailable, so this meeting is not saved: `/invite` cannot find it, and `/meetings` does not list it. Everything else works.".into(),
    }
}

/// Appended to `/meet`'s note when the announcement could not be posted.
pub const NOT_ANNOUNCED_NOTE: &str = "\n⚠ I could not post the announcement in this channel (the bot may lack permission to send messages here), so there is no Join button.";

/// What a reply adds while the server's settings cannot be read (see `discord::policy::effective`).
pub fn outage_note(outage: Option<Outage>) -> &'static str {
    match outage {
        None => "",
        Some(Outage::LastRead) => "\n⚠ The database is unavailable: this used the server's settings as I last read them.",
        Some(Outage::MemberLinksOnly) => "\n⚠ The database is unavailable and I have not read this server's settings yet, so nobody gets moderator rights for now (member links only). Try again later for a moderator link.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::render::tests::link;
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
            pinged_roles: vec![9],
        }
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
