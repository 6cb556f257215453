//! The messages of `/invite`: a member's guest DM, and the moderator's replies.

use super::{escape, ts};
use crate::jitsi::Link;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

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

/// The refusal when `asked` more guest invitations would pass the meeting's cap.
pub fn guest_cap_reached(topic: &str, total: u32, asked: u32, cap: u32) -> String {
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    let left = cap.saturating_sub(total);
    if asked <= 1 || left == 0 {
        format!(
            "**{}** already has {total} guest invitation{}; the limit here is {cap}.",
            escape(topic),
            plural(total)
        )
    } else {
        format!(
            "**{}** already has {total} guest invitation{} and the limit here is {cap}: {left} more fit, you asked for {asked}. No link was made.",
            escape(topic),
            plural(total)
        )
    }
}

/// The first of several messages answering `/invite guest` with `n` names: the links follow, one a message.
pub fn guest_links_header(g: &GuestInvitation<'_>, n: usize) -> String {
    format!(
        "{n} guest links to **{}** ({}), one a message below. Forward each to its guest only; none makes them a moderator.",
        escape(g.topic),
        ts(g.starts_at, 'F'),
    )
}
