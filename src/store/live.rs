//! The live state of occurrences as Jitsi reports it: room lives and visits, merged so that
//! any order, any repetition and any interleaving of two instances end in one state.
//!
//! Each row is a join-semilattice: a merge keeps the earliest start (MIN), the latest end
//! (MAX) and the smaller of two ids, all in one `INSERT … ON CONFLICT DO UPDATE` per row. Such
//! merges commute, so two instances applying the same events in any interleaving converge.
//! Everything derived (who is in, the peak, person-minutes) is computed from the rows by
//! `meeting::live`, never stored as a counter that reordering could corrupt.

use super::meetings::{
    pairs_from_rows, read_pairs, OccurrenceRow, MEETING_COLUMNS, OCCURRENCE_COLUMNS,
    OCCURRENCE_COLUMNS_AS,
};
use super::BeginWrite;
use super::{
    opt_from_secs, to_secs, with_pool, Backend, LiveApplied, LiveRecord, LiveUpdate, LiveVisit,
    Meeting, Occurrence, PendingLive, Store, StoreError,
};
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// How long a JaaS idempotency key is remembered; JaaS retries for far less.
const JAAS_KEY_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// `col = the smaller of the stored and the incoming value`, NULL meaning "not reported".
/// Written as CASE because SQLite's MIN(a, b) and PostgreSQL's LEAST treat NULL differently.
fn merge_min(table: &str, col: &str) -> String {
    format!(
        "{col} = CASE WHEN excluded.{col} IS NULL THEN {table}.{col} \
         WHEN {table}.{col} IS NULL OR excluded.{col} < {table}.{col} THEN excluded.{col} \
         ELSE {table}.{col} END"
    )
}

/// `col = the larger of the stored and the incoming value`, NULL meaning "not reported".
fn merge_max(table: &str, col: &str) -> String {
    format!(
        "{col} = CASE WHEN excluded.{col} IS NULL THEN {table}.{col} \
         WHEN {table}.{col} IS NULL OR excluded.{col} > {table}.{col} THEN excluded.{col} \
         ELSE {table}.{col} END"
    )
}

/// How a stored row and an incoming one merge, per table: the `SET` list of its upsert. Both
/// backends' statements use these, so the rules live in one place.
fn occurrence_merges() -> String {
    [
        merge_min("live_occurrences", "first_event_at"),
        merge_max("live_occurrences", "last_event_at"),
    ]
    .join(", ")
}

fn room_merges() -> String {
    [
        merge_min("live_room_sessions", "created_at"),
        merge_max("live_room_sessions", "destroyed_at"),
    ]
    .join(", ")
}

fn visit_merges() -> String {
    [
        merge_min("live_visits", "user_id"),
        merge_min("live_visits", "joined_at"),
        merge_max("live_visits", "last_joined_at"),
        merge_max("live_visits", "left_at"),
    ]
    .join(", ")
}

/// SQLite: one row per statement, inside the batch's transaction.
static OCCURRENCE_UPSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO live_occurrences (occurrence_id, first_event_at, last_event_at) \
         VALUES ($1, $2, $2) ON CONFLICT (occurrence_id) DO UPDATE SET {}",
        occurrence_merges()
    )
});

static ROOM_UPSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO live_room_sessions (occurrence_id, scope, session, created_at, destroyed_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (occurrence_id, scope, session) DO UPDATE SET {}",
        room_merges()
    )
});

static VISIT_UPSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO live_visits (occurrence_id, scope, occupant, visit, user_id, joined_at, \
         last_joined_at, left_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (occurrence_id, scope, occupant, visit) DO UPDATE SET {}",
        visit_merges()
    )
});

/// PostgreSQL: one event in one statement. The JaaS key, the occurrence, its room lives and its
/// visits are written by data-modifying CTEs of a single `INSERT`, committed on their own: one
/// round trip and one commit where a transaction took five, and an event's answer waits for
/// them (Jitsi does not retry a timeout, so the answer must be fast).
///
/// With a key, `fresh` inserts it first; a concurrent delivery of the same key waits on that
/// row, then finds it and writes nothing. Every row write is gated on it (`go`), so a duplicate
/// changes nothing at all. Rows go in key order (the arrays are sorted), and every event runs
/// this one statement, so two events on the same rows lock them in the same order.
static PG_EVENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH fresh AS ( \
           INSERT INTO jaas_deliveries (idempotency_key, received_at) \
           SELECT $14::text, $15 WHERE $14::text IS NOT NULL \
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1 \
         ), go AS ( \
           SELECT 1 WHERE $14::text IS NULL OR EXISTS (SELECT 1 FROM fresh) \
         ), old_keys AS ( \
           DELETE FROM jaas_deliveries WHERE received_at < $16 AND EXISTS (SELECT 1 FROM fresh) \
         ), occ AS ( \
           INSERT INTO live_occurrences (occurrence_id, first_event_at, last_event_at) \
           SELECT $1, $2, $2 FROM go \
           ON CONFLICT (occurrence_id) DO UPDATE SET {occurrence} \
         ), lives AS ( \
           INSERT INTO live_room_sessions (occurrence_id, scope, session, created_at, destroyed_at) \
           SELECT $1, r.scope, r.session, r.created_at, r.destroyed_at \
           FROM unnest($3::text[], $4::text[], $5::int8[], $6::int8[]) WITH ORDINALITY \
             AS r(scope, session, created_at, destroyed_at, n) \
           WHERE EXISTS (SELECT 1 FROM go) ORDER BY r.n \
           ON CONFLICT (occurrence_id, scope, session) DO UPDATE SET {room} \
         ), visits AS ( \
           INSERT INTO live_visits (occurrence_id, scope, occupant, visit, user_id, joined_at, \
             last_joined_at, left_at) \
           SELECT $1, v.scope, v.occupant, v.visit, v.user_id, v.joined_at, v.last_joined_at, v.left_at \
           FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], \
             $13::int8[]) WITH ORDINALITY \
             AS v(scope, occupant, visit, user_id, joined_at, last_joined_at, left_at, n) \
           WHERE EXISTS (SELECT 1 FROM go) ORDER BY v.n \
           ON CONFLICT (occurrence_id, scope, occupant, visit) DO UPDATE SET {visit} \
         ) \
         SELECT count(*) FROM go",
        occurrence = occurrence_merges(),
        room = room_merges(),
        visit = visit_merges(),
    )
});

/// The smaller of two reported values, `None` meaning "not reported" (as [`merge_min`]).
fn min_reported<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The larger of two reported values, `None` meaning "not reported" (as [`merge_max`]).
fn max_reported<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A room life's row as one statement writes it: (created_at, destroyed_at) by (scope, session).
type RoomRows<'a> = BTreeMap<(&'a str, &'a str), (Option<i64>, Option<i64>)>;

/// A visit's row: (user_id, joined_at, last_joined_at, left_at) by (scope, occupant, visit).
type VisitRows<'a> =
    BTreeMap<(&'a str, &'a str, &'a str), (Option<&'a str>, Option<i64>, Option<i64>, Option<i64>)>;

/// The rows one event writes, merged by key and in key order. One `INSERT … ON CONFLICT DO
/// UPDATE` may not touch a row twice, so an event naming a visit twice (a forged or repeated
/// `all_occupants` entry) is merged here, the same way the store merges it. Both backends write
/// these rows.
fn event_rows(update: &LiveUpdate) -> (RoomRows<'_>, VisitRows<'_>) {
    let mut rooms = RoomRows::new();
    for r in &update.rooms {
        let row = (r.created_at.map(to_secs), r.destroyed_at.map(to_secs));
        rooms
            .entry((r.scope.as_str(), r.session.as_str()))
            .and_modify(|(c, d)| {
                *c = min_reported(*c, row.0);
                *d = max_reported(*d, row.1);
            })
            .or_insert(row);
    }
    let mut visits = VisitRows::new();
    for v in &update.visits {
        let joined = v.joined_at.map(to_secs);
        let row = (v.user_id.as_deref(), joined, joined, v.left_at.map(to_secs));
        visits
            .entry((v.scope.as_str(), v.occupant.as_str(), v.visit.as_str()))
            .and_modify(|(u, j, l, left)| {
                *u = min_reported(*u, row.0);
                *j = min_reported(*j, row.1);
                *l = max_reported(*l, row.2);
                *left = max_reported(*left, row.3);
            })
            .or_insert(row);
    }
    (rooms, visits)
}

/// PostgreSQL's "deadlock detected": the other statement went on; this one may simply run again.
fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("40P01"))
}

/// Applies one event in one statement ([`PG_EVENT`]), durably before it returns.
async fn apply_live_pg(
    pool: &sqlx::PgPool,
    update: &LiveUpdate,
    received_at: DateTime<Utc>,
) -> Result<LiveApplied, StoreError> {
    let (rooms, visits) = event_rows(update);
    let mut attempt = 0;
    loop {
        let result: Result<(i64,), sqlx::Error> = sqlx::query_as(PG_EVENT.as_str())
            .bind(update.occurrence_id)
            .bind(to_secs(update.at))
            .bind(rooms.keys().map(|k| k.0).collect::<Vec<_>>())
            .bind(rooms.keys().map(|k| k.1).collect::<Vec<_>>())
            .bind(rooms.values().map(|r| r.0).collect::<Vec<_>>())
            .bind(rooms.values().map(|r| r.1).collect::<Vec<_>>())
            .bind(visits.keys().map(|k| k.0).collect::<Vec<_>>())
            .bind(visits.keys().map(|k| k.1).collect::<Vec<_>>())
            .bind(visits.keys().map(|k| k.2).collect::<Vec<_>>())
            .bind(visits.values().map(|v| v.0).collect::<Vec<_>>())
            .bind(visits.values().map(|v| v.1).collect::<Vec<_>>())
            .bind(visits.values().map(|v| v.2).collect::<Vec<_>>())
            .bind(visits.values().map(|v| v.3).collect::<Vec<_>>())
            .bind(update.idempotency_key.as_deref())
            .bind(to_secs(received_at))
            .bind(to_secs(received_at - JAAS_KEY_RETENTION))
            .fetch_one(pool)
            .await;
        match result {
            Ok((applied,)) if applied > 0 => return Ok(LiveApplied::Applied),
            Ok(_) => return Ok(LiveApplied::Duplicate),
            // Rows are locked in key order, but PostgreSQL does not promise the order in which
            // a statement's CTEs run; should two meet the other way round, it fails one of them,
            // which runs again.
            Err(e) if is_deadlock(&e) && attempt < 3 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// SQLite: one event alone, in a transaction of its own.
async fn apply_live_one(
    pool: &SqlitePool,
    update: &LiveUpdate,
    received_at: DateTime<Utc>,
) -> Result<LiveApplied, StoreError> {
    let mut applied = apply_live_tx(pool, &[(update, received_at)]).await?;
    Ok(applied.pop().unwrap_or(LiveApplied::Duplicate))
}

/// SQLite: writes a batch in one transaction; if that fails, each event alone, so that one bad
/// event does not fail the others.
async fn write_live_batch(pool: &SqlitePool, batch: Vec<PendingLive>) {
    let together = {
        let items: Vec<_> = batch.iter().map(|p| (&p.update, p.received_at)).collect();
        apply_live_tx(pool, &items).await
    };
    match together {
        Ok(results) => {
            for (p, r) in batch.into_iter().zip(results) {
                let _ = p.done.send(Ok(r));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(p) = batch.into_iter().next() {
                let _ = p.done.send(Err(e));
            }
        }
        Err(_) => {
            for p in batch {
                let r = apply_live_one(pool, &p.update, p.received_at).await;
                let _ = p.done.send(r);
            }
        }
    }
}

/// SQLite: applies `items` in one write transaction, in order; one outcome each. Writes are
/// serialised (BEGIN IMMEDIATE), so there is no lock order to keep.
async fn apply_live_tx(
    pool: &SqlitePool,
    items: &[(&LiveUpdate, DateTime<Utc>)],
) -> Result<Vec<LiveApplied>, StoreError> {
    let mut outcomes = Vec::with_capacity(items.len());
    let mut tx = pool.begin_write().await?;
    for (update, received_at) in items {
        if let Some(key) = &update.idempotency_key {
            // First statement for the event, so a repeat within one batch finds the first.
            let fresh = sqlx::query(
                "INSERT INTO jaas_deliveries (idempotency_key, received_at) VALUES ($1, $2) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(key)
            .bind(to_secs(*received_at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if fresh == 0 {
                outcomes.push(LiveApplied::Duplicate);
                continue;
            }
            sqlx::query("DELETE FROM jaas_deliveries WHERE received_at < $1")
                .bind(to_secs(*received_at - JAAS_KEY_RETENTION))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(OCCURRENCE_UPSERT.as_str())
            .bind(update.occurrence_id)
            .bind(to_secs(update.at))
            .execute(&mut *tx)
            .await?;
        let (rooms, visits) = event_rows(update);
        for ((scope, session), (created_at, destroyed_at)) in rooms {
            sqlx::query(ROOM_UPSERT.as_str())
                .bind(update.occurrence_id)
                .bind(scope)
                .bind(session)
                .bind(created_at)
                .bind(destroyed_at)
                .execute(&mut *tx)
                .await?;
        }
        for ((scope, occupant, visit), (user_id, joined_at, last_joined_at, left_at)) in visits {
            sqlx::query(VISIT_UPSERT.as_str())
                .bind(update.occurrence_id)
                .bind(scope)
                .bind(occupant)
                .bind(visit)
                .bind(user_id)
                .bind(joined_at)
                .bind(last_joined_at)
                .bind(left_at)
                .execute(&mut *tx)
                .await?;
        }
        outcomes.push(LiveApplied::Applied);
    }
    tx.commit().await?;
    Ok(outcomes)
}

#[derive(sqlx::FromRow)]
struct OccurrenceLiveRow {
    occurrence_id: i64,
    first_event_at: Option<i64>,
    last_event_at: Option<i64>,
    activated_at: Option<i64>,
    completed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RoomRow {
    occurrence_id: i64,
    scope: String,
    session: String,
    created_at: Option<i64>,
    destroyed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct VisitRow {
    occurrence_id: i64,
    scope: String,
    occupant: String,
    visit: String,
    user_id: Option<String>,
    joined_at: Option<i64>,
    last_joined_at: Option<i64>,
    left_at: Option<i64>,
}

/// The queue of [`PendingLive`] events; a panic elsewhere leaves a plain list behind: go on.
fn lock_queue(
    queue: &std::sync::Mutex<Vec<PendingLive>>,
) -> std::sync::MutexGuard<'_, Vec<PendingLive>> {
    queue.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which live occurrences a read selects; the text is a fixed constant, never input.
const BY_ID: &str = "occurrence_id = $1";
const UNSETTLED: &str = "completed_at IS NULL AND last_event_at >= $1";

impl Store {
    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        // i32: PostgreSQL types a bare 1 as INT4, and SQLite's INTEGER reads as i32 too.
        let _: (i32,) = with_pool!(self, |pool| sqlx::query_as("SELECT 1")
            .fetch_one(pool)
            .await?);
        Ok(())
    }

    /// The occurrences (with their meetings) of meetings using `room` whose time could hold an
    /// event at some instant of `[from, to]`: they start by `to` and end no earlier than `from`.
    /// Cancelled meetings and occurrences are left out; ended ones are not (a meeting may run
    /// past its planned end).
    pub async fn live_room_candidates(
        &self,
        room: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(Meeting, Occurrence)>, StoreError> {
        // One round trip: this runs before every event's answer.
        let sql = format!(
            "SELECT {MEETING_COLUMNS}, {OCCURRENCE_COLUMNS_AS} FROM occurrences o \
             JOIN meetings m ON m.id = o.meeting_id \
             WHERE m.room = $1 AND m.status <> 'cancelled' AND o.status <> 'cancelled' \
             AND o.starts_at <= $3 AND o.ends_at >= $2 ORDER BY o.starts_at, o.id LIMIT 20"
        );
        let rows = with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(room)
                .bind(to_secs(from))
                .bind(to_secs(to))
                .fetch_all(pool)
                .await?;
            read_pairs(&rows)?
        });
        pairs_from_rows(rows)
    }

    /// Whether any meeting (of any status) uses `room`: tells an unknown room from a known
    /// room's event at no time of its occurrences.
    pub async fn room_in_use(&self, room: &str) -> Result<bool, StoreError> {
        let row: Option<(i32,)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT 1 FROM meetings WHERE room = $1 LIMIT 1"
        )
        .bind(room)
        .fetch_optional(pool)
        .await?);
        Ok(row.is_some())
    }

    /// Merges one event's facts into its occurrence's live state, all or nothing, and durably
    /// (committed) before it returns. With an idempotency key seen before (within a week)
    /// nothing is done and `Duplicate` returned.
    ///
    /// On SQLite, events that arrive while another batch is being written are written together
    /// in the next transaction (group commit): one commit, so one sync of the log, for the lot,
    /// where one transaction each would queue every event behind the others' syncs.
    pub async fn apply_live(
        &self,
        update: &LiveUpdate,
        received_at: DateTime<Utc>,
    ) -> Result<LiveApplied, StoreError> {
        match &self.backend {
            // PostgreSQL takes concurrent statements (and groups their log flushes itself); one
            // statement per event keeps the answer to one round trip and one commit.
            Backend::Postgres(pool) => apply_live_pg(pool, update, received_at).await,
            Backend::Sqlite(pool) => {
                self.apply_live_grouped(pool, update.clone(), received_at)
                    .await
            }
        }
    }

    /// Queues `update` for the next batch; whoever gets the write turn writes everything queued.
    async fn apply_live_grouped(
        &self,
        pool: &SqlitePool,
        update: LiveUpdate,
        received_at: DateTime<Utc>,
    ) -> Result<LiveApplied, StoreError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        lock_queue(&self.live_queue).push(PendingLive {
            update,
            received_at,
            done,
        });
        let turn = self.sqlite_writes.clone().lock_owned().await;
        let batch = std::mem::take(&mut *lock_queue(&self.live_queue));
        if batch.is_empty() {
            // An earlier turn took this event along; its outcome is (about to be) sent.
            drop(turn);
        } else {
            let pool = pool.clone();
            // A task of its own, holding the turn: a caller that stops waiting (its answer timed
            // out) must not abandon the other events of the batch half written.
            tokio::spawn(async move {
                write_live_batch(&pool, batch).await;
                drop(turn);
            });
        }
        outcome
            .await
            .unwrap_or(Err(StoreError::Unavailable(sqlx::Error::WorkerCrashed)))
    }

    /// Everything stored about one occurrence's live state; `None` when Jitsi never reported on
    /// it and no live decision was claimed.
    pub async fn live_record(&self, occurrence_id: i64) -> Result<Option<LiveRecord>, StoreError> {
        let mut records = self.live_records_where(BY_ID, occurrence_id).await?;
        Ok(records.pop())
    }

    /// Every occurrence not yet completed that had an event at or after `since`, with its
    /// live state, by occurrence id (for gauges, and for resuming after a restart).
    pub async fn live_records_unsettled(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Occurrence, LiveRecord)>, StoreError> {
        let records = self.live_records_where(UNSETTLED, to_secs(since)).await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {OCCURRENCE_COLUMNS} FROM occurrences o WHERE o.id IN \
             (SELECT occurrence_id FROM live_occurrences WHERE {UNSETTLED})"
        );
        let rows: Vec<OccurrenceRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(to_secs(since))
            .fetch_all(pool)
            .await?);
        let mut occurrences = rows
            .into_iter()
            .map(|r| Occurrence::try_from(r).map(|o| (o.id, o)))
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        // A record whose occurrence went between the two reads is skipped.
        Ok(records
            .into_iter()
            .filter_map(|r| occurrences.remove(&r.occurrence_id).map(|o| (o, r)))
            .collect())
    }

    /// `filter` is one of the constants above, over `live_occurrences` with one parameter.
    async fn live_records_where(
        &self,
        filter: &'static str,
        param: i64,
    ) -> Result<Vec<LiveRecord>, StoreError> {
        let selected = format!("SELECT occurrence_id FROM live_occurrences WHERE {filter}");
        let occ_sql = format!(
            "SELECT occurrence_id, first_event_at, last_event_at, activated_at, completed_at \
             FROM live_occurrences WHERE {filter} ORDER BY occurrence_id"
        );
        let room_sql = format!(
            "SELECT occurrence_id, scope, session, created_at, destroyed_at FROM live_room_sessions \
             WHERE occurrence_id IN ({selected}) ORDER BY occurrence_id, scope, session"
        );
        let visit_sql = format!(
            "SELECT occurrence_id, scope, occupant, visit, user_id, joined_at, last_joined_at, \
             left_at FROM live_visits WHERE occurrence_id IN ({selected}) \
             ORDER BY occurrence_id, scope, occupant, visit"
        );
        let (occs, rooms, visits): (Vec<OccurrenceLiveRow>, Vec<RoomRow>, Vec<VisitRow>) =
            with_pool!(self, |pool| {
                // One snapshot, so the three reads agree with each other.
                let mut tx = pool.begin().await?;
                let occs = sqlx::query_as(&occ_sql)
                    .bind(param)
                    .fetch_all(&mut *tx)
                    .await?;
                let rooms = sqlx::query_as(&room_sql)
                    .bind(param)
                    .fetch_all(&mut *tx)
                    .await?;
                let visits = sqlx::query_as(&visit_sql)
                    .bind(param)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                (occs, rooms, visits)
            });
        let mut records = BTreeMap::new();
        for o in occs {
            records.insert(
                o.occurrence_id,
                LiveRecord {
                    occurrence_id: o.occurrence_id,
                    first_event_at: opt_from_secs(o.first_event_at)?,
                    last_event_at: opt_from_secs(o.last_event_at)?,
                    activated_at: opt_from_secs(o.activated_at)?,
                    completed_at: opt_from_secs(o.completed_at)?,
                    rooms: Vec::new(),
                    visits: Vec::new(),
                },
            );
        }
        for r in rooms {
            if let Some(rec) = records.get_mut(&r.occurrence_id) {
                rec.rooms.push(super::RoomSpan {
                    scope: r.scope,
                    session: r.session,
                    created_at: opt_from_secs(r.created_at)?,
                    destroyed_at: opt_from_secs(r.destroyed_at)?,
                });
            }
        }
        for v in visits {
            if let Some(rec) = records.get_mut(&v.occurrence_id) {
                rec.visits.push(LiveVisit {
                    scope: v.scope,
                    occupant: v.occupant,
                    visit: v.visit,
                    user_id: v.user_id,
                    joined_at: opt_from_secs(v.joined_at)?,
                    last_joined_at: opt_from_secs(v.last_joined_at)?,
                    left_at: opt_from_secs(v.left_at)?,
                });
            }
        }
        Ok(records.into_values().collect())
    }

    /// Claims the Discord event's move to ACTIVE for an occurrence: true for the first caller
    /// only, so of several instances exactly one sends it.
    pub async fn claim_live_activation(
        &self,
        occurrence_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim_live("activated_at", occurrence_id, at).await
    }

    /// Claims the Discord event's move to COMPLETED: true for the first caller only.
    pub async fn claim_live_completion(
        &self,
        occurrence_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim_live("completed_at", occurrence_id, at).await
    }

    /// `column` is `activated_at` or `completed_at`, never input.
    async fn claim_live(
        &self,
        column: &'static str,
        occurrence_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO live_occurrences (occurrence_id, {column}) VALUES ($1, $2) \
             ON CONFLICT (occurrence_id) DO UPDATE SET {column} = excluded.{column} \
             WHERE live_occurrences.{column} IS NULL"
        );
        let n = with_pool!(self, |pool| sqlx::query(&sql)
            .bind(occurrence_id)
            .bind(to_secs(at))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Gives back a claim of [`Store::claim_live_activation`] or [`Store::claim_live_completion`] made at `at`
    /// (Discord did not take the step for a passing reason), so that it is claimed and tried again. A claim another
    /// instance made since is left alone. `column` is `activated_at` or `completed_at`, never input.
    pub async fn release_live_claim(
        &self,
        column: &'static str,
        occurrence_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        debug_assert!(matches!(column, "activated_at" | "completed_at"));
        let sql = format!(
            "UPDATE live_occurrences SET {column} = NULL WHERE occurrence_id = $1 AND {column} = $2"
        );
        with_pool!(self, |pool| sqlx::query(&sql)
            .bind(occurrence_id)
            .bind(to_secs(at))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Occurrences with a Discord event whose live steps may still be due: not cancelled, starting by `until`,
    /// ending no earlier than `since`, and not yet COMPLETED by a live decision (with or without any room event).
    /// At most 1000, oldest first.
    pub async fn live_event_candidates(
        &self,
        until: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<Vec<Occurrence>, StoreError> {
        let sql = format!(
            "SELECT {OCCURRENCE_COLUMNS} FROM occurrences o \
             LEFT JOIN live_occurrences l ON l.occurrence_id = o.id \
             WHERE o.discord_event_id IS NOT NULL AND o.status <> 'cancelled' \
             AND o.starts_at <= $1 AND o.ends_at >= $2 AND l.completed_at IS NULL \
             ORDER BY o.id LIMIT 1000"
        );
        let rows: Vec<OccurrenceRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(to_secs(until))
            .bind(to_secs(since))
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(Occurrence::try_from).collect()
    }

    /// Undone jobs: how many are due by `now` (the backlog) and how many are due later.
    pub async fn pending_jobs(&self, now: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        let (due, later): (i64, i64) = with_pool!(self, |pool| sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN due_at > $1 THEN 1 ELSE 0 END), 0) \
             FROM jobs WHERE done_at IS NULL"
        )
        .bind(to_secs(now))
        .fetch_one(pool)
        .await?);
        Ok((
            u64::try_from(due).unwrap_or(0),
            u64::try_from(later).unwrap_or(0),
        ))
    }
}
