//! The loading pipeline: the compiled-in defaults, the operator's file over them, the environment's overrides, then
//! validation into the types of `mod.rs`. Kept apart from the types so that `mod.rs` leans on no room of its own
//! and the rooms here lean only on it (no circle).

use super::{env, file, validate, Config, ConfigError, Sources};
use std::path::PathBuf;

impl Config {
    /// Loads and validates the configuration from the defaults, a file and the environment.
    pub fn load(sources: &Sources<'_>) -> Result<Config, ConfigError> {
        let mut table = file::defaults()?;

        let path = sources
            .path
            .clone()
            .or_else(|| sources.var("MEETBOT_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("config/meetbot.toml");
                p.exists().then_some(p)
            });
        if let Some(p) = &path {
            file::merge_file(&mut table, p)?;
        }

        let mut problems = Vec::new();
        env::apply_overrides(&mut table, sources, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }

        let raw = file::into_raw(table, path.as_deref())?;
        validate::build(raw, path, &env::Vars::read(sources))
    }
}
