//! How the audit trail reads: each entry's detail, its line in the audit channel, and `/meetbot audit`'s page.

use super::{escape, ts, MAX_CONTENT};
use crate::store::AuditEntry;
use chrono::{DateTime, Utc};

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
            // What was typed, quoted only in part: a meeting id is 12 characters.
            Some(m) => format!(
                "Nothing recorded for meeting `{}` yet.",
                escape(&crate::text::clip(m, 40))
            ),
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
