//! Which minter signs for a server: its own Jitsi when its admins set one up (`/meetbot jitsi`), else the operator's
//! default. Everything that mints asks [`ServerMinters::for_guild`] first. Leans on nothing of `discord/` (`Data` holds
//! it).

use crate::jitsi::Minter;
use crate::tenant::{TenantError, Tenants};
use std::sync::Arc;

/// Why no minter is at hand: a sentence for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoMinter(pub String);

impl std::fmt::Display for NoMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which minter signs for a server: its own Jitsi when its admins set one up (`/meetbot jitsi`), else the
/// operator's default from the environment. Everything that mints asks this first.
pub struct ServerMinters {
    /// The operator's Jitsi.
    pub default: Arc<Minter>,
    /// Servers' own Jitsi.
    pub tenants: Arc<Tenants>,
    /// Whether `default` is the operator's real Jitsi (off: a stand-in that never signs a link).
    pub has_default: bool,
}

impl ServerMinters {
    /// The minter for `guild_id`. A setup that cannot be used (the database is down, a sealed value does not
    /// open) is a refusal for the person: never a silent fall back to the operator's Jitsi, whose links the
    /// server's own Jitsi would not accept.
    pub async fn for_guild(&self, guild_id: u64) -> Result<Arc<Minter>, NoMinter> {
        // Without a master key no server can have its own Jitsi (setting one up needs it, and the start refuses
        // sealed data without it), so the database is not asked: links keep working while it is down.
        if !self.tenants.enabled() {
            return if self.has_default {
                Ok(self.default.clone())
            } else {
                Err(NoMinter(NO_JITSI.into()))
            };
        }
        match self.tenants.minter(guild_id, self.default.settings()).await {
            Ok(Some(own)) => Ok(own),
            Ok(None) if self.has_default => Ok(self.default.clone()),
            Ok(None) => Err(NoMinter(NO_JITSI.into())),
            Err(e) => Err(own_jitsi_failed(&e, guild_id)),
        }
    }
}

/// The answer in a server without any Jitsi (the operator has none and the server set none up).
pub const NO_JITSI: &str = "This server has no Jitsi yet, so I cannot make meeting links. A server admin \
     (Manage Server) can set one up: `/meetbot jitsi setup site:https://your.jitsi.site` (your Prosody trusts \
     meetbot's key), `/meetbot jitsi setup-secret` (your Prosody's shared secret) or `/meetbot jitsi setup-jaas` (8x8 JaaS).";

/// The refusal when a server's own Jitsi cannot sign.
fn own_jitsi_failed(e: &TenantError, guild_id: u64) -> NoMinter {
    tracing::error!(error = %e, guild = guild_id, "this server's own Jitsi cannot sign");
    NoMinter(
        "I could not create a link: this server's own Jitsi setup cannot be used right now. A server admin \
         can check it with `/meetbot jitsi test`."
            .into(),
    )
}
