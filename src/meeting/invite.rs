//! The `invite` option: one string of user and role mentions, as Discord's @ menu writes them.

use std::fmt;

/// Whom a meeting invites, as written: users and roles, in the order given, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteList {
    /// Mentioned users.
    pub users: Vec<u64>,
    /// Mentioned roles (expanded to their members later).
    pub roles: Vec<u64>,
}

impl InviteList {
    /// Whether nobody is invited.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.roles.is_empty()
    }
}

/// Why an `invite` string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// `@everyone` or `@here`: mass invitations are what gets bots blocked.
    #[error(
        "`{0}` cannot be invited: it would DM the whole server. Mention a role or people instead."
    )]
    Everyone(String),
    /// Words that are not mentions.
    #[error("{} {} not a mention. Pick people and roles from Discord's @ menu so they turn into mentions, e.g. `@alice @Team`.", quote_list(.0), if .0.len() == 1 { "is" } else { "are" })]
    NotMentions(Vec<String>),
}

fn quote_list(items: &[String]) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(5)
        .map(|s| format!("`{}`", clip(s, 40)))
        .collect();
    let mut out = shown.join(", ");
    if items.len() > 5 {
        out.push_str(&format!(" and {} more", items.len() - 5));
    }
    out
}

fn clip(s: &str, max: usize) -> String {
    // Backticks inside would break the code span the message puts around it.
    crate::text::clip(&s.replace('`', ""), max)
}

/// Reads `<@123>`, `<@!123>` (users) and `<@&456>` (roles), separated by spaces or commas.
pub fn parse_invites(text: &str) -> Result<InviteList, InviteError> {
    let mut list = InviteList::default();
    let mut bad = Vec::new();
    for word in tokens(text) {
        let lower = word.to_ascii_lowercase();
        if lower == "@everyone" || lower == "@here" {
            return Err(InviteError::Everyone(word.to_string()));
        }
        match mention(word) {
            Some(Mention::User(id)) => {
                if !list.users.contains(&id) {
                    list.users.push(id);
                }
            }
            Some(Mention::Role(id)) => {
                if !list.roles.contains(&id) {
                    list.roles.push(id);
                }
            }
            None => bad.push(word.to_string()),
        }
    }
    if bad.is_empty() {
        Ok(list)
    } else {
        Err(InviteError::NotMentions(bad))
    }
}

/// Splits on whitespace and commas, and also between mentions written back to back (`<@1><@2>`).
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .flat_map(|w| {
            let mut parts = Vec::new();
            let mut rest = w;
            while let Some(end) = rest.find('>') {
                if !rest.starts_with('<') {
                    break;
                }
                parts.push(&rest[..=end]);
                rest = &rest[end + 1..];
            }
            if !rest.is_empty() {
                parts.push(rest);
            }
            parts
        })
}

enum Mention {
    User(u64),
    Role(u64),
}

fn mention(word: &str) -> Option<Mention> {
    let inner = word.strip_prefix("<@")?.strip_suffix('>')?;
    let (role, digits) = match inner.strip_prefix('&') {
        Some(d) => (true, d),
        None => (false, inner.strip_prefix('!').unwrap_or(inner)),
    };
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u64 = digits.parse().ok()?;
    Some(if role {
        Mention::Role(id)
    } else {
        Mention::User(id)
    })
}

/// How one invitee's delivery ended, as the host is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreached {
    /// The user closed DMs from server members (Discord's 50007).
    DmsClosed,
    /// The user is no longer (or never was) a member of the server.
    NotMember,
    /// Anything else; the text is safe to show (no token).
    Failed(String),
    /// The bot was shutting down before it got to them.
    NotSent,
}

impl fmt::Display for Unreached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreached::DmsClosed => f.write_str("DMs closed"),
            Unreached::NotMember => f.write_str("not a member of this server"),
            Unreached::Failed(why) => write!(f, "could not be reached ({why})"),
            Unreached::NotSent => f.write_str("not sent: the bot was restarting"),
        }
    }
}

/// The invited roles a public post may ping: all of them when the person it speaks for may mention every role (the
/// Mention Everyone permission), else only those anyone may ping. The rest are named without a ping.
pub fn pinged_roles(roles: &[u64], may_mention_all: bool, mentionable: &[u64]) -> Vec<u64> {
    roles
        .iter()
        .copied()
        .filter(|r| may_mention_all || mentionable.contains(r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_roles_are_read_in_order_without_duplicates() {
        let l = parse_invites("<@111111111111111111> <@!222222222222222222>, <@&333333333333333333> <@111111111111111111>").unwrap();
        assert_eq!(l.users, vec![111111111111111111, 222222222222222222]);
        assert_eq!(l.roles, vec![333333333333333333]);
    }

    #[test]
    fn mentions_written_back_to_back_are_split() {
        let l = parse_invites("<@1><@&2><@3>").unwrap();
        assert_eq!(l.users, vec![1, 3]);
        assert_eq!(l.roles, vec![2]);
    }

    #[test]
    fn everyone_and_here_are_refused() {
        assert_eq!(
            parse_invites("<@1> @everyone"),
            Err(InviteError::Everyone("@everyone".into()))
        );
        assert!(matches!(
            parse_invites("@HERE"),
            Err(InviteError::Everyone(_))
        ));
    }

    #[test]
    fn plain_words_are_reported_with_advice() {
        let err = parse_invites("@alice <@1> bob <@x>").unwrap_err();
        assert_eq!(
            err,
            InviteError::NotMentions(vec!["@alice".into(), "bob".into(), "<@x>".into()])
        );
        let msg = err.to_string();
        assert!(
            msg.contains("`@alice`, `bob`, `<@x>` are not a mention"),
            "{msg}"
        );
        assert!(msg.contains("@ menu"));
    }

    #[test]
    fn an_overflowing_id_is_not_a_mention() {
        assert!(parse_invites("<@99999999999999999999999>").is_err());
    }

    #[test]
    fn empty_text_invites_nobody() {
        assert!(parse_invites("  , ").unwrap().is_empty());
    }

    #[test]
    fn only_mentionable_roles_are_pinged_unless_the_caller_may_mention_everyone() {
        assert_eq!(pinged_roles(&[1, 2, 3], false, &[2]), vec![2]);
        assert_eq!(pinged_roles(&[1, 2, 3], true, &[]), vec![1, 2, 3]);
        assert!(pinged_roles(&[1], false, &[]).is_empty());
    }
}
