//! The audit trail: who did what, per server.

use super::{from_secs, id_from_db, id_to_db, to_secs, with_pool, AuditEntry, NewAuditEntry};
use super::{Store, StoreError};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    guild_id: i64,
    at: i64,
    actor_id: i64,
    action: String,
    meeting_id: Option<String>,
    subject: String,
    detail: String,
}

impl Store {
    /// Records an audit entry; returns its id.
    pub async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64, StoreError> {
        let (id,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(
            "INSERT INTO audit_log (guild_id, at, actor_id, action, meeting_id, subject, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        .bind(id_to_db(entry.guild_id))
        .bind(to_secs(entry.at))
        .bind(id_to_db(entry.actor_id))
        .bind(&entry.action)
        .bind(entry.meeting_id.as_deref())
        .bind(&entry.subject)
        .bind(&entry.detail)
        .fetch_one(pool)
        .await?
        });
        Ok(id)
    }

    /// A server's most recent audit entries (only those about `meeting_id` when given),
    /// newest first, at most `limit`.
    pub async fn recent_audit(
        &self,
        guild_id: u64,
        meeting_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT id, guild_id, at, actor_id, action, meeting_id, subject, detail \
             FROM audit_log WHERE guild_id = $1 AND ($2 IS NULL OR meeting_id = $2) \
             ORDER BY at DESC, id DESC LIMIT $3"
        )
        .bind(id_to_db(guild_id))
        .bind(meeting_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?);
        rows.into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.id,
                    guild_id: id_from_db(r.guild_id),
                    at: from_secs(r.at)?,
                    actor_id: id_from_db(r.actor_id),
                    action: r.action,
                    meeting_id: r.meeting_id,
                    subject: r.subject,
                    detail: r.detail,
                })
            })
            .collect()
    }
}
