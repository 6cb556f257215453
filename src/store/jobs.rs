//! Due work: claiming with a lease, completing, retrying.

use super::{from_secs, opt_from_secs, to_secs, with_pool, Backend, Job, Store, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    occurrence_id: i64,
    kind: String,
    due_at: i64,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    done_at: Option<i64>,
    attempts: i64,
    last_error: Option<String>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Job {
            id: r.id,
            occurrence_id: r.occurrence_id,
            kind: r.kind.parse()?,
            due_at: from_secs(r.due_at)?,
            lease_owner: r.lease_owner,
            lease_until: opt_from_secs(r.lease_until)?,
            done_at: opt_from_secs(r.done_at)?,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            last_error: r.last_error,
        })
    }
}

const JOB_COLUMNS: &str =
    "id, occurrence_id, kind, due_at, lease_owner, lease_until, done_at, attempts, last_error";

/// The rows a claimer may take: undone, due, not leased (or the lease ran out), and no other job of
/// the same occurrence under a live lease. The `done_at IS NULL` term matches the partial index
/// `jobs_due`, so only undone work is read.
///
/// The last term keeps one occurrence's jobs in order across schedulers and across a scheduler's
/// concurrent groups: while its announcement is being posted (by anyone), its start, falling due
/// meanwhile, waits instead of editing an announcement that does not exist yet.
const DUE_FILTER: &str = "done_at IS NULL AND due_at <= $3 \
     AND (lease_until IS NULL OR lease_until <= $3) AND NOT EXISTS (SELECT 1 FROM jobs s \
     WHERE s.occurrence_id = jobs.occurrence_id AND s.id <> jobs.id AND s.done_at IS NULL \
     AND s.lease_until > $3)";

// ORDER BY … LIMIT 1 rather than MIN(): the lease filter would defeat MIN's index shortcut,
// while walking `jobs_due` in order stops at the first unleased row. A job held back by a leased
// sibling still counts: the claimer learns it is due, and finds out at the claim that it must wait.
const NEXT_DUE_SQL: &str = "SELECT due_at FROM jobs WHERE done_at IS NULL \
     AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at LIMIT 1";

// SQLite runs one statement at a time under the database's write lock, so a single
// UPDATE … RETURNING both picks and leases atomically.
fn claim_sql_sqlite() -> String {
    format!(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE {DUE_FILTER} ORDER BY due_at, id LIMIT $4) \
         RETURNING {JOB_COLUMNS}"
    )
}

// PostgreSQL: SKIP LOCKED lets concurrent claimers take disjoint rows instead of waiting on
// (or re-reading) each other's picks.
fn claim_sql_postgres() -> String {
    format!(
        "WITH picked AS (SELECT id FROM jobs WHERE {DUE_FILTER} ORDER BY due_at, id LIMIT $4 \
         FOR UPDATE SKIP LOCKED) \
         UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = jobs.attempts + 1 \
         FROM picked WHERE jobs.id = picked.id RETURNING {}",
        JOB_COLUMNS
            .split(", ")
            .map(|c| format!("jobs.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl Store {
    /// Leases up to `limit` due jobs (due at or before `now`, undone, lease absent or expired)
    /// to `owner` until `now + lease`, earliest first. Two claimers never get the same job
    /// while its lease holds.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let sql = match self.backend {
            Backend::Sqlite(_) => claim_sql_sqlite(),
            Backend::Postgres(_) => claim_sql_postgres(),
        };
        let rows: Vec<JobRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(owner)
            .bind(to_secs(until))
            .bind(to_secs(now))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        let mut jobs = rows
            .into_iter()
            .map(Job::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING gives no order guarantee.
        jobs.sort_by_key(|j| (j.due_at, j.id));
        Ok(jobs)
    }

    /// The query plan of the claim statement, as the backend's EXPLAIN prints it; shows that
    /// claiming reads the `jobs_due` index rather than scanning the table.
    pub async fn claim_due_plan(&self) -> Result<String, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", claim_sql_sqlite()))
                        .bind("x")
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(1_i64)
                        .fetch_all(pool)
                        .await?;
                Ok(rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n"))
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // A near-empty table is cheaper to scan, so the planner would hide whether the
                // index can serve the query at all; ask it to prefer indexes for this one plan.
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await?;
                let rows: Vec<(String,)> =
                    sqlx::query_as(&format!("EXPLAIN {}", claim_sql_postgres()))
                        .bind("x")
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(1_i64)
                        .fetch_all(&mut *tx)
                        .await?;
                tx.rollback().await?;
                Ok(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n"))
            }
        }
    }

    /// Marks a job done; only its current lease owner can. False when `owner` does not hold it.
    pub async fn complete(
        &self,
        job_id: i64,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| sqlx::query(
            "UPDATE jobs SET done_at = $3, lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND done_at IS NULL"
        )
        .bind(job_id)
        .bind(owner)
        .bind(to_secs(now))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// Gives a failed job back to be tried again at `at`, recording why. Only the lease owner can.
    pub async fn retry_later(
        &self,
        job_id: i64,
        owner: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.settle_failed(job_id, owner, "due_at", at, error).await
    }

    /// Ends a job that will never succeed: done, with the error kept. Only the lease owner can.
    pub async fn give_up(
        &self,
        job_id: i64,
        owner: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.settle_failed(job_id, owner, "done_at", now, error)
            .await
    }

    /// Releases a failed job's lease, keeping the error and setting `column` (`due_at` to retry, `done_at` to
    /// give up) to `at`. `column` is one of those two constants, never user input.
    async fn settle_failed(
        &self,
        job_id: i64,
        owner: &str,
        column: &'static str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE jobs SET {column} = $3, last_error = $4, lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND done_at IS NULL"
        );
        let n = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(job_id)
                .bind(owner)
                .bind(to_secs(at))
                .bind(error)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Extends the leases `owner` holds on `job_ids` to `until` (a running job's heartbeat); returns
    /// the ids it still holds. A job missing from the answer was taken over, settled or removed: its
    /// holder must stop. A lease that ran out but that nobody took is still `owner`'s and is renewed.
    pub async fn renew_leases(
        &self,
        owner: &str,
        job_ids: &[i64],
        until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut held = Vec::with_capacity(job_ids.len());
        // Bounded statements: a bind list this long stays far below either backend's limits.
        for chunk in job_ids.chunks(500) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE jobs SET lease_until = $2 \
                 WHERE lease_owner = $1 AND done_at IS NULL AND id IN ({list}) RETURNING id"
            );
            let rows: Vec<(i64,)> = with_pool!(self, |pool| {
                let mut q = sqlx::query_as(&sql).bind(owner).bind(to_secs(until));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await?
            });
            held.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(held)
    }

    /// Until when `owner` holds its lease on `job_id`; `None` when it does not hold it (taken
    /// over, settled, or never its own).
    pub async fn lease_held_until(
        &self,
        job_id: i64,
        owner: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        const SQL: &str =
            "SELECT lease_until FROM jobs WHERE id = $1 AND lease_owner = $2 AND done_at IS NULL";
        let row: Option<(Option<i64>,)> = with_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(job_id)
            .bind(owner)
            .fetch_optional(pool)
            .await?);
        row.and_then(|(until,)| until).map(from_secs).transpose()
    }

    /// Hands a claimed job back untried (e.g. on shutdown) so another worker can take it now;
    /// the claim does not count as an attempt.
    pub async fn release(&self, job_id: i64, owner: &str) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
             WHERE id = $1 AND lease_owner = $2 AND done_at IS NULL"
        )
        .bind(job_id)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    /// When the earliest undone job that nobody holds (or whose lease ran out by `now`) is
    /// due, so a scheduler can sleep until then; `None` when there is no such job.
    pub async fn next_due_at(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(i64,)> = with_pool!(self, |pool| sqlx::query_as(NEXT_DUE_SQL)
            .bind(to_secs(now))
            .fetch_optional(pool)
            .await?);
        row.map(|(s,)| from_secs(s)).transpose()
    }

    /// The query plan of [`Store::next_due_at`] (SQLite's EXPLAIN QUERY PLAN or PostgreSQL's
    /// EXPLAIN), to show it walks the `jobs_due` index.
    pub async fn next_due_plan(&self) -> Result<String, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(&format!("EXPLAIN QUERY PLAN {NEXT_DUE_SQL}"))
                        .bind(0_i64)
                        .fetch_all(pool)
                        .await?;
                Ok(rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n"))
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // As in claim_due_plan: a tiny table would otherwise hide the index choice.
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await?;
                let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {NEXT_DUE_SQL}"))
                    .bind(0_i64)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.rollback().await?;
                Ok(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n"))
            }
        }
    }

    /// One job by id.
    pub async fn job(&self, job_id: i64) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<JobRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(job_id)
            .fetch_optional(pool)
            .await?);
        row.map(Job::try_from).transpose()
    }

    /// An occurrence's jobs, done or not, by due time.
    pub async fn jobs_for_occurrence(&self, occurrence_id: i64) -> Result<Vec<Job>, StoreError> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE occurrence_id = $1 ORDER BY due_at, id");
        let rows: Vec<JobRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(occurrence_id)
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(Job::try_from).collect()
    }
}
