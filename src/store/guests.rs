//! Guest invitations per meeting, counted exactly: a claim raises the meeting's counter only while it stays within
//! the cap, in one conditional `UPDATE` — on PostgreSQL the row lock makes a racing claim wait and re-check the
//! counter it raised, on SQLite writers take turns — so two moderators racing at cap − 1 never both get a slot.

use super::{with_pool, Store, StoreError};

/// What a claim of guest slots found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestSlots {
    /// The slots are taken; the meeting now counts this many guest invitations.
    Claimed {
        /// The count after the claim.
        total: u32,
    },
    /// Taking them would pass the cap; nothing changed.
    Full {
        /// The count as it stands.
        total: u32,
    },
}

impl Store {
    /// Claims `n` guest invitations of `meeting_id` if the meeting's count stays at most `cap`; all or nothing.
    /// `NotFound` when the meeting does not exist.
    pub async fn claim_guest_slots(
        &self,
        meeting_id: &str,
        n: u32,
        cap: u32,
    ) -> Result<GuestSlots, StoreError> {
        let claimed: Option<(i64,)> = with_pool!(self, |pool| sqlx::query_as(
            "UPDATE meetings SET guest_invitations = guest_invitations + $2 \
             WHERE id = $1 AND guest_invitations + $2 <= $3 RETURNING guest_invitations"
        )
        .bind(meeting_id)
        .bind(i64::from(n))
        .bind(i64::from(cap))
        .fetch_optional(pool)
        .await?);
        if let Some((total,)) = claimed {
            return Ok(GuestSlots::Claimed {
                total: count(total)?,
            });
        }
        match self.guest_invitations(meeting_id).await? {
            Some(total) => Ok(GuestSlots::Full { total }),
            None => Err(StoreError::NotFound(meeting_id.to_string())),
        }
    }

    /// Gives back `n` slots claimed for invitations that were not handed out (the DM did not arrive, minting
    /// failed); never below zero.
    pub async fn release_guest_slots(&self, meeting_id: &str, n: u32) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE meetings SET guest_invitations = \
             CASE WHEN guest_invitations > $2 THEN guest_invitations - $2 ELSE 0 END WHERE id = $1"
        )
        .bind(meeting_id)
        .bind(i64::from(n))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// How many guest invitations a meeting counts; `None` for an unknown meeting.
    pub async fn guest_invitations(&self, meeting_id: &str) -> Result<Option<u32>, StoreError> {
        let row: Option<(i64,)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT guest_invitations FROM meetings WHERE id = $1"
        )
        .bind(meeting_id)
        .fetch_optional(pool)
        .await?);
        row.map(|(n,)| count(n)).transpose()
    }
}

fn count(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("guest_invitations {n}")))
}
