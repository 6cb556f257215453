//! Every message the bot writes, as plain functions of plain values, so their content is tested directly: one
//! file per subject (an immediate meeting, a scheduled one, guests, the audit trail), the shared pieces here.
//! Personal links only ever go into DMs and ephemeral replies; public messages carry none.

mod audit;
mod guests;
mod immediate;
mod live;
mod scheduled;

pub use audit::*;
pub use guests::*;
pub use immediate::*;
pub use live::*;
pub use scheduled::*;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Discord's limit on message content.
pub const MAX_CONTENT: usize = crate::discord::limits::CONTENT;

/// Escapes Discord markdown so a topic shows as typed and cannot restyle or break the message; reordering and
/// invisible characters are dropped first ([`crate::text::plain`]), so it cannot spoof the line either.
pub fn escape(text: &str) -> String {
    let text = crate::text::plain(text);
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

/// A public post about a meeting, immediate or scheduled: a headline, the invitees, a state line, and a Join button
/// while joining makes sense. Only the invitees are pinged: never @everyone, never a role or user a topic mentions,
/// and of the invited roles only `pinged_roles` (the others are named without a ping).
pub fn public_post(
    headline: &str,
    users: &[u64],
    roles: &[u64],
    pinged_roles: &[u64],
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
    let roles: Vec<String> = roles
        .iter()
        .filter(|r| pinged_roles.contains(r))
        .take(100)
        .map(u64::to_string)
        .collect();
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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `s` cut to `max` characters, with an ellipsis when it was longer (Discord's limits count characters), wherever the
/// cut falls: for a field of its own (an event's name or location, a choice's label). A message's text is made to
/// fit on its way out, without splitting markup ([`crate::discord::limits`]).
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let kept: String = s.chars().take(max.saturating_sub(1)).collect();
        if max == 0 {
            kept
        } else {
            kept + "…"
        }
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

#[cfg(test)]
pub(crate) mod tests {
    use crate::jitsi::Link;
    use crate::secret::Secret;

    /// A link carrying a recognisable token, for the messages' tests.
    pub(crate) fn link() -> Link {
        let minter = crate::jitsi::Minter::new(crate::jitsi::JitsiSettings::for_tests(
            "0123456789abcdef0123456789abcdef",
        ))
        .unwrap();
        let room = crate::jitsi::Room::from_normalized("room".into()).unwrap();
        minter.link(&room, &Secret::new("TOKEN.PART.SIG"), None)
    }
}
