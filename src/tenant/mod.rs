//! Every server its own Jitsi: the core that joins a server's setup in the store, its sealed secrets and
//! meetbot's signing keys for it into a [`Minter`], and keeps those keys (make, rotate, retire). No Discord
//! types: the `/meetbot jitsi` commands and the HTTP listener plug into this ([`http`] is the key server).

pub mod http;

use crate::clock::SharedClock;
use crate::jitsi::keys::{self, KeyError};
use crate::jitsi::{JitsiSettings, Minter, ServerJitsi, ServerSigner, TokenError};
use crate::seal::{MasterKey, Purpose, SealError, MAKE_ONE, MASTER_KEY_ENV};
use crate::secret::Secret;
use crate::store::{
    KeyInstall, SigningKeyRecord, Store, StoreError, TenantJitsi, TenantJitsiSummary, TenantKind,
};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// The known text sealed as the canary.
const CANARY_TEXT: &[u8] = b"meetbot master key canary";

/// Added to every `serve_until`: meetbot's and Prosody's clocks may differ, and Prosody allows no leeway.
pub const SERVE_MARGIN: Duration = Duration::from_secs(10 * 60);

/// Why a server's own Jitsi could not be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealed data exists and no master key is set: a start-up error.
    #[error(
        "the database holds sealed Jitsi keys or secrets, but {MASTER_KEY_ENV} is not set; set it to \
         the key they were sealed with (meetbot does not start without it)"
    )]
    MasterKeyMissing,
    /// The master key does not open the canary: a start-up error.
    #[error(
        "{MASTER_KEY_ENV} is not the key this database's secrets were sealed with; set the original key \
         (meetbot does not start with another one)"
    )]
    WrongMasterKey,
    /// Sealed data exists but its canary is gone.
    #[error(
        "the database holds sealed Jitsi keys or secrets but no master-key canary (table seal_canary); \
         restore it from a backup, or remove the servers' setups, before starting"
    )]
    CanaryMissing,
    /// Own-Jitsi setups need a master key and the operator has none.
    #[error(
        "servers' own Jitsi is off: meetbot stores their keys encrypted and the operator has not set \
         {MASTER_KEY_ENV} ({MAKE_ONE})"
    )]
    Disabled,
    /// A sealed value did not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A key could not be made or read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The setup does not make valid tokens.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The server has no setup of its own.
    #[error(
        "this server has no Jitsi of its own; an admin can set one up with `/meetbot jitsi setup`"
    )]
    NotSetUp,
    /// The request cannot be carried out as asked (the message says why).
    #[error("{0}")]
    Invalid(String),
}

/// What the start-up check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeyState {
    /// No master key and nothing sealed: servers' own Jitsi is off.
    Absent,
    /// The master key opens the canary (made now if this is the first start with a key).
    Ready,
}

/// Checks the master key against the database at start-up. A missing key while sealed data exists, or a
/// key that is not the one the data was sealed with, is an error: never a silent fallback.
pub async fn check_master_key(
    store: &Store,
    key: Option<&MasterKey>,
    now: DateTime<Utc>,
) -> Result<MasterKeyState, TenantError> {
    let canary = store.seal_canary().await?;
    match (key, canary) {
        (None, Some(_)) => Err(TenantError::MasterKeyMissing),
        (None, None) if store.sealed_value_count().await? > 0 => Err(TenantError::MasterKeyMissing),
        (None, None) => Ok(MasterKeyState::Absent),
        (Some(key), Some(canary)) => open_canary(key, &canary),
        (Some(_), None) if store.sealed_value_count().await? > 0 => Err(TenantError::CanaryMissing),
        (Some(key), None) => {
            let sealed = key.seal(&Purpose::canary(), CANARY_TEXT, &mut rand::rngs::OsRng);
            // Two instances starting at once: whichever stored first wins, and the other checks against it.
            let stored = store.init_seal_canary(&sealed, now).await?;
            open_canary(key, &stored)
        }
    }
}

fn open_canary(key: &MasterKey, sealed: &str) -> Result<MasterKeyState, TenantError> {
    match key.open(&Purpose::canary(), sealed) {
        Ok(text) if text.as_slice() == CANARY_TEXT => Ok(MasterKeyState::Ready),
        Ok(_) | Err(SealError::Open) => Err(TenantError::WrongMasterKey),
        Err(e) => Err(e.into()),
    }
}

/// How a server's tokens are to be signed, as its admin asked.
#[derive(Debug, Clone)]
pub enum SetupSigner {
    /// meetbot's own key for this server, published by the key server.
    Asap,
    /// The server's Prosody `app_secret`.
    Hs256(Secret),
    /// 8x8 JaaS.
    Jaas {
        /// `vpaas-magic-cookie-…`.
        app_id: String,
        /// The API key id (after `<AppID>/`).
        key_id: String,
        /// The private key's PEM.
        private_pem: Secret,
    },
}

/// A server's own Jitsi as its admin asked for it (site facts usually read from its `config.js`).
#[derive(Debug, Clone)]
pub struct SetupRequest {
    /// The Discord server.
    pub guild_id: u64,
    /// Who asks.
    pub actor_id: u64,
    /// The meeting site (ignored for JaaS: `https://8x8.vc/`).
    pub site_url: Url,
    /// Tenant path segment, if the site uses one.
    pub tenant: Option<String>,
    /// `hosts.domain` from the site's config.js.
    pub xmpp_domain: String,
    /// `hosts.muc`, when known.
    pub muc: Option<String>,
    /// `iss`; `None` = [`default_issuer`] for asap (required for hs256: the site's `app_id`).
    pub issuer: Option<String>,
    /// `aud`; `None` = "jitsi".
    pub audience: Option<String>,
    /// How tokens are signed.
    pub signer: SetupSigner,
}

/// The `iss` meetbot uses for a server trusting meetbot's keys: one per server, so a Prosody that lists it
/// in `asap_accepted_issuers` accepts no other server's tokens.
pub fn default_issuer(guild_id: u64) -> String {
    format!("meetbot-{guild_id}")
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// A new key signs from now; the old one is served until `serve_until`.
    Rotated {
        /// The new kid.
        kid: String,
        /// The kid retired, if there was one.
        retired: Option<String>,
        /// Until when the retired key is served.
        serve_until: DateTime<Utc>,
    },
    /// Another instance rotated at the same moment; its key is the current one.
    Concurrent {
        /// The kid that is current.
        kid: String,
    },
}

#[derive(Clone)]
struct CachedMinter {
    setup: TenantJitsi,
    kid: Option<String>,
    minter: Arc<Minter>,
}

/// Servers' own Jitsi. Cheap to share behind an `Arc`.
pub struct Tenants {
    store: Store,
    key: Option<Arc<MasterKey>>,
    clock: SharedClock,
    // Unsealing and parsing an RSA key per mint would cost milliseconds; a minter is rebuilt only when
    // the stored setup or the current kid changes.
    minters: Mutex<HashMap<u64, CachedMinter>>,
}

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenants")
            .field("enabled", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl Tenants {
    /// Checks the master key against the database ([`check_master_key`]) and returns the service; the
    /// bot calls this at start-up and stops on an error.
    pub async fn start(
        store: Store,
        key: Option<MasterKey>,
        clock: SharedClock,
    ) -> Result<Tenants, TenantError> {
        let state = check_master_key(&store, key.as_ref(), clock.now()).await?;
        Ok(Tenants {
            store,
            key: key.filter(|_| state == MasterKeyState::Ready).map(Arc::new),
            clock,
            minters: Mutex::new(HashMap::new()),
        })
    }

    /// Whether servers can set up their own Jitsi (a master key is set).
    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    /// The store this service reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn master(&self) -> Result<&MasterKey, TenantError> {
        self.key.as_deref().ok_or(TenantError::Disabled)
    }

    /// Stores a server's setup after checking that it makes valid tokens on the operator's `defaults`. For
    /// `Asap`, makes meetbot's first key for the server when it has none; for the other kinds, retires
    /// meetbot's key if the server had one, served for `longest_lifetime` plus [`SERVE_MARGIN`]. Returns
    /// the stored setup and the one it replaced.
    pub async fn set_up(
        &self,
        request: SetupRequest,
        defaults: &JitsiSettings,
        longest_lifetime: Duration,
    ) -> Result<(TenantJitsi, Option<TenantJitsi>), TenantError> {
        let key = self.master()?;
        let guild = request.guild_id;
        let mut rng = rand::rngs::OsRng;
        let (kind, site_url, tenant, issuer, audience, jaas, sealed_secret) = match &request.signer
        {
            SetupSigner::Asap => (
                TenantKind::Asap,
                request.site_url.to_string(),
                request.tenant.clone(),
                request
                    .issuer
                    .clone()
                    .unwrap_or_else(|| default_issuer(guild)),
                request.audience.clone().unwrap_or_else(|| "jitsi".into()),
                None,
                None,
            ),
            SetupSigner::Hs256(secret) => (
                TenantKind::Hs256,
                request.site_url.to_string(),
                request.tenant.clone(),
                request.issuer.clone().ok_or_else(|| {
                    TenantError::Invalid(
                        "with a shared secret, the issuer must be the site's Prosody `app_id`"
                            .into(),
                    )
                })?,
                request.audience.clone().unwrap_or_else(|| "jitsi".into()),
                None,
                Some(key.seal(
                    &Purpose::hs256_secret(guild),
                    secret.expose().as_bytes(),
                    &mut rng,
                )),
            ),
            SetupSigner::Jaas {
                app_id,
                key_id,
                private_pem,
            } => (
                TenantKind::Jaas,
                "https://8x8.vc/".to_owned(),
                Some(app_id.clone()),
                "chat".to_owned(),
                "jitsi".to_owned(),
                Some((app_id.clone(), key_id.clone())),
                Some(key.seal(
                    &Purpose::jaas_private_key(guild),
                    private_pem.expose().as_bytes(),
                    &mut rng,
                )),
            ),
        };
        let setup = TenantJitsi {
            guild_id: guild,
            kind,
            site_url,
            xmpp_domain: request.xmpp_domain.trim().to_ascii_lowercase(),
            muc: request.muc.clone(),
            tenant,
            issuer,
            audience,
            jaas_app_id: jaas.as_ref().map(|(a, _)| a.clone()),
            jaas_key_id: jaas.map(|(_, k)| k),
            sealed_secret,
            updated_by: request.actor_id,
            updated_at: self.clock.now(),
        };
        // Refuse what would not mint before storing it (the key is a stand-in for asap: its own checks ran).
        let probe_signer = match &request.signer {
            SetupSigner::Asap => ServerSigner::Hs256(Secret::new("probe-only-not-a-key")),
            SetupSigner::Hs256(s) => ServerSigner::Hs256(s.clone()),
            SetupSigner::Jaas {
                key_id,
                private_pem,
                ..
            } => ServerSigner::Jaas {
                key_id: key_id.clone(),
                private_pem: private_pem.clone(),
            },
        };
        let probe = server_jitsi(&setup, probe_signer)?;
        Minter::new(defaults.for_server(&probe))?;

        let old = self.store.set_tenant_jitsi(&setup).await?;
        if kind != TenantKind::Asap {
            let now = self.clock.now();
            self.store
                .retire_current_key(guild, now, serve_until(now, longest_lifetime))
                .await?;
        } else if self.store.current_signing_key(guild).await?.is_none() {
            self.install_new_key(guild, None, Duration::ZERO).await?;
        }
        Ok((setup, old))
    }

    /// Replaces meetbot's key for an `Asap` server; the old key stays served for `longest_lifetime` (the
    /// longest lifetime of any token minted with it) plus [`SERVE_MARGIN`].
    pub async fn rotate_key(
        &self,
        guild_id: u64,
        longest_lifetime: Duration,
    ) -> Result<Rotation, TenantError> {
        self.master()?;
        let setup = self
            .store
            .tenant_jitsi(guild_id)
            .await?
            .ok_or(TenantError::NotSetUp)?;
        if setup.kind != TenantKind::Asap {
            return Err(TenantError::Invalid(format!(
                "this server signs with its own {} key, not meetbot's: there is no meetbot key to rotate",
                setup.kind
            )));
        }
        let current = self.store.current_signing_key(guild_id).await?;
        self.install_new_key(guild_id, current.map(|c| c.generation), longest_lifetime)
            .await
    }

    async fn install_new_key(
        &self,
        guild_id: u64,
        replaces: Option<i64>,
        longest_lifetime: Duration,
    ) -> Result<Rotation, TenantError> {
        let master = self.master()?.clone();
        let generation = self.store.latest_key_generation(guild_id).await? + 1;
        // RSA generation takes a while: keep it off the async workers.
        let pair = tokio::task::spawn_blocking(move || {
            keys::generate(guild_id, generation, &mut rand::rngs::OsRng)
        })
        .await
        .map_err(|_| KeyError::Generate)??;
        let now = self.clock.now();
        let sealed = master.seal(
            &Purpose::signing_key(guild_id, &pair.kid),
            pair.private_pem.expose().as_bytes(),
            &mut rand::rngs::OsRng,
        );
        let new = SigningKeyRecord {
            guild_id,
            kid_sha256: keys::sha256_hex(&pair.kid),
            kid: pair.kid.clone(),
            generation,
            public_pem: pair.public_pem.clone(),
            sealed_private_key: sealed,
            created_at: now,
            retired_at: None,
            serve_until: None,
        };
        let serve_until = serve_until(now, longest_lifetime);
        match self
            .store
            .install_signing_key(&new, replaces, serve_until)
            .await?
        {
            KeyInstall::Installed { retired } => Ok(Rotation::Rotated {
                kid: pair.kid,
                retired,
                serve_until,
            }),
            KeyInstall::Superseded { current } => Ok(Rotation::Concurrent { kid: current.kid }),
        }
    }

    /// Sends a server back to the operator's default Jitsi. meetbot's key for it stays served for
    /// `longest_lifetime` plus [`SERVE_MARGIN`], so links already sent keep working.
    pub async fn reset(
        &self,
        guild_id: u64,
        longest_lifetime: Duration,
    ) -> Result<Option<TenantJitsi>, TenantError> {
        let now = self.clock.now();
        let removed = self
            .store
            .reset_tenant_jitsi(guild_id, now, serve_until(now, longest_lifetime))
            .await?;
        self.minters.lock().expect("minter cache").remove(&guild_id);
        Ok(removed)
    }

    /// The server's setup with its secret unsealed, ready for the token engine; `None` without a setup.
    pub async fn server_jitsi(&self, guild_id: u64) -> Result<Option<ServerJitsi>, TenantError> {
        let Some(setup) = self.store.tenant_jitsi(guild_id).await? else {
            return Ok(None);
        };
        let current = self.store.current_signing_key(guild_id).await?;
        self.unsealed(&setup, current.as_ref()).map(Some)
    }

    fn unsealed(
        &self,
        setup: &TenantJitsi,
        current: Option<&SigningKeyRecord>,
    ) -> Result<ServerJitsi, TenantError> {
        let master = self.master()?;
        let guild = setup.guild_id;
        let sealed_secret = || {
            setup.sealed_secret.as_deref().ok_or_else(|| {
                TenantError::Store(StoreError::Corrupt(format!(
                    "server {guild}'s {} setup has no sealed secret",
                    setup.kind
                )))
            })
        };
        let signer = match setup.kind {
            TenantKind::Asap => {
                let key = current.ok_or_else(|| {
                    TenantError::Store(StoreError::Corrupt(format!(
                        "server {guild} trusts meetbot's keys but has no current key"
                    )))
                })?;
                ServerSigner::Asap {
                    kid: key.kid.clone(),
                    private_pem: master.open_text(
                        &Purpose::signing_key(guild, &key.kid),
                        &key.sealed_private_key,
                    )?,
                }
            }
            TenantKind::Hs256 => ServerSigner::Hs256(
                master.open_text(&Purpose::hs256_secret(guild), sealed_secret()?)?,
            ),
            TenantKind::Jaas => ServerSigner::Jaas {
                key_id: setup.jaas_key_id.clone().unwrap_or_default(),
                private_pem: master
                    .open_text(&Purpose::jaas_private_key(guild), sealed_secret()?)?,
            },
        };
        server_jitsi(setup, signer)
    }

    /// The minter for a server's own Jitsi, built on the operator's `defaults` (lifetimes, link style,
    /// features); `None` when the server has no setup of its own.
    pub async fn minter(
        &self,
        guild_id: u64,
        defaults: &JitsiSettings,
    ) -> Result<Option<Arc<Minter>>, TenantError> {
        let read = async {
            let setup = self.store.tenant_jitsi(guild_id).await?;
            let current = match setup.as_ref().map(|s| s.kind) {
                Some(TenantKind::Asap) => self.store.current_signing_key(guild_id).await?,
                _ => None,
            };
            Ok::<_, StoreError>((setup, current))
        };
        let (setup, current) = match read.await {
            Ok(found) => found,
            // The database is down: the minter last built for this server still signs for the right Jitsi.
            Err(e) => match self.minters.lock().expect("minter cache").get(&guild_id) {
                Some(cached) => {
                    tracing::warn!(error = %e, guild = guild_id, "cannot read the server's own Jitsi; signing with the setup last read");
                    return Ok(Some(cached.minter.clone()));
                }
                None => return Err(e.into()),
            },
        };
        let Some(setup) = setup else {
            self.minters.lock().expect("minter cache").remove(&guild_id);
            return Ok(None);
        };
        let kid = current.as_ref().map(|k| k.kid.clone());
        if let Some(cached) = self.minters.lock().expect("minter cache").get(&guild_id) {
            if cached.setup == setup && cached.kid == kid {
                return Ok(Some(cached.minter.clone()));
            }
        }
        let server = self.unsealed(&setup, current.as_ref())?;
        let minter = Arc::new(Minter::new(defaults.for_server(&server))?);
        self.minters.lock().expect("minter cache").insert(
            guild_id,
            CachedMinter {
                setup,
                kid,
                minter: minter.clone(),
            },
        );
        Ok(Some(minter))
    }
}

fn serve_until(now: DateTime<Utc>, longest_lifetime: Duration) -> DateTime<Utc> {
    let span = TimeDelta::from_std(longest_lifetime.saturating_add(SERVE_MARGIN))
        .unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(span)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn server_jitsi(setup: &TenantJitsi, signer: ServerSigner) -> Result<ServerJitsi, TenantError> {
    let public_url = Url::parse(&setup.site_url)
        .map_err(|_| TenantError::Invalid(format!("`{}` is not a URL", setup.site_url)))?;
    Ok(ServerJitsi {
        public_url,
        tenant: setup.tenant.clone(),
        xmpp_domain: setup.xmpp_domain.clone(),
        issuer: setup.issuer.clone(),
        audience: setup.audience.clone(),
        signer,
    })
}

/// The `asap_key_server` a server's Prosody is told to use: meetbot's public key-server base URL plus the
/// server's own path, without a trailing slash (Prosody adds one; see [`keys::key_url`]).
pub fn asap_key_server_for(public_base: &Url, guild_id: u64) -> String {
    let base = public_base.as_str().trim_end_matches('/');
    format!("{base}{}", http::key_path(guild_id))
}

/// The JWKS URL (`cache_keys_url`) for a server.
pub fn jwks_url_for(public_base: &Url, guild_id: u64) -> String {
    format!(
        "{}/{}",
        asap_key_server_for(public_base, guild_id),
        http::JWKS_FILE
    )
}

/// `meetbot check`'s lines for the servers with their own Jitsi: what each signs with, never a secret.
pub fn check_lines(servers: &[TenantJitsiSummary]) -> String {
    use std::fmt::Write as _;
    if servers.is_empty() {
        return "servers with their own Jitsi: none\n".to_owned();
    }
    let mut out = format!("servers with their own Jitsi: {}\n", servers.len());
    for s in servers {
        let _ = write!(
            out,
            "  {}: {} at {} (sub {}, iss {}, aud {}",
            s.guild_id, s.kind, s.site_url, s.sub, s.issuer, s.audience
        );
        if let Some(kid) = &s.current_kid {
            let _ = write!(out, ", key {kid}");
        }
        let _ = writeln!(
            out,
            "; set by {} at {})",
            s.updated_by,
            s.updated_at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn check_lines_name_each_server_and_its_key_id() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let s = TenantJitsiSummary {
            guild_id: 42,
            kind: TenantKind::Asap,
            site_url: "https://meet.example.org/".into(),
            sub: "meet.example.org".into(),
            issuer: "meetbot-42".into(),
            audience: "jitsi".into(),
            current_kid: Some("meetbot/42/1-ab".into()),
            updated_by: 7,
            updated_at: at,
        };
        assert_eq!(check_lines(&[]), "servers with their own Jitsi: none\n");
        assert_eq!(
            check_lines(&[s]),
            "servers with their own Jitsi: 1\n  42: asap at https://meet.example.org/ (sub \
             meet.example.org, iss meetbot-42, aud jitsi, key meetbot/42/1-ab; set by 7 at \
             2026-12-01 12:00 UTC)\n"
        );
    }

    #[test]
    fn key_urls_have_no_trailing_slash_whatever_the_base() {
        for base in ["https://bot.example", "https://bot.example/"] {
            let base = Url::parse(base).unwrap();
            assert_eq!(
                asap_key_server_for(&base, 42),
                "https://bot.example/asap/42"
            );
            assert_eq!(
                jwks_url_for(&base, 42),
                "https://bot.example/asap/42/jwks.json"
            );
        }
        let nested = Url::parse("https://bot.example/meetbot/").unwrap();
        assert_eq!(
            asap_key_server_for(&nested, 1),
            "https://bot.example/meetbot/asap/1"
        );
    }
}
