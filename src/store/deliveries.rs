//! Once-per-user deliveries (invitations, reminders), so a retry never sends twice.

use super::{from_secs, id_from_db, id_to_db, to_secs, with_pool, Delivery, DeliveryScope};
use super::{DeliveryStatus, Store, StoreError};
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    user_id: i64,
    status: String,
    reason: Option<String>,
    claimed_at: i64,
    updated_at: i64,
}

impl Store {
    /// Claims the right to deliver `scope` to `user`: true only for the first caller ever.
    pub async fn claim_delivery(
        &self,
        scope: &DeliveryScope,
        user_id: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (meeting_id, occurrence_id) = match scope {
            DeliveryScope::Meeting(id) => (Some(id.as_str()), None),
            DeliveryScope::Occurrence(id) | DeliveryScope::Cancellation(id) => (None, Some(*id)),
        };
        let n = with_pool!(self, |pool| sqlx::query(
            "INSERT INTO deliveries (scope, meeting_id, occurrence_id, user_id, status, \
             claimed_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5) \
             ON CONFLICT DO NOTHING"
        )
        .bind(scope.key())
        .bind(meeting_id)
        .bind(occurrence_id)
        .bind(id_to_db(user_id))
        .bind(to_secs(now))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Records that the delivery went out.
    pub async fn mark_delivered(
        &self,
        scope: &DeliveryScope,
        user_id: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.set_delivery(scope, user_id, DeliveryStatus::Delivered, None, now)
            .await
    }

    /// Records that the delivery failed and why (e.g. "DMs closed").
    pub async fn mark_failed(
        &self,
        scope: &DeliveryScope,
        user_id: u64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.set_delivery(scope, user_id, DeliveryStatus::Failed, Some(reason), now)
            .await
    }

    async fn set_delivery(
        &self,
        scope: &DeliveryScope,
        user_id: u64,
        status: DeliveryStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| sqlx::query(
            "UPDATE deliveries SET status = $3, reason = $4, updated_at = $5 \
             WHERE scope = $1 AND user_id = $2"
        )
        .bind(scope.key())
        .bind(id_to_db(user_id))
        .bind(status.as_str())
        .bind(reason)
        .bind(to_secs(now))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Every delivery recorded for `scope`, by user id.
    pub async fn deliveries(&self, scope: &DeliveryScope) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryRow> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT user_id, status, reason, claimed_at, updated_at FROM deliveries \
             WHERE scope = $1 ORDER BY user_id"
        )
        .bind(scope.key())
        .fetch_all(pool)
        .await?);
        rows.into_iter()
            .map(|r| {
                Ok(Delivery {
                    user_id: id_from_db(r.user_id),
                    status: r.status.parse()?,
                    reason: r.reason,
                    claimed_at: from_secs(r.claimed_at)?,
                    updated_at: from_secs(r.updated_at)?,
                })
            })
            .collect()
    }
}
