//! The one audit writer: every command, button and reminder that hands out a moderator link, invites a guest or
//! changes a setting records it here, and the entry is posted to the server's audit channel when it has one.

use super::http::RestClient;
use super::render::{self, audit_line};
use crate::store::{NewAuditEntry, Store};
use chrono::{DateTime, Utc};
use serde_json::json;

/// What audit entries say was done.
pub mod actions {
    /// A link that makes its holder a moderator.
    pub const MODERATOR_LINK: &str = "moderator_link";
    /// A guest link for a member of the server, by DM.
    pub const GUEST_MEMBER: &str = "guest_member";
    /// A guest link for someone outside Discord, handed to the moderator.
    pub const GUEST_EXTERNAL: &str = "guest_external";
    /// A server setting changed.
    pub const SETTING: &str = "setting";
    /// The server's own Jitsi was set up, rotated or reset.
    pub const OWN_JITSI: &str = "own_jitsi";
}

/// Records an audit entry and, when the server has an audit channel, posts it there. Entries never hold a token
/// or a link: callers write who, what, which meeting and until when. Failures are logged, never shown: the action
/// itself already happened.
pub(crate) async fn record_audit(
    rest: &RestClient,
    store: &Store,
    audit_channel: Option<u64>,
    entry: NewAuditEntry,
) {
    if let Err(e) = store.record_audit(&entry).await {
        tracing::warn!(error = %e, guild = entry.guild_id, action = %entry.action, "could not record an audit entry");
    }
    if let Some(channel) = audit_channel {
        let body = json!({
            "content": audit_line(entry.at, entry.actor_id, &entry.detail, entry.meeting_id.as_deref()),
            "allowed_mentions": { "parse": [] },
        });
        if let Err(e) = rest.send_message(channel, &body).await {
            tracing::warn!(error = %e, channel, "could not post to the audit channel");
        }
    }
}

/// A new entry at `at` by `actor`.
pub(crate) fn entry(
    guild_id: u64,
    at: DateTime<Utc>,
    actor_id: u64,
    action: &str,
    meeting_id: Option<&str>,
    subject: String,
    detail: String,
) -> NewAuditEntry {
    NewAuditEntry {
        guild_id,
        at,
        actor_id,
        action: action.to_string(),
        meeting_id: meeting_id.map(str::to_string),
        subject,
        detail,
    }
}

/// A personal link handed out: to whom, by whose action, for which meeting, through what, until when.
pub(crate) struct LinkIssued<'a> {
    /// The server.
    pub guild: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Whose action it was (the host for reminders, the clicker for a Join button).
    pub actor: u64,
    /// Who got the link.
    pub user: u64,
    /// Whether it makes them a moderator.
    pub moderator: bool,
    /// The stored meeting, when there is one.
    pub meeting: Option<&'a str>,
    /// How it was handed out, as the entry reads ("/meet", "the Join button", …).
    pub via: &'a str,
    /// When the link stops working.
    pub until: DateTime<Utc>,
}

/// Records a moderator link in the audit trail (and the audit channel). Member links are not recorded: only links
/// that grant moderator rights are worth a trail.
pub(crate) async fn link_issued(
    rest: &RestClient,
    store: &Store,
    audit_channel: Option<u64>,
    issued: LinkIssued<'_>,
) {
    if !issued.moderator {
        return;
    }
    let user = issued.user;
    record_audit(
        rest,
        store,
        audit_channel,
        entry(
            issued.guild,
            issued.at,
            issued.actor,
            actions::MODERATOR_LINK,
            issued.meeting,
            user.to_string(),
            render::audit_moderator_link(user, issued.via, issued.until),
        ),
    )
    .await;
}
