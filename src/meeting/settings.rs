//! A server's own settings (`/meetbot settings`) laid over the configuration file's defaults: the keys, their
//! ranges, and the merge, as plain values. Reading them from the database is the adapter's part
//! (`discord::policy::effective`); what they decide (moderators, hosts, inviters) is [`super::policy`]'s.

use super::live::LiveStatus;
use super::policy::{GuildPolicy, MemberFacts, RoleInfo, RoleRef};
use chrono_tz::Tz;
use serde_json::{json, Value};
use std::time::Duration;

/// The keys of the settings table, one per setting a server can change.
pub mod keys {
    /// Role ids whose members are moderators.
    pub const MODERATOR_ROLES: &str = "moderator_roles";
    /// Role ids whose members may host.
    pub const HOST_ROLES: &str = "host_roles";
    /// Role ids whose members may `/invite`.
    pub const GUEST_INVITER_ROLES: &str = "guest_inviter_roles";
    /// Administrators are moderators (bool).
    pub const ADMINS_ARE_MODERATORS: &str = "administrators_are_moderators";
    /// Default meeting length, minutes.
    pub const DEFAULT_DURATION: &str = "default_duration_minutes";
    /// IANA zone name.
    pub const DEFAULT_TIMEZONE: &str = "default_timezone";
    /// Channel id for scheduled meetings' announcements.
    pub const ANNOUNCEMENT_CHANNEL: &str = "announcement_channel";
    /// Channel id for the audit trail.
    pub const AUDIT_CHANNEL: &str = "audit_channel";
    /// Join window, minutes.
    pub const JOIN_WINDOW: &str = "join_window_minutes";
    /// Reminder lead, minutes.
    pub const REMIND: &str = "remind_minutes";
    /// Lobby bypass for moderators (bool).
    pub const LOBBY_BYPASS: &str = "lobby_bypass_for_moderators";
    /// Invitee cap (count).
    pub const INVITEE_CAP: &str = "invitee_cap";
    /// Per-user cooldown, seconds.
    pub const COOLDOWN: &str = "cooldown_seconds";
    /// What meeting posts tell of a live call: names, counts or off.
    pub const LIVE_STATUS: &str = crate::meeting::live::LiveStatus::SETTING;
}

/// Ranges the setters accept; the same bounds the file's loader applies.
pub mod limits {
    /// Join window, minutes.
    pub const JOIN_WINDOW_MINUTES: (i64, i64) = (1, 24 * 60);
    /// Reminder lead, minutes.
    pub const REMIND_MINUTES: (i64, i64) = (0, 7 * 24 * 60);
    /// Invitee cap.
    pub const INVITEE_CAP: (i64, i64) = (1, 1000);
    /// Cooldown, seconds.
    pub const COOLDOWN_SECONDS: (i64, i64) = (0, 86_400);
}

/// Everything that a server may set for itself, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectivePolicy {
    /// Moderator and host roles, administrators-are-moderators, invitee cap.
    pub guild: GuildPolicy,
    /// Roles (besides moderators) whose members may `/invite`.
    pub guest_inviter_roles: Vec<RoleRef>,
    /// Length of a meeting when `/meet` does not say.
    pub default_duration: Duration,
    /// Time zone for `when` when the command does not say.
    pub default_timezone: Tz,
    /// Where scheduled meetings are announced when the command does not say (`None`: where `/meet` was used).
    pub announcement_channel: Option<u64>,
    /// Where audit entries are posted (`None`: recorded only).
    pub audit_channel: Option<u64>,
    /// How long before the start links open.
    pub join_window: Duration,
    /// How long before the start personal links are DMed.
    pub remind: Duration,
    /// Put `lobby_bypass` in moderators' tokens.
    pub lobby_bypass_for_moderators: bool,
    /// Wait between two uses of `/meet` (or of `/invite`) by one person.
    pub cooldown: Duration,
    /// What meeting posts tell of a live call (private meetings never show names, whatever it says).
    pub live_status: LiveStatus,
    /// Stored settings that could not be read (hand-edited rows): their keys, for the log and `show`.
    pub ignored: Vec<String>,
    /// Set when the database could not be read: what these values are instead of the server's current settings.
    pub outage: Option<Outage>,
}

/// What the policy is built from while the server's stored settings cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The settings this process last read for the server.
    LastRead,
    /// None were ever read: the file's values with nobody a moderator (member links only), since the file's
    /// defaults may grant far more than the server's own settings do.
    MemberLinksOnly,
}

impl EffectivePolicy {
    /// These values with nobody a moderator, guest inviter or lobby bypasser: the policy when the server's own
    /// settings are unknown (fail closed).
    pub fn member_links_only(mut self) -> EffectivePolicy {
        self.guild.moderator_roles.clear();
        self.guild.administrators_are_moderators = false;
        self.guest_inviter_roles.clear();
        self.lobby_bypass_for_moderators = false;
        self.outage = Some(Outage::MemberLinksOnly);
        self
    }

    /// Lays stored settings over these values. A value that does not read (or is out of range against
    /// `max_duration`) is skipped and its key listed in `ignored`; unknown keys are skipped silently (a newer
    /// version may have written them).
    pub fn merge<'a>(
        mut self,
        stored: impl IntoIterator<Item = (&'a str, &'a Value)>,
        max_duration: Duration,
    ) -> EffectivePolicy {
        for (key, value) in stored {
            if self.apply(key, value, max_duration).is_none() {
                self.ignored.push(key.to_string());
            }
        }
        self
    }

    /// Applies one stored setting; `None` when its value does not read.
    fn apply(&mut self, key: &str, value: &Value, max_duration: Duration) -> Option<()> {
        match key {
            keys::MODERATOR_ROLES => self.guild.moderator_roles = roles_from(value)?,
            keys::HOST_ROLES => self.guild.host_roles = roles_from(value)?,
            keys::GUEST_INVITER_ROLES => self.guest_inviter_roles = roles_from(value)?,
            keys::ADMINS_ARE_MODERATORS => {
                self.guild.administrators_are_moderators = value.as_bool()?
            }
            keys::LOBBY_BYPASS => self.lobby_bypass_for_moderators = value.as_bool()?,
            keys::DEFAULT_DURATION => {
                let m = in_range(value, (1, (max_duration.as_secs() / 60) as i64))?;
                self.default_duration = minutes(m);
            }
            keys::DEFAULT_TIMEZONE => {
                self.default_timezone = value.as_str()?.parse::<Tz>().ok()?;
            }
            keys::ANNOUNCEMENT_CHANNEL => self.announcement_channel = Some(id_from(value)?),
            keys::AUDIT_CHANNEL => self.audit_channel = Some(id_from(value)?),
            keys::JOIN_WINDOW => {
                self.join_window = minutes(in_range(value, limits::JOIN_WINDOW_MINUTES)?)
            }
            keys::REMIND => self.remind = minutes(in_range(value, limits::REMIND_MINUTES)?),
            keys::INVITEE_CAP => {
                self.guild.invitee_cap = in_range(value, limits::INVITEE_CAP)? as usize
            }
            keys::COOLDOWN => {
                self.cooldown =
                    Duration::from_secs(in_range(value, limits::COOLDOWN_SECONDS)? as u64)
            }
            keys::LIVE_STATUS => self.live_status = value.as_str()?.parse().ok()?,
            _ => {}
        }
        Some(())
    }

    /// Whether `member` may `/invite` people: moderators always, and members of the guest-inviter roles.
    pub fn may_invite(&self, member: &MemberFacts, roles: &[RoleInfo]) -> bool {
        self.guild.is_moderator(member, roles) || self.inviters().is_moderator(member, roles)
    }

    /// Who may `/invite`, as a person who was refused reads it.
    pub fn describe_inviters(&self, roles: &[RoleInfo]) -> String {
        let mods = self.guild.describe_moderator_roles(roles);
        if self.guest_inviter_roles.is_empty() {
            return format!("moderators ({mods})");
        }
        format!(
            "moderators ({mods}) and members of {}",
            self.inviters().describe_moderator_roles(roles)
        )
    }

    /// The guest-inviter roles as a policy whose "moderators" are exactly those roles (reuses the role matching).
    fn inviters(&self) -> GuildPolicy {
        GuildPolicy {
            moderator_roles: self.guest_inviter_roles.clone(),
            host_roles: Vec::new(),
            administrators_are_moderators: false,
            invitee_cap: self.guild.invitee_cap,
        }
    }
}

fn minutes(m: i64) -> Duration {
    Duration::from_secs(m as u64 * 60)
}

fn in_range(value: &Value, (lo, hi): (i64, i64)) -> Option<i64> {
    value.as_i64().filter(|v| (lo..=hi).contains(v))
}

/// Ids are stored as strings: JSON readers that use doubles would round 64-bit snowflakes.
fn id_from(value: &Value) -> Option<u64> {
    value.as_str()?.parse().ok()
}

fn roles_from(value: &Value) -> Option<Vec<RoleRef>> {
    value
        .as_array()?
        .iter()
        .map(|v| id_from(v).map(RoleRef::Id))
        .collect()
}

/// The stored form of a list of role ids.
pub fn roles_value(ids: &[u64]) -> Value {
    Value::Array(ids.iter().map(|id| json!(id.to_string())).collect())
}

/// The stored form of a channel id.
pub fn channel_value(id: u64) -> Value {
    json!(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EffectivePolicy {
        EffectivePolicy {
            guild: GuildPolicy {
                moderator_roles: vec![RoleRef::Name("Moderators".into())],
                host_roles: vec![],
                administrators_are_moderators: true,
                invitee_cap: 50,
            },
            guest_inviter_roles: vec![],
            default_duration: minutes(60),
            default_timezone: chrono_tz::UTC,
            announcement_channel: None,
            audit_channel: None,
            join_window: minutes(10),
            remind: minutes(10),
            lobby_bypass_for_moderators: false,
            cooldown: Duration::from_secs(10),
            live_status: LiveStatus::Names,
            ignored: vec![],
            outage: None,
        }
    }

    const MAX: Duration = Duration::from_secs(480 * 60);

    #[test]
    fn with_nothing_stored_the_files_defaults_apply() {
        assert_eq!(base().merge([], MAX), base());
    }

    #[test]
    fn stored_settings_win_over_the_files_defaults() {
        let mods = roles_value(&[200_000_000_000_000_001]);
        let inviters = roles_value(&[200_000_000_000_000_002]);
        let stored = [
            (keys::MODERATOR_ROLES, mods),
            (keys::GUEST_INVITER_ROLES, inviters),
            (keys::ADMINS_ARE_MODERATORS, json!(false)),
            (keys::DEFAULT_DURATION, json!(45)),
            (keys::DEFAULT_TIMEZONE, json!("Europe/Berlin")),
            (keys::AUDIT_CHANNEL, channel_value(42)),
            (keys::ANNOUNCEMENT_CHANNEL, channel_value(43)),
            (keys::JOIN_WINDOW, json!(30)),
            (keys::REMIND, json!(0)),
            (keys::LOBBY_BYPASS, json!(true)),
            (keys::INVITEE_CAP, json!(5)),
            (keys::COOLDOWN, json!(120)),
            (keys::LIVE_STATUS, json!("counts")),
        ];
        let p = base().merge(stored.iter().map(|(k, v)| (*k, v)), MAX);
        assert_eq!(
            p.guild.moderator_roles,
            vec![RoleRef::Id(200_000_000_000_000_001)]
        );
        assert_eq!(
            p.guest_inviter_roles,
            vec![RoleRef::Id(200_000_000_000_000_002)]
        );
        assert!(!p.guild.administrators_are_moderators);
        assert_eq!(p.default_duration, minutes(45));
        assert_eq!(p.default_timezone, chrono_tz::Europe::Berlin);
        assert_eq!(p.audit_channel, Some(42));
        assert_eq!(p.announcement_channel, Some(43));
        assert_eq!(p.join_window, minutes(30));
        assert_eq!(p.remind, Duration::ZERO);
        assert!(p.lobby_bypass_for_moderators);
        assert_eq!(p.guild.invitee_cap, 5);
        assert_eq!(p.cooldown, Duration::from_secs(120));
        assert_eq!(p.live_status, LiveStatus::Counts);
        assert!(p.ignored.is_empty());
    }

    #[test]
    fn a_cleared_role_list_overrides_the_file_with_no_roles() {
        let empty = roles_value(&[]);
        let p = base().merge([(keys::MODERATOR_ROLES, &empty)], MAX);
        assert!(p.guild.moderator_roles.is_empty());
    }

    #[test]
    fn unreadable_or_out_of_range_values_are_ignored_and_named() {
        let stored = [
            (keys::DEFAULT_DURATION, json!(10_000)),
            (keys::DEFAULT_TIMEZONE, json!("Mars/Olympus")),
            (keys::INVITEE_CAP, json!("many")),
            (keys::MODERATOR_ROLES, json!([12])),
            (keys::LIVE_STATUS, json!("everything")),
            ("some_future_key", json!(1)),
        ];
        let p = base().merge(stored.iter().map(|(k, v)| (*k, v)), MAX);
        let mut expected = base();
        expected.ignored = vec![
            keys::DEFAULT_DURATION.to_string(),
            keys::DEFAULT_TIMEZONE.to_string(),
            keys::INVITEE_CAP.to_string(),
            keys::MODERATOR_ROLES.to_string(),
            keys::LIVE_STATUS.to_string(),
        ];
        assert_eq!(p, expected);
    }

    #[test]
    fn guest_inviters_may_invite_but_are_not_moderators() {
        let roles = vec![
            RoleInfo {
                id: 1_000_000_000_000_001,
                name: "Moderators".into(),
            },
            RoleInfo {
                id: 1_000_000_000_000_002,
                name: "Speakers".into(),
            },
        ];
        let mut p = base();
        p.guest_inviter_roles = vec![RoleRef::Id(1_000_000_000_000_002)];
        let speaker = MemberFacts {
            role_ids: vec![1_000_000_000_000_002],
            is_administrator: false,
        };
        let plain = MemberFacts::default();
        let moderator = MemberFacts {
            role_ids: vec![1_000_000_000_000_001],
            is_administrator: false,
        };
        assert!(p.may_invite(&speaker, &roles));
        assert!(!p.guild.is_moderator(&speaker, &roles));
        assert!(p.may_invite(&moderator, &roles));
        assert!(!p.may_invite(&plain, &roles));
        assert_eq!(
            p.describe_inviters(&roles),
            "moderators (<@&1000000000000001>, and administrators) and members of <@&1000000000000002>"
        );
    }

    #[test]
    fn member_links_only_makes_nobody_a_moderator_whatever_the_file_says() {
        use crate::meeting::policy::MemberFacts;
        let admin = MemberFacts {
            role_ids: vec![1],
            is_administrator: true,
        };
        let roles = [crate::meeting::policy::RoleInfo {
            id: 1,
            name: "Moderators".into(),
        }];
        assert!(base().guild.is_moderator(&admin, &roles));
        let closed = base().member_links_only();
        assert!(!closed.guild.is_moderator(&admin, &roles));
        assert!(!closed.may_invite(&admin, &roles));
        assert_eq!(closed.outage, Some(Outage::MemberLinksOnly));
    }
}
