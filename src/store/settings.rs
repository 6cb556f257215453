//! Per-server settings: a JSON value per (server, key).

use super::{
    from_secs, id_from_db, id_to_db, to_secs, with_pool, BeginWrite, Setting, Store, StoreError,
};
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct SettingRow {
    key: String,
    value: String,
    updated_at: i64,
    updated_by: i64,
}

fn parse_value(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("setting value: {e}")))
}

impl Store {
    /// Sets a server's setting and returns the value it replaced, if any.
    pub async fn set_setting(
        &self,
        guild_id: u64,
        key: &str,
        value: &serde_json::Value,
        updated_by: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let old: Option<(String,)> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let old: Option<(String,)> =
                sqlx::query_as("SELECT value FROM guild_settings WHERE guild_id = $1 AND key = $2")
                    .bind(id_to_db(guild_id))
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query(
                "INSERT INTO guild_settings (guild_id, key, value, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id, key) DO UPDATE SET \
                 value = excluded.value, updated_at = excluded.updated_at, \
                 updated_by = excluded.updated_by",
            )
            .bind(id_to_db(guild_id))
            .bind(key)
            .bind(value.to_string())
            .bind(to_secs(now))
            .bind(id_to_db(updated_by))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            old
        });
        old.map(|(v,)| parse_value(&v)).transpose()
    }

    /// One setting's value.
    pub async fn setting(
        &self,
        guild_id: u64,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row: Option<(String,)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT value FROM guild_settings WHERE guild_id = $1 AND key = $2"
        )
        .bind(id_to_db(guild_id))
        .bind(key)
        .fetch_optional(pool)
        .await?);
        row.map(|(v,)| parse_value(&v)).transpose()
    }

    /// Every setting of a server, by key.
    pub async fn settings(&self, guild_id: u64) -> Result<Vec<Setting>, StoreError> {
        let rows: Vec<SettingRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT key, value, updated_at, updated_by FROM guild_settings \
             WHERE guild_id = $1 ORDER BY key"
        )
        .bind(id_to_db(guild_id))
        .fetch_all(pool)
        .await?);
        let settings = rows
            .into_iter()
            .map(|r| {
                Ok(Setting {
                    value: parse_value(&r.value)?,
                    key: r.key,
                    updated_at: from_secs(r.updated_at)?,
                    updated_by: id_from_db(r.updated_by),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if let Ok(mut seen) = self.settings_seen.lock() {
            seen.insert(guild_id, settings.clone());
        }
        Ok(settings)
    }

    /// The settings [`Store::settings`] last read for a server in this process, if it ever did.
    pub fn last_settings(&self, guild_id: u64) -> Option<Vec<Setting>> {
        self.settings_seen.lock().ok()?.get(&guild_id).cloned()
    }

    /// Removes a setting; returns the value it had.
    pub async fn remove_setting(
        &self,
        guild_id: u64,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row: Option<(String,)> = with_pool!(self, |pool| sqlx::query_as(
            "DELETE FROM guild_settings WHERE guild_id = $1 AND key = $2 RETURNING value"
        )
        .bind(id_to_db(guild_id))
        .bind(key)
        .fetch_optional(pool)
        .await?);
        row.map(|(v,)| parse_value(&v)).transpose()
    }
}
