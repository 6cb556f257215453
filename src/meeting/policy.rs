//! The moderator policy: a member's roles and permissions decide whether their token makes them a moderator,
//! and whether they may start a meeting at all.

use std::collections::HashMap;

/// A role named in the configuration: by id (exact) or by name (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRef {
    /// A role id.
    Id(u64),
    /// A role name, matched case-insensitively.
    Name(String),
}

impl RoleRef {
    /// Reads `"123…"`, `"<@&123…>"` as an id, anything else as a name (a leading `@` is dropped).
    pub fn parse(text: &str) -> RoleRef {
        let t = text.trim();
        let inner = t
            .strip_prefix("<@&")
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(t);
        match inner.parse::<u64>() {
            Ok(id) if inner.len() >= 15 => RoleRef::Id(id),
            _ => RoleRef::Name(t.trim_start_matches('@').to_string()),
        }
    }

    /// Whether this reference names `role`.
    pub fn matches(&self, role: &RoleInfo) -> bool {
        match self {
            RoleRef::Id(id) => *id == role.id,
            RoleRef::Name(n) => n.eq_ignore_ascii_case(&role.name),
        }
    }
}

impl std::fmt::Display for RoleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoleRef::Id(id) => write!(f, "<@&{id}>"),
            RoleRef::Name(n) => write!(f, "@{n}"),
        }
    }
}

/// A guild role as the policy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// Role id.
    pub id: u64,
    /// Role name.
    pub name: String,
}

/// What the policy needs to know about one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFacts {
    /// The member's role ids.
    pub role_ids: Vec<u64>,
    /// Whether the member has the Administrator permission (the guild owner always has).
    pub is_administrator: bool,
}

/// One guild's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildPolicy {
    /// Members with any of these roles are moderators.
    pub moderator_roles: Vec<RoleRef>,
    /// Members with any of these roles may start meetings; empty means everyone.
    pub host_roles: Vec<RoleRef>,
    /// Administrators are moderators.
    pub administrators_are_moderators: bool,
    /// The most people one meeting may invite.
    pub invitee_cap: usize,
}

impl GuildPolicy {
    fn has_any(refs: &[RoleRef], member: &MemberFacts, guild_roles: &[RoleInfo]) -> bool {
        refs.iter().any(|r| match r {
            // An id needs no lookup: it works even when the role list is not at hand.
            RoleRef::Id(id) => member.role_ids.contains(id),
            RoleRef::Name(_) => guild_roles
                .iter()
                .any(|role| r.matches(role) && member.role_ids.contains(&role.id)),
        })
    }

    /// Whether `member` gets a moderator token.
    pub fn is_moderator(&self, member: &MemberFacts, guild_roles: &[RoleInfo]) -> bool {
        (self.administrators_are_moderators && member.is_administrator)
            || Self::has_any(&self.moderator_roles, member, guild_roles)
    }

    /// Whether `member` may start or schedule a meeting. Moderators always may.
    pub fn may_host(&self, member: &MemberFacts, guild_roles: &[RoleInfo]) -> bool {
        self.host_roles.is_empty()
            || self.is_moderator(member, guild_roles)
            || Self::has_any(&self.host_roles, member, guild_roles)
    }

    /// Configured roles that this guild does not have (a typo in the file, or a deleted role).
    pub fn unknown_roles<'a>(&'a self, guild_roles: &[RoleInfo]) -> Vec<&'a RoleRef> {
        self.moderator_roles
            .iter()
            .chain(&self.host_roles)
            .filter(|r| !guild_roles.iter().any(|role| r.matches(role)))
            .collect()
    }

    /// How the host roles read to a person who was refused.
    pub fn describe_host_roles(&self, guild_roles: &[RoleInfo]) -> String {
        describe_roles(&self.host_roles, guild_roles)
    }

    /// How the moderator roles read.
    pub fn describe_moderator_roles(&self, guild_roles: &[RoleInfo]) -> String {
        let mut s = describe_roles(&self.moderator_roles, guild_roles);
        if self.administrators_are_moderators {
            if self.moderator_roles.is_empty() {
                s = "administrators".into();
            } else {
                s.push_str(", and administrators");
            }
        }
        s
    }
}

fn describe_roles(refs: &[RoleRef], guild_roles: &[RoleInfo]) -> String {
    if refs.is_empty() {
        return "(none)".into();
    }
    refs.iter()
        .map(|r| match guild_roles.iter().find(|role| r.matches(role)) {
            Some(role) => format!("<@&{}>", role.id),
            None => r.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The policy for every guild: defaults from the configuration, overrides per guild.
#[derive(Debug, Clone)]
pub struct ModeratorPolicy {
    default: GuildPolicy,
    overrides: HashMap<u64, GuildPolicy>,
}

impl ModeratorPolicy {
    /// A policy with per-guild overrides.
    pub fn new(default: GuildPolicy, overrides: HashMap<u64, GuildPolicy>) -> Self {
        Self { default, overrides }
    }

    /// The policy that applies in `guild_id`.
    pub fn for_guild(&self, guild_id: u64) -> &GuildPolicy {
        self.overrides.get(&guild_id).unwrap_or(&self.default)
    }

    /// The default policy.
    pub fn default_policy(&self) -> &GuildPolicy {
        &self.default
    }

    /// A one-line description of the default policy (for `meetbot check`).
    pub fn describe_default(&self) -> String {
        let d = &self.default;
        let roles: Vec<String> = d.moderator_roles.iter().map(|r| r.to_string()).collect();
        let mut s = if roles.is_empty() {
            "no moderator roles".to_string()
        } else {
            format!("roles {}", roles.join(", "))
        };
        if d.administrators_are_moderators {
            s.push_str(" + administrators");
        }
        if !self.overrides.is_empty() {
            s.push_str(&format!(" ({} guild override(s))", self.overrides.len()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Vec<RoleInfo> {
        vec![
            RoleInfo {
                id: 100_000_000_000_000_001,
                name: "Moderators".into(),
            },
            RoleInfo {
                id: 100_000_000_000_000_002,
                name: "Members".into(),
            },
            RoleInfo {
                id: 100_000_000_000_000_003,
                name: "Staff".into(),
            },
        ]
    }

    fn policy(mods: &[&str], hosts: &[&str], admins: bool) -> GuildPolicy {
        GuildPolicy {
            moderator_roles: mods.iter().map(|s| RoleRef::parse(s)).collect(),
            host_roles: hosts.iter().map(|s| RoleRef::parse(s)).collect(),
            administrators_are_moderators: admins,
            invitee_cap: 50,
        }
    }

    fn member(role_ids: &[u64], admin: bool) -> MemberFacts {
        MemberFacts {
            role_ids: role_ids.to_vec(),
            is_administrator: admin,
        }
    }

    #[test]
    fn member_with_moderator_role_by_name_is_moderator_case_insensitively() {
        let p = policy(&["moderators"], &[], false);
        assert!(p.is_moderator(&member(&[100_000_000_000_000_001], false), &roles()));
        assert!(!p.is_moderator(&member(&[100_000_000_000_000_002], false), &roles()));
    }

    #[test]
    fn moderator_role_by_id_works_without_the_role_list() {
        let p = policy(&["100000000000000003"], &[], false);
        assert!(p.is_moderator(&member(&[100_000_000_000_000_003], false), &[]));
        assert!(!p.is_moderator(&member(&[100_000_000_000_000_001], false), &[]));
    }

    #[test]
    fn administrator_is_moderator_only_when_the_setting_says_so() {
        assert!(policy(&[], &[], true).is_moderator(&member(&[], true), &roles()));
        assert!(!policy(&[], &[], false).is_moderator(&member(&[], true), &roles()));
    }

    #[test]
    fn a_role_name_that_only_looks_like_another_does_not_count() {
        let p = policy(&["Mod"], &[], false);
        assert!(!p.is_moderator(&member(&[100_000_000_000_000_001], false), &roles()));
    }

    #[test]
    fn everyone_may_host_when_no_host_roles_are_set() {
        assert!(policy(&[], &[], false).may_host(&member(&[], false), &roles()));
    }

    #[test]
    fn host_roles_restrict_who_may_start_but_moderators_always_may() {
        let p = policy(&["Moderators"], &["Members"], false);
        assert!(p.may_host(&member(&[100_000_000_000_000_002], false), &roles()));
        assert!(p.may_host(&member(&[100_000_000_000_000_001], false), &roles()));
        assert!(!p.may_host(&member(&[100_000_000_000_000_003], false), &roles()));
    }

    #[test]
    fn unknown_configured_roles_are_reported() {
        let p = policy(&["Moderators", "Ghosts"], &["999999999999999999"], false);
        let unknown: Vec<String> = p
            .unknown_roles(&roles())
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            unknown,
            vec!["@Ghosts".to_string(), "<@&999999999999999999>".to_string()]
        );
    }

    #[test]
    fn guild_override_replaces_the_default_for_that_guild_only() {
        let mut o = HashMap::new();
        o.insert(7, policy(&["Staff"], &[], false));
        let mp = ModeratorPolicy::new(policy(&["Moderators"], &[], true), o);
        let staff = member(&[100_000_000_000_000_003], false);
        assert!(mp.for_guild(7).is_moderator(&staff, &roles()));
        assert!(!mp.for_guild(8).is_moderator(&staff, &roles()));
    }

    #[test]
    fn role_ref_parses_mentions_ids_and_names() {
        assert_eq!(
            RoleRef::parse("<@&123456789012345678>"),
            RoleRef::Id(123456789012345678)
        );
        assert_eq!(
            RoleRef::parse("123456789012345678"),
            RoleRef::Id(123456789012345678)
        );
        assert_eq!(RoleRef::parse("@Team"), RoleRef::Name("Team".into()));
        // A short number is a name, not an id: Discord ids are 17–20 digits.
        assert_eq!(RoleRef::parse("2024"), RoleRef::Name("2024".into()));
    }
}
