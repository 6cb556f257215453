//! The configuration as written: the built-in defaults (`config/meetbot.toml`, compiled in), an operator's file
//! merged over them, and the raw TOML structs they deserialize into. Nothing here judges a value; `validate` does.

use super::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The defaults, compiled in: the shipped file is both the documentation and the default values.
pub const DEFAULT_TOML: &str = include_str!("../../config/meetbot.toml");

/// The built-in defaults as a table, the base every other source is merged onto.
pub(super) fn defaults() -> Result<toml::Table, ConfigError> {
    DEFAULT_TOML
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: "built-in defaults".into(),
            message: e.to_string(),
        })
}

/// Reads an operator's file and merges it over `table`.
pub(super) fn merge_file(table: &mut toml::Table, path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    merge(table, file);
    Ok(())
}

/// The merged table as raw structs; unknown keys are refused here (`deny_unknown_fields`).
pub(super) fn into_raw(table: toml::Table, path: Option<&Path>) -> Result<RawConfig, ConfigError> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the environment".into()),
            message: e.to_string(),
        })
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            // Feature maps and the per-guild table are replaced as a whole; sections merge key by key.
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if !is_leaf_table(&k) => {
                merge(b, o)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn is_leaf_table(key: &str) -> bool {
    key.ends_with("_features")
}

// Fields are required: the defaults always supply them, and with `deny_unknown_fields` a key the defaults have but a
// struct lacks fails every load, so the two cannot drift apart unnoticed.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub jitsi: RawJitsi,
    pub token: RawToken,
    pub discord: RawDiscord,
    pub meetings: RawMeetings,
    pub scheduler: RawScheduler,
    pub storage: RawStorage,
    pub http: RawHttp,
    pub fetch: RawFetch,
    pub log: RawLog,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJitsi {
    pub preset: String,
    pub tenant: String,
    pub allow_insecure_url: bool,
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub xmpp_domain: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    pub audience: String,
    pub algorithm: String,
    pub lifetime: String,
    pub nbf_backdate: String,
    pub link_style: String,
    pub moderator_claims: String,
    pub lobby_bypass_for_moderators: bool,
    pub include_email: bool,
    pub moderator_features: BTreeMap<String, bool>,
    pub member_features: BTreeMap<String, bool>,
    pub prejoin: String,
    pub prefill_display_name: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiscord {
    pub api_base: String,
    pub register_on_start: String,
    pub moderator_roles: Vec<toml::Value>,
    pub administrators_are_moderators: bool,
    pub host_roles: Vec<toml::Value>,
    pub invitee_cap: i64,
    pub requests_per_second: i64,
    pub dm_concurrency: i64,
    pub guest_inviter_roles: Vec<toml::Value>,
    pub cooldown_seconds: i64,
    /// File only: absent from the defaults, so no `MEETBOT_*` override reaches it.
    #[serde(default)]
    pub guilds: BTreeMap<String, RawGuild>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuild {
    pub moderator_roles: Option<Vec<toml::Value>>,
    pub host_roles: Option<Vec<toml::Value>>,
    pub administrators_are_moderators: Option<bool>,
    pub invitee_cap: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeetings {
    pub default_duration_minutes: i64,
    pub max_duration_minutes: i64,
    pub grace_minutes: i64,
    pub join_window_minutes: i64,
    pub remind_minutes: i64,
    pub default_timezone: String,
    pub max_days_ahead: i64,
    pub guest_max_validity: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScheduler {
    pub lease_seconds: i64,
    pub poll_seconds: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub data_dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub listen: String,
    pub public_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFetch {
    pub allow_networks: Vec<String>,
    pub allow_http: bool,
    pub timeout_seconds: i64,
    pub max_kib: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub level: String,
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;
    use crate::jitsi::LinkStyle;
    use crate::meeting::policy::RoleRef;

    #[test]
    fn an_operators_file_overrides_defaults_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.toml");
        std::fs::write(&f, "[token]\nlink_style = \"fragment\"\n[discord.guilds.42]\nmoderator_roles = [\"Staff\"]\n").unwrap();
        let c = load_with(&base(), Some(f.clone())).unwrap();
        assert_eq!(c.jitsi.link_style, LinkStyle::Fragment);
        assert_eq!(c.jitsi.audience, "jitsi", "unset keys keep their defaults");
        assert_eq!(
            c.discord.policy.for_guild(42).moderator_roles,
            vec![RoleRef::Name("Staff".into())]
        );
        std::fs::write(&f, "[token]\nlifetme = \"1h\"\n").unwrap();
        let err = load_with(&base(), Some(f)).unwrap_err().to_string();
        assert!(err.contains("lifetme"), "{err}");
    }
}
