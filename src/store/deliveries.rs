//! Once-per-user deliveries (invitations, reminders), so a retry never sends twice.
//!
//! A reminder is exactly once *in effect*: the attempt is recorded (`pending`) before the DM goes out with a nonce
//! Discord enforces, and marked `delivered` once Discord confirmed it. An attempt still `pending` later (a crash, a
//! shutdown, a 5xx) is sent again with the same nonce, and Discord hands back the message it may already have made.

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

/// What [`Store::begin_delivery`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Nothing was recorded for this user: the attempt is now, send.
    First,
    /// An earlier attempt was never confirmed (crash, shutdown, a 5xx or timeout): send again, with the same nonce.
    Resend,
    /// Delivered, or failed for good (DMs closed): send nothing.
    Settled,
}

impl Store {
    /// Records an attempt to deliver `scope` to `user` unless one is already recorded, and says whether to send.
    pub async fn begin_delivery(
        &self,
        scope: &DeliveryScope,
        user_id: u64,
        now: DateTime<Utc>,
    ) -> Result<Attempt, StoreError> {
        if self.claim_delivery(scope, user_id, now).await? {
            return Ok(Attempt::First);
        }
        let status: Option<String> = with_pool!(self, |pool| sqlx::query_scalar(
            "SELECT status FROM deliveries WHERE scope = $1 AND user_id = $2"
        )
        .bind(scope.key())
        .bind(id_to_db(user_id))
        .fetch_optional(pool)
        .await?);
        Ok(match status.as_deref().map(str::parse::<DeliveryStatus>) {
            Some(Ok(DeliveryStatus::Pending)) => Attempt::Resend,
            Some(Ok(_)) => Attempt::Settled,
            Some(Err(e)) => return Err(e),
            // Deleted between the two statements (pruning): nothing holds it any more.
            None => Attempt::Resend,
        })
    }

    /// Leaves an attempt unconfirmed (`pending`), with the reason it did not go out, so the next run sends it again.
    pub async fn mark_unsent(
        &self,
        scope: &DeliveryScope,
        user_id: u64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.set_delivery(scope, user_id, DeliveryStatus::Pending, Some(reason), now)
            .await
    }

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
