//! Servers' own Jitsi setups, meetbot's signing keys per server, and the master-key canary. Secrets are
//! stored only sealed (src/seal.rs); this layer stores and returns the sealed text and never opens it.

use super::BeginWrite;
use super::{
    from_secs, id_from_db, id_to_db, opt_from_secs, to_secs, with_pool, Store, StoreError,
};
use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

/// How a server's tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantKind {
    /// meetbot's own RS256 keys, which the server's Prosody fetches from meetbot's key server.
    Asap,
    /// The server's own Prosody `app_secret`.
    Hs256,
    /// The server's 8x8 JaaS key.
    Jaas,
}

impl TenantKind {
    /// The spelling stored in the database (and shown to admins).
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Asap => "asap",
            TenantKind::Hs256 => "hs256",
            TenantKind::Jaas => "jaas",
        }
    }
}

impl fmt::Display for TenantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "asap" => Ok(TenantKind::Asap),
            "hs256" => Ok(TenantKind::Hs256),
            "jaas" => Ok(TenantKind::Jaas),
            other => Err(StoreError::Corrupt(format!("unknown TenantKind {other:?}"))),
        }
    }
}

/// A server's own Jitsi setup as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantJitsi {
    /// The Discord server.
    pub guild_id: u64,
    /// How its tokens are signed.
    pub kind: TenantKind,
    /// The meeting site, e.g. `https://meet.example.org/`.
    pub site_url: String,
    /// `hosts.domain`: `sub` without a tenant.
    pub xmpp_domain: String,
    /// `hosts.muc`, when known.
    pub muc: Option<String>,
    /// Tenant path segment (JaaS: the AppID).
    pub tenant: Option<String>,
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// JaaS AppID (`vpaas-magic-cookie-…`).
    pub jaas_app_id: Option<String>,
    /// JaaS API key id.
    pub jaas_key_id: Option<String>,
    /// The HS256 secret or the JaaS private key, sealed; `None` for `asap`.
    pub sealed_secret: Option<String>,
    /// Who last changed it.
    pub updated_by: u64,
    /// When.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for TenantJitsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantJitsi")
            .field("guild_id", &self.guild_id)
            .field("kind", &self.kind)
            .field("site_url", &self.site_url)
            .field("xmpp_domain", &self.xmpp_domain)
            .field("tenant", &self.tenant)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("sealed_secret", &self.sealed_secret.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// One line of `meetbot check`: a server with its own Jitsi, without any secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantJitsiSummary {
    /// The Discord server.
    pub guild_id: u64,
    /// How its tokens are signed.
    pub kind: TenantKind,
    /// The meeting site.
    pub site_url: String,
    /// The token's `sub`: the tenant when set, else the XMPP domain.
    pub sub: String,
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// The kid of meetbot's current key for it (`asap` only).
    pub current_kid: Option<String>,
    /// Who last changed it.
    pub updated_by: u64,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// One of meetbot's signing keys for a server, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The Discord server.
    pub guild_id: u64,
    /// The key id.
    pub kid: String,
    /// Lowercase hex SHA-256 of the kid.
    pub kid_sha256: String,
    /// 1 for the first key of a server, one more for each rotation.
    pub generation: i64,
    /// SPKI PEM of the public key.
    pub public_pem: String,
    /// The private key, sealed.
    pub sealed_private_key: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stopped signing (`None`: it is the current key).
    pub retired_at: Option<DateTime<Utc>>,
    /// Until when the key server still serves it after retirement.
    pub serve_until: Option<DateTime<Utc>>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("guild_id", &self.guild_id)
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .field("retired_at", &self.retired_at)
            .field("serve_until", &self.serve_until)
            .finish_non_exhaustive()
    }
}

/// A public key as the key server serves it: no private material at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedPublicKey {
    /// The key id.
    pub kid: String,
    /// SPKI PEM.
    pub public_pem: String,
    /// `None` while current; else until when it is served.
    pub serve_until: Option<DateTime<Utc>>,
}

/// What became of an attempt to install a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyInstall {
    /// It is the current key now; `retired` is the kid it replaced.
    Installed {
        /// The kid that stopped signing, if there was one.
        retired: Option<String>,
    },
    /// Another instance installed a key for this server first: that one is current, this one was dropped.
    Superseded {
        /// The key that is current.
        current: Box<SigningKeyRecord>,
    },
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    guild_id: i64,
    kind: String,
    site_url: String,
    xmpp_domain: String,
    muc: Option<String>,
    tenant: Option<String>,
    issuer: String,
    audience: String,
    jaas_app_id: Option<String>,
    jaas_key_id: Option<String>,
    sealed_secret: Option<String>,
    updated_by: i64,
    updated_at: i64,
}

impl TenantRow {
    fn into_record(self) -> Result<TenantJitsi, StoreError> {
        Ok(TenantJitsi {
            guild_id: id_from_db(self.guild_id),
            kind: self.kind.parse()?,
            site_url: self.site_url,
            xmpp_domain: self.xmpp_domain,
            muc: self.muc,
            tenant: self.tenant,
            issuer: self.issuer,
            audience: self.audience,
            jaas_app_id: self.jaas_app_id,
            jaas_key_id: self.jaas_key_id,
            sealed_secret: self.sealed_secret,
            updated_by: id_from_db(self.updated_by),
            updated_at: from_secs(self.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    guild_id: i64,
    kid: String,
    kid_sha256: String,
    generation: i64,
    public_pem: String,
    sealed_private_key: String,
    created_at: i64,
    retired_at: Option<i64>,
    serve_until: Option<i64>,
}

impl KeyRow {
    fn into_record(self) -> Result<SigningKeyRecord, StoreError> {
        Ok(SigningKeyRecord {
            guild_id: id_from_db(self.guild_id),
            kid: self.kid,
            kid_sha256: self.kid_sha256,
            generation: self.generation,
            public_pem: self.public_pem,
            sealed_private_key: self.sealed_private_key,
            created_at: from_secs(self.created_at)?,
            retired_at: opt_from_secs(self.retired_at)?,
            serve_until: opt_from_secs(self.serve_until)?,
        })
    }
}

const TENANT_COLUMNS: &str =
    "guild_id, kind, site_url, xmpp_domain, muc, tenant, issuer, audience, \
     jaas_app_id, jaas_key_id, sealed_secret, updated_by, updated_at";
const KEY_COLUMNS: &str = "guild_id, kid, kid_sha256, generation, public_pem, sealed_private_key, \
     created_at, retired_at, serve_until";

fn served(
    (kid, public_pem, until): (String, String, Option<i64>),
) -> Result<ServedPublicKey, StoreError> {
    Ok(ServedPublicKey {
        kid,
        public_pem,
        serve_until: opt_from_secs(until)?,
    })
}

/// Retires a server's current key: $1 guild, $2 now, $3 serve_until.
const RETIRE_CURRENT: &str = "UPDATE tenant_signing_keys SET retired_at = $2, serve_until = $3 \
     WHERE guild_id = $1 AND retired_at IS NULL";

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Store {
    /// Stores a server's setup, replacing any; returns the one it replaced.
    pub async fn set_tenant_jitsi(
        &self,
        setup: &TenantJitsi,
    ) -> Result<Option<TenantJitsi>, StoreError> {
        let select = format!("SELECT {TENANT_COLUMNS} FROM tenant_jitsi WHERE guild_id = $1");
        let old: Option<TenantRow> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let old: Option<TenantRow> = sqlx::query_as(&select)
                .bind(id_to_db(setup.guild_id))
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO tenant_jitsi (guild_id, kind, site_url, xmpp_domain, muc, tenant, issuer, \
                 audience, jaas_app_id, jaas_key_id, sealed_secret, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (guild_id) DO UPDATE SET kind = excluded.kind, \
                 site_url = excluded.site_url, xmpp_domain = excluded.xmpp_domain, muc = excluded.muc, \
                 tenant = excluded.tenant, issuer = excluded.issuer, audience = excluded.audience, \
                 jaas_app_id = excluded.jaas_app_id, jaas_key_id = excluded.jaas_key_id, \
                 sealed_secret = excluded.sealed_secret, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
            )
            .bind(id_to_db(setup.guild_id))
            .bind(setup.kind.as_str())
            .bind(&setup.site_url)
            .bind(&setup.xmpp_domain)
            .bind(setup.muc.as_deref())
            .bind(setup.tenant.as_deref())
            .bind(&setup.issuer)
            .bind(&setup.audience)
            .bind(setup.jaas_app_id.as_deref())
            .bind(setup.jaas_key_id.as_deref())
            .bind(setup.sealed_secret.as_deref())
            .bind(id_to_db(setup.updated_by))
            .bind(to_secs(setup.updated_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            old
        });
        old.map(TenantRow::into_record).transpose()
    }

    /// A server's setup, if it has its own Jitsi.
    pub async fn tenant_jitsi(&self, guild_id: u64) -> Result<Option<TenantJitsi>, StoreError> {
        let select = format!("SELECT {TENANT_COLUMNS} FROM tenant_jitsi WHERE guild_id = $1");
        let row: Option<TenantRow> = with_pool!(self, |pool| sqlx::query_as(&select)
            .bind(id_to_db(guild_id))
            .fetch_optional(pool)
            .await?);
        row.map(TenantRow::into_record).transpose()
    }

    /// Removes a server's setup (back to the operator's default) and retires its current key, which
    /// stays served until `serve_until` so links already sent keep working. Returns the removed setup.
    pub async fn reset_tenant_jitsi(
        &self,
        guild_id: u64,
        now: DateTime<Utc>,
        serve_until: DateTime<Utc>,
    ) -> Result<Option<TenantJitsi>, StoreError> {
        let delete =
            format!("DELETE FROM tenant_jitsi WHERE guild_id = $1 RETURNING {TENANT_COLUMNS}");
        let old: Option<TenantRow> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // Writing first takes SQLite's write lock before anything is read, so two resets queue
            // instead of failing on a stale snapshot.
            sqlx::query(RETIRE_CURRENT)
                .bind(id_to_db(guild_id))
                .bind(to_secs(now))
                .bind(to_secs(serve_until))
                .execute(&mut *tx)
                .await?;
            let old: Option<TenantRow> = sqlx::query_as(&delete)
                .bind(id_to_db(guild_id))
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            old
        });
        old.map(TenantRow::into_record).transpose()
    }

    /// Every server with its own Jitsi, by guild id, without secrets (for `meetbot check`).
    pub async fn tenant_jitsi_list(&self) -> Result<Vec<TenantJitsiSummary>, StoreError> {
        let rows: Vec<(TenantRow, Option<String>)> = with_pool!(self, |pool| {
            let tenants: Vec<TenantRow> = sqlx::query_as(&format!(
                "SELECT {TENANT_COLUMNS} FROM tenant_jitsi ORDER BY guild_id"
            ))
            .fetch_all(pool)
            .await?;
            let current: Vec<(i64, String)> = sqlx::query_as(
                "SELECT guild_id, kid FROM tenant_signing_keys WHERE retired_at IS NULL",
            )
            .fetch_all(pool)
            .await?;
            let current: std::collections::HashMap<i64, String> = current.into_iter().collect();
            tenants
                .into_iter()
                .map(|t| {
                    let kid = current.get(&t.guild_id).cloned();
                    (t, kid)
                })
                .collect()
        });
        rows.into_iter()
            .map(|(row, kid)| {
                let t = row.into_record()?;
                Ok(TenantJitsiSummary {
                    guild_id: t.guild_id,
                    kind: t.kind,
                    sub: t.tenant.clone().unwrap_or_else(|| t.xmpp_domain.clone()),
                    site_url: t.site_url,
                    issuer: t.issuer,
                    audience: t.audience,
                    current_kid: kid.filter(|_| t.kind == TenantKind::Asap),
                    updated_by: t.updated_by,
                    updated_at: t.updated_at,
                })
            })
            .collect()
    }

    /// Retires a server's current key, if any, serving it until `serve_until`; returns its kid. For a
    /// server that stops trusting meetbot's keys (it switched to its own secret).
    pub async fn retire_current_key(
        &self,
        guild_id: u64,
        now: DateTime<Utc>,
        serve_until: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let sql = format!("{RETIRE_CURRENT} RETURNING kid");
        let row: Option<(String,)> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id_to_db(guild_id))
            .bind(to_secs(now))
            .bind(to_secs(serve_until))
            .fetch_optional(pool)
            .await?);
        Ok(row.map(|(kid,)| kid))
    }

    /// The key that signs a server's tokens now.
    pub async fn current_signing_key(
        &self,
        guild_id: u64,
    ) -> Result<Option<SigningKeyRecord>, StoreError> {
        let select = format!(
            "SELECT {KEY_COLUMNS} FROM tenant_signing_keys WHERE guild_id = $1 AND retired_at IS NULL"
        );
        let row: Option<KeyRow> = with_pool!(self, |pool| sqlx::query_as(&select)
            .bind(id_to_db(guild_id))
            .fetch_optional(pool)
            .await?);
        row.map(KeyRow::into_record).transpose()
    }

    /// Makes `key` (made and sealed by the caller; its `retired_at` and `serve_until` are ignored) the
    /// server's current key in one transaction. With `replaces`, that generation must be
    /// the current key: it is retired and served until `serve_until`. Without, there must be no current
    /// key. When another instance got there first (the replaced key is no longer current, a key is
    /// already current, or this generation exists), nothing changes and the winner is returned.
    pub async fn install_signing_key(
        &self,
        key: &SigningKeyRecord,
        replaces: Option<i64>,
        serve_until: DateTime<Utc>,
    ) -> Result<KeyInstall, StoreError> {
        let guild = id_to_db(key.guild_id);
        let outcome: Result<Option<String>, sqlx::Error> = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                let retired = if let Some(generation) = replaces {
                    // Writing first: see reset_tenant_jitsi. Only the generation the caller saw as current
                    // is retired, so a rotation that raced another one changes nothing.
                    let row: Option<(String,)> = sqlx::query_as(
                        "UPDATE tenant_signing_keys SET retired_at = $3, serve_until = $4 \
                         WHERE guild_id = $1 AND generation = $2 AND retired_at IS NULL RETURNING kid",
                    )
                    .bind(guild)
                    .bind(generation)
                    .bind(to_secs(key.created_at))
                    .bind(to_secs(serve_until))
                    .fetch_optional(&mut *tx)
                    .await?;
                    match row {
                        Some((kid,)) => Some(kid),
                        None => return Ok(None),
                    }
                } else {
                    None
                };
                sqlx::query(
                    "INSERT INTO tenant_signing_keys (kid, kid_sha256, guild_id, generation, public_pem, \
                     sealed_private_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&key.kid)
                .bind(&key.kid_sha256)
                .bind(guild)
                .bind(key.generation)
                .bind(&key.public_pem)
                .bind(&key.sealed_private_key)
                .bind(to_secs(key.created_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(retired.unwrap_or_default()))
            }
            .await
        });
        match outcome {
            Ok(Some(retired)) => Ok(KeyInstall::Installed {
                retired: (!retired.is_empty()).then_some(retired),
            }),
            Ok(None) => self.superseded(key.guild_id).await,
            Err(e) if is_unique_violation(&e) => self.superseded(key.guild_id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// The highest key generation a server has had (0 for none): a new key is named for one more.
    pub async fn latest_key_generation(&self, guild_id: u64) -> Result<i64, StoreError> {
        let (g,): (Option<i64>,) = with_pool!(self, |pool| sqlx::query_as(
            "SELECT MAX(generation) FROM tenant_signing_keys WHERE guild_id = $1"
        )
        .bind(id_to_db(guild_id))
        .fetch_one(pool)
        .await?);
        Ok(g.unwrap_or(0))
    }

    async fn superseded(&self, guild_id: u64) -> Result<KeyInstall, StoreError> {
        match self.current_signing_key(guild_id).await? {
            Some(current) => Ok(KeyInstall::Superseded {
                current: Box::new(current),
            }),
            // The winner was retired again in the meantime (a reset): nothing current to offer.
            None => Err(StoreError::NotFound(format!(
                "a current signing key for server {guild_id}"
            ))),
        }
    }

    /// The public key with this kid hash, if it belongs to `guild_id` and is current or retired but still
    /// within its `serve_until` at `now`.
    pub async fn served_public_key(
        &self,
        guild_id: u64,
        kid_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ServedPublicKey>, StoreError> {
        let row: Option<(String, String, Option<i64>)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT kid, public_pem, serve_until FROM tenant_signing_keys \
             WHERE kid_sha256 = $1 AND guild_id = $2 AND (retired_at IS NULL OR serve_until > $3)"
        )
        .bind(kid_sha256)
        .bind(id_to_db(guild_id))
        .bind(to_secs(now))
        .fetch_optional(pool)
        .await?);
        row.map(served).transpose()
    }

    /// Every public key of `guild_id` served at `now`, newest first (the JWKS).
    pub async fn served_public_keys(
        &self,
        guild_id: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<ServedPublicKey>, StoreError> {
        let rows: Vec<(String, String, Option<i64>)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT kid, public_pem, serve_until FROM tenant_signing_keys \
             WHERE guild_id = $1 AND (retired_at IS NULL OR serve_until > $2) \
             ORDER BY generation DESC"
        )
        .bind(id_to_db(guild_id))
        .bind(to_secs(now))
        .fetch_all(pool)
        .await?);
        rows.into_iter().map(served).collect()
    }

    /// The sealed canary, if one was stored.
    pub async fn seal_canary(&self) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT sealed FROM seal_canary WHERE id = 1"
        )
        .fetch_optional(pool)
        .await?);
        Ok(row.map(|(s,)| s))
    }

    /// Stores `sealed` as the canary unless one exists; returns the canary in force (another instance's,
    /// when two start at once).
    pub async fn init_seal_canary(
        &self,
        sealed: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        with_pool!(self, |pool| sqlx::query(
            "INSERT INTO seal_canary (id, sealed, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING"
        )
        .bind(sealed)
        .bind(to_secs(now))
        .execute(pool)
        .await
        .map(|_| ())?);
        self.seal_canary()
            .await?
            .ok_or_else(|| StoreError::NotFound("the master-key canary".into()))
    }

    /// How many stored values are sealed (keys and secrets): when there are any, a master key is needed.
    pub async fn sealed_value_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = with_pool!(self, |pool| sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM tenant_signing_keys) \
             + (SELECT COUNT(*) FROM tenant_jitsi WHERE sealed_secret IS NOT NULL)"
        )
        .fetch_one(pool)
        .await?);
        Ok(n)
    }
}
