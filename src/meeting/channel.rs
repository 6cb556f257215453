//! What a member may do in a channel, computed as Discord does from the server's roles and the channel's permission
//! overwrites: the access rule needs "can see the channel the meeting was posted in" for members Discord sent no
//! permissions for (a `/meetings link` typed elsewhere, an autocomplete, a reminder's Interested users).

/// Administrator: every permission, whatever the overwrites say.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// View Channel.
pub const VIEW_CHANNEL: u64 = 1 << 10;
/// Send Messages.
pub const SEND_MESSAGES: u64 = 1 << 11;
/// Mention @everyone, @here and all roles (mentionable or not).
pub const MENTION_EVERYONE: u64 = 1 << 17;

/// Whom an overwrite applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverwriteTarget {
    /// A role (the guild's id: `@everyone`).
    Role(u64),
    /// One member.
    Member(u64),
}

/// One permission overwrite of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overwrite {
    /// Whom it applies to.
    pub target: OverwriteTarget,
    /// Bits it grants.
    pub allow: u64,
    /// Bits it takes away.
    pub deny: u64,
}

/// A channel's permission facts: the server's roles with their permission bits, its owner, the channel's overwrites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelRules {
    /// The server (its id is also the `@everyone` role's).
    pub guild_id: u64,
    /// The owner holds every permission.
    pub owner_id: u64,
    /// Every role of the server with its permission bits.
    pub roles: Vec<(u64, u64)>,
    /// The channel's overwrites.
    pub overwrites: Vec<Overwrite>,
}

impl ChannelRules {
    /// The permission bits of a member with `role_ids` in this channel: the server's base permissions, then the
    /// `@everyone` overwrite, the member's role overwrites (all denials, then all grants), the member's own.
    pub fn permissions(&self, user_id: u64, role_ids: &[u64]) -> u64 {
        if user_id == self.owner_id {
            return u64::MAX;
        }
        let base = self
            .roles
            .iter()
            .filter(|(id, _)| *id == self.guild_id || role_ids.contains(id))
            .fold(0, |acc, (_, bits)| acc | bits);
        if base & ADMINISTRATOR != 0 {
            return u64::MAX;
        }
        let apply = |bits: u64, o: &Overwrite| (bits & !o.deny) | o.allow;
        let mut bits = base;
        if let Some(o) = self
            .overwrites
            .iter()
            .find(|o| o.target == OverwriteTarget::Role(self.guild_id))
        {
            bits = apply(bits, o);
        }
        let (allow, deny) = self
            .overwrites
            .iter()
            .filter(|o| {
                matches!(o.target, OverwriteTarget::Role(r) if r != self.guild_id && role_ids.contains(&r))
            })
            .fold((0, 0), |(a, d), o| (a | o.allow, d | o.deny));
        bits = (bits & !deny) | allow;
        if let Some(o) = self
            .overwrites
            .iter()
            .find(|o| o.target == OverwriteTarget::Member(user_id))
        {
            bits = apply(bits, o);
        }
        bits
    }

    /// Whether that member sees the channel.
    pub fn can_view(&self, user_id: u64, role_ids: &[u64]) -> bool {
        self.permissions(user_id, role_ids) & VIEW_CHANNEL != 0
    }

    /// Whether a member with no role of their own sees the channel: whether it is open to the whole server.
    pub fn everyone_can_view(&self) -> bool {
        // No user has id 0, so neither the owner's nor a member overwrite applies.
        self.can_view(0, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUILD: u64 = 10;
    const STAFF: u64 = 20;
    const MUTED: u64 = 30;
    const ADMINS: u64 = 40;

    fn staff_only() -> ChannelRules {
        ChannelRules {
            guild_id: GUILD,
            owner_id: 1,
            roles: vec![
                (GUILD, VIEW_CHANNEL | SEND_MESSAGES),
                (STAFF, 0),
                (MUTED, 0),
                (ADMINS, ADMINISTRATOR),
            ],
            overwrites: vec![
                Overwrite {
                    target: OverwriteTarget::Role(GUILD),
                    allow: 0,
                    deny: VIEW_CHANNEL,
                },
                Overwrite {
                    target: OverwriteTarget::Role(STAFF),
                    allow: VIEW_CHANNEL,
                    deny: 0,
                },
                Overwrite {
                    target: OverwriteTarget::Role(MUTED),
                    allow: 0,
                    deny: SEND_MESSAGES,
                },
            ],
        }
    }

    #[test]
    fn a_channel_hidden_from_everyone_is_seen_by_the_role_it_is_opened_to_only() {
        let c = staff_only();
        assert!(!c.everyone_can_view());
        assert!(!c.can_view(5, &[]));
        assert!(!c.can_view(5, &[MUTED]));
        assert!(c.can_view(5, &[STAFF]));
    }

    #[test]
    fn a_role_grant_beats_another_roles_denial_and_a_member_overwrite_beats_both() {
        let mut c = staff_only();
        assert_ne!(c.permissions(5, &[STAFF, MUTED]) & VIEW_CHANNEL, 0);
        assert_eq!(c.permissions(5, &[STAFF, MUTED]) & SEND_MESSAGES, 0);
        c.overwrites.push(Overwrite {
            target: OverwriteTarget::Member(5),
            allow: 0,
            deny: VIEW_CHANNEL,
        });
        assert!(!c.can_view(5, &[STAFF]));
        c.overwrites.push(Overwrite {
            target: OverwriteTarget::Member(6),
            allow: VIEW_CHANNEL,
            deny: 0,
        });
        assert!(c.can_view(6, &[]));
    }

    #[test]
    fn the_owner_and_administrators_see_every_channel() {
        let c = staff_only();
        assert!(c.can_view(1, &[]));
        assert!(c.can_view(7, &[ADMINS]));
    }

    #[test]
    fn without_overwrites_the_servers_permissions_decide() {
        let mut c = staff_only();
        c.overwrites.clear();
        assert!(c.everyone_can_view());
        c.roles[0].1 = 0;
        assert!(!c.everyone_can_view());
        assert!(!c.can_view(5, &[STAFF]));
    }
}
