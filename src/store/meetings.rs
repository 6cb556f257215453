//! Meetings and their occurrences.

use super::BeginWrite;
use super::{
    from_secs, id_from_db, id_to_db, opt_from_secs, to_secs, with_pool, FutureCaps, FutureCounts,
    Meeting, NewJob, NewMeeting, Occurrence, OccurrenceStatus, Store, StoreError,
};
use chrono::{DateTime, Utc};

/// Inserts an occurrence and its jobs on an open transaction; evaluates to the new id.
macro_rules! insert_occurrence {
    ($conn:expr, $meeting_id:expr, $starts:expr, $ends:expr, $jobs:expr) => {{
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO occurrences (meeting_id, starts_at, ends_at, status) \
             VALUES ($1, $2, $3, 'scheduled') RETURNING id",
        )
        .bind($meeting_id)
        .bind(to_secs($starts))
        .bind(to_secs($ends))
        .fetch_one($conn)
        .await?;
        for job in $jobs {
            sqlx::query("INSERT INTO jobs (occurrence_id, kind, due_at) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(job.kind.as_str())
                .bind(to_secs(job.due_at))
                .execute($conn)
                .await?;
        }
        id
    }};
}

#[derive(sqlx::FromRow)]
pub(super) struct MeetingRow {
    id: String,
    guild_id: i64,
    channel_id: i64,
    host_id: i64,
    topic: String,
    room: String,
    created_at: i64,
    starts_at: i64,
    duration_minutes: i64,
    timezone: String,
    repeat_rule: String,
    repeat_until: Option<i64>,
    remind_minutes: Option<i64>,
    invitee_user_ids: String,
    invitee_role_ids: String,
    private: bool,
    status: String,
    discord_event: bool,
}

pub(super) const MEETING_COLUMNS: &str = "m.id, m.guild_id, m.channel_id, m.host_id, m.topic, m.room, \
     m.created_at, m.starts_at, m.duration_minutes, m.timezone, m.repeat_rule, m.repeat_until, m.remind_minutes, \
     m.invitee_user_ids, m.invitee_role_ids, m.private, m.status, m.discord_event";

fn ids_from_json(text: &str) -> Result<Vec<u64>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("invitee ids: {e}")))
}

fn ids_to_json(ids: &[u64]) -> String {
    serde_json::to_string(ids).expect("a list of integers always serialises")
}

impl TryFrom<MeetingRow> for Meeting {
    type Error = StoreError;
    fn try_from(r: MeetingRow) -> Result<Self, StoreError> {
        Ok(Meeting {
            id: r.id,
            guild_id: id_from_db(r.guild_id),
            channel_id: id_from_db(r.channel_id),
            host_id: id_from_db(r.host_id),
            topic: r.topic,
            room: r.room,
            created_at: from_secs(r.created_at)?,
            starts_at: from_secs(r.starts_at)?,
            duration_minutes: u32::try_from(r.duration_minutes)
                .map_err(|_| StoreError::Corrupt("duration".into()))?,
            timezone: r.timezone,
            repeat: r.repeat_rule,
            repeat_until: opt_from_secs(r.repeat_until)?,
            remind_minutes: r
                .remind_minutes
                .map(u32::try_from)
                .transpose()
                .map_err(|_| StoreError::Corrupt("remind_minutes".into()))?,
            invitee_user_ids: ids_from_json(&r.invitee_user_ids)?,
            invitee_role_ids: ids_from_json(&r.invitee_role_ids)?,
            private: r.private,
            discord_event: r.discord_event,
            status: r.status.parse()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OccurrenceRow {
    id: i64,
    meeting_id: String,
    starts_at: i64,
    ends_at: i64,
    status: String,
    announcement_message_id: Option<i64>,
    discord_event_id: Option<i64>,
    reminded_at: Option<i64>,
}

pub(crate) const OCCURRENCE_COLUMNS: &str =
    "o.id, o.meeting_id, o.starts_at, o.ends_at, o.status, \
     o.announcement_message_id, o.discord_event_id, o.reminded_at";

impl TryFrom<OccurrenceRow> for Occurrence {
    type Error = StoreError;
    fn try_from(r: OccurrenceRow) -> Result<Self, StoreError> {
        Ok(Occurrence {
            id: r.id,
            meeting_id: r.meeting_id,
            starts_at: from_secs(r.starts_at)?,
            ends_at: from_secs(r.ends_at)?,
            status: r.status.parse()?,
            announcement_message_id: r.announcement_message_id.map(id_from_db),
            discord_event_id: r.discord_event_id.map(id_from_db),
            reminded_at: opt_from_secs(r.reminded_at)?,
        })
    }
}

/// Counts the meetings still to come in server `guild` (hosted by `host`, when given): active, with an occurrence
/// scheduled after `now`; a repeating series counts once. The arguments are the statement's placeholders.
fn future_count(guild: &str, host: Option<&str>, now: &str) -> String {
    let by_host = host
        .map(|h| format!(" AND m.host_id = {h}"))
        .unwrap_or_default();
    format!(
        "SELECT COUNT(*) FROM meetings m WHERE m.guild_id = {guild}{by_host} AND m.status = 'active' \
         AND EXISTS (SELECT 1 FROM occurrences o WHERE o.meeting_id = m.id \
         AND o.status = 'scheduled' AND o.starts_at > {now})"
    )
}

/// Escapes LIKE wildcards so user input matches literally.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    /// Creates a meeting, its first occurrence (at `starts_at`, lasting `duration_minutes`) and
    /// that occurrence's jobs, all or nothing.
    pub async fn create_meeting(
        &self,
        new: &NewMeeting,
        jobs: &[NewJob],
    ) -> Result<(Meeting, Occurrence), StoreError> {
        match self.insert_meeting(new, jobs, None).await? {
            Ok(created) => Ok(created),
            Err(full) => Err(StoreError::Corrupt(format!(
                "no cap was given, yet {full:?}"
            ))),
        }
    }

    /// As [`Store::create_meeting`], unless the host or the server already has as many meetings still to come as
    /// `caps` allow: then nothing is stored and the counts come back. The counts and the insert are one statement,
    /// and on PostgreSQL a per-server transaction lock orders racing schedulers, so two `/meet when:` at the cap
    /// cannot both pass.
    pub async fn create_meeting_within(
        &self,
        new: &NewMeeting,
        jobs: &[NewJob],
        caps: &FutureCaps,
    ) -> Result<Result<(Meeting, Occurrence), FutureCounts>, StoreError> {
        self.insert_meeting(new, jobs, Some(caps)).await
    }

    /// How many meetings still to come (an occurrence scheduled after `now`) `host` hosts in `guild`, and the
    /// server has.
    pub async fn future_meetings(
        &self,
        guild: u64,
        host: u64,
        now: DateTime<Utc>,
    ) -> Result<FutureCounts, StoreError> {
        let sql = format!(
            "SELECT ({}), ({})",
            future_count("$1", Some("$2"), "$3"),
            future_count("$1", None, "$3")
        );
        let (by_host, in_guild): (i64, i64) = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id_to_db(guild))
            .bind(id_to_db(host))
            .bind(to_secs(now))
            .fetch_one(pool)
            .await?);
        Ok(FutureCounts {
            by_host: u32::try_from(by_host).unwrap_or(u32::MAX),
            in_guild: u32::try_from(in_guild).unwrap_or(u32::MAX),
        })
    }

    async fn insert_meeting(
        &self,
        new: &NewMeeting,
        jobs: &[NewJob],
        caps: Option<&FutureCaps>,
    ) -> Result<Result<(Meeting, Occurrence), FutureCounts>, StoreError> {
        let ends_at = new.starts_at + chrono::Duration::minutes(i64::from(new.duration_minutes));
        let postgres = self.backend_name() == "postgres";
        // Without caps the limits cannot be reached.
        let (now, per_host, per_guild) = match caps {
            Some(c) => (c.now, i64::from(c.per_host), i64::from(c.per_guild)),
            None => (new.created_at, i64::MAX, i64::MAX),
        };
        let sql = format!(
            "INSERT INTO meetings (id, guild_id, channel_id, host_id, topic, room, created_at, \
             starts_at, duration_minutes, timezone, repeat_rule, remind_minutes, \
             invitee_user_ids, invitee_role_ids, private, status, repeat_until, discord_event) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'active', $16, $20 \
             WHERE ({}) < $18 AND ({}) < $19",
            future_count("$2", Some("$4"), "$17"),
            future_count("$2", None, "$17"),
        );
        let occurrence_id: Option<i64> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if postgres && caps.is_some() {
                // Serialises scheduling per server until commit; each statement after it sees the last one's rows.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(id_to_db(new.guild_id))
                    .execute(&mut *tx)
                    .await?;
            }
            let inserted = sqlx::query(&sql)
                .bind(&new.id)
                .bind(id_to_db(new.guild_id))
                .bind(id_to_db(new.channel_id))
                .bind(id_to_db(new.host_id))
                .bind(&new.topic)
                .bind(&new.room)
                .bind(to_secs(new.created_at))
                .bind(to_secs(new.starts_at))
                .bind(i64::from(new.duration_minutes))
                .bind(&new.timezone)
                .bind(&new.repeat)
                .bind(new.remind_minutes.map(i64::from))
                .bind(ids_to_json(&new.invitee_user_ids))
                .bind(ids_to_json(&new.invitee_role_ids))
                .bind(new.private)
                .bind(new.repeat_until.map(to_secs))
                .bind(to_secs(now))
                .bind(per_host)
                .bind(per_guild)
                .bind(new.discord_event)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                None
            } else {
                let id = insert_occurrence!(&mut *tx, &new.id, new.starts_at, ends_at, jobs);
                tx.commit().await?;
                Some(id)
            }
        });
        let Some(occurrence_id) = occurrence_id else {
            return Ok(Err(self
                .future_meetings(new.guild_id, new.host_id, now)
                .await?));
        };
        let meeting = self
            .meeting(&new.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(new.id.clone()))?;
        let occurrence = self
            .occurrence(occurrence_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("occurrence {occurrence_id}")))?;
        Ok(Ok((meeting, occurrence)))
    }

    /// Adds the next occurrence of a meeting (for repeats) with its jobs, all or nothing.
    /// Returns `None` when that start already exists or the meeting is no longer active.
    pub async fn add_occurrence(
        &self,
        meeting_id: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        jobs: &[NewJob],
    ) -> Result<Option<Occurrence>, StoreError> {
        let id: Option<i64> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // One INSERT that checks the meeting is active and skips an existing start: a
            // SELECT first would let two racing schedulers both pass it (the loser then failing
            // on the UNIQUE key), and on SQLite a read before the write makes the transaction
            // fail outright instead of waiting for the other writer.
            let inserted: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO occurrences (meeting_id, starts_at, ends_at, status) \
                 SELECT $1, $2, $3, 'scheduled' \
                 WHERE EXISTS (SELECT 1 FROM meetings WHERE id = $1 AND status = 'active') \
                 ON CONFLICT (meeting_id, starts_at) DO NOTHING RETURNING id",
            )
            .bind(meeting_id)
            .bind(to_secs(starts_at))
            .bind(to_secs(ends_at))
            .fetch_optional(&mut *tx)
            .await?;
            match inserted {
                None => {
                    tx.rollback().await?;
                    let known: Option<(String,)> =
                        sqlx::query_as("SELECT id FROM meetings WHERE id = $1")
                            .bind(meeting_id)
                            .fetch_optional(pool)
                            .await?;
                    if known.is_none() {
                        return Err(StoreError::NotFound(meeting_id.to_string()));
                    }
                    None
                }
                Some((id,)) => {
                    for job in jobs {
                        sqlx::query(
                            "INSERT INTO jobs (occurrence_id, kind, due_at) VALUES ($1, $2, $3)",
                        )
                        .bind(id)
                        .bind(job.kind.as_str())
                        .bind(to_secs(job.due_at))
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Some(id)
                }
            }
        });
        match id {
            Some(id) => self.occurrence(id).await,
            None => Ok(None),
        }
    }

    /// One meeting by id.
    pub async fn meeting(&self, id: &str) -> Result<Option<Meeting>, StoreError> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings m WHERE m.id = $1");
        let row: Option<MeetingRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(Meeting::try_from).transpose()
    }

    /// One occurrence by id.
    pub async fn occurrence(&self, id: i64) -> Result<Option<Occurrence>, StoreError> {
        let sql = format!("SELECT {OCCURRENCE_COLUMNS} FROM occurrences o WHERE o.id = $1");
        let row: Option<OccurrenceRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(Occurrence::try_from).transpose()
    }

    /// Every occurrence of a meeting, earliest first.
    pub async fn occurrences(&self, meeting_id: &str) -> Result<Vec<Occurrence>, StoreError> {
        let sql = format!(
            "SELECT {OCCURRENCE_COLUMNS} FROM occurrences o WHERE o.meeting_id = $1 \
             ORDER BY o.starts_at, o.id"
        );
        let rows: Vec<OccurrenceRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(meeting_id)
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(Occurrence::try_from).collect()
    }

    /// A server's scheduled or running occurrences that have not ended by `now`, soonest first,
    /// `limit` per page starting at `offset`.
    pub async fn upcoming(
        &self,
        guild_id: u64,
        now: DateTime<Utc>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<(Meeting, Occurrence)>, StoreError> {
        let sql = format!(
            "SELECT {MEETING_COLUMNS}, {OCCURRENCE_COLUMNS_AS} FROM occurrences o \
             JOIN meetings m ON m.id = o.meeting_id \
             WHERE m.guild_id = $1 AND m.status = 'active' \
             AND o.status IN ('scheduled', 'started') AND o.ends_at > $2 \
             ORDER BY o.starts_at, o.id LIMIT $3 OFFSET $4"
        );
        let rows = with_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(id_to_db(guild_id))
                .bind(to_secs(now))
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await?;
            read_pairs(&rows)?
        });
        pairs_from_rows(rows)
    }

    /// Active meetings of a server whose id starts with, or whose topic contains, `query`
    /// (case-insensitive), for autocomplete; newest first.
    pub async fn find_meetings(
        &self,
        guild_id: u64,
        query: &str,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError> {
        let query = query.trim();
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings m \
             WHERE m.guild_id = $1 AND m.status = 'active' \
             AND (LOWER(m.id) LIKE $2 ESCAPE '\\' OR LOWER(m.topic) LIKE $3 ESCAPE '\\') \
             ORDER BY m.starts_at DESC, m.id LIMIT $4"
        );
        // LOWER on both sides: SQLite's LIKE ignores ASCII case and PostgreSQL's does not, and
        // the two backends must answer alike.
        let prefix = format!("{}%", like_escape(&query.to_lowercase()));
        let contains = format!("%{}%", like_escape(&query.to_lowercase()));
        let rows: Vec<MeetingRow> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id_to_db(guild_id))
            .bind(&prefix)
            .bind(&contains)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        rows.into_iter().map(Meeting::try_from).collect()
    }

    /// Cancels a meeting: it and every occurrence not yet started are cancelled and their undone
    /// jobs dropped. Returns how many occurrences were cancelled: 0 when the meeting was not
    /// active (already cancelled, ended or unknown).
    pub async fn cancel_meeting(&self, meeting_id: &str) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE meetings SET status = 'cancelled' WHERE id = $1 AND status = 'active'",
            )
            .bind(meeting_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(0);
            }
            sqlx::query(
                "DELETE FROM jobs WHERE done_at IS NULL AND occurrence_id IN \
                 (SELECT id FROM occurrences WHERE meeting_id = $1 AND status = 'scheduled')",
            )
            .bind(meeting_id)
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query(
                "UPDATE occurrences SET status = 'cancelled' \
                 WHERE meeting_id = $1 AND status = 'scheduled'",
            )
            .bind(meeting_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Cancels one occurrence that has not started, dropping its undone jobs. False when it
    /// was not scheduled.
    pub async fn cancel_occurrence(&self, occurrence_id: i64) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE occurrences SET status = 'cancelled' WHERE id = $1 AND status = 'scheduled'",
            )
            .bind(occurrence_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM jobs WHERE occurrence_id = $1 AND done_at IS NULL")
                    .bind(occurrence_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// Moves an occurrence to `status` (e.g. started, ended).
    pub async fn set_occurrence_status(
        &self,
        occurrence_id: i64,
        status: OccurrenceStatus,
    ) -> Result<bool, StoreError> {
        self.update_occurrence("status = $2", occurrence_id, status.as_str().to_string())
            .await
    }

    /// Records the posted announcement message.
    pub async fn set_announcement(
        &self,
        occurrence_id: i64,
        message_id: u64,
    ) -> Result<bool, StoreError> {
        self.update_occurrence(
            "announcement_message_id = $2",
            occurrence_id,
            id_to_db(message_id),
        )
        .await
    }

    /// Records the Discord Scheduled Event created for an occurrence.
    pub async fn set_discord_event(
        &self,
        occurrence_id: i64,
        event_id: u64,
    ) -> Result<bool, StoreError> {
        self.update_occurrence("discord_event_id = $2", occurrence_id, id_to_db(event_id))
            .await
    }

    /// Records when reminders for an occurrence went out.
    pub async fn set_reminded(
        &self,
        occurrence_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.update_occurrence("reminded_at = $2", occurrence_id, to_secs(at))
            .await
    }

    /// Marks a meeting ended (no more occurrences).
    pub async fn end_meeting(&self, meeting_id: &str) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| sqlx::query(
            "UPDATE meetings SET status = 'ended' WHERE id = $1 AND status = 'active'"
        )
        .bind(meeting_id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n == 1)
    }

    async fn update_occurrence<T>(
        &self,
        set: &str,
        occurrence_id: i64,
        value: T,
    ) -> Result<bool, StoreError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + 'static,
    {
        let sql = format!("UPDATE occurrences SET {set} WHERE id = $1");
        let n = with_pool!(self, |pool| sqlx::query(&sql)
            .bind(occurrence_id)
            .bind(value)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }
}

/// An occurrence's columns under `o_`-prefixed names, beside [`MEETING_COLUMNS`] in a join of
/// `occurrences o` with `meetings m`; such rows are read by [`read_pairs`].
pub(super) const OCCURRENCE_COLUMNS_AS: &str = "o.id AS o_id, o.meeting_id AS o_meeting_id, \
     o.starts_at AS o_starts_at, o.ends_at AS o_ends_at, o.status AS o_status, \
     o.announcement_message_id AS o_announcement_message_id, \
     o.discord_event_id AS o_discord_event_id, o.reminded_at AS o_reminded_at";

/// The raw halves of joined rows selecting `{MEETING_COLUMNS}, {OCCURRENCE_COLUMNS_AS}`, on
/// either backend.
pub(super) fn read_pairs<'r, R: sqlx::Row>(
    rows: &'r [R],
) -> Result<Vec<(MeetingRow, PrefixedOccurrenceRow)>, sqlx::Error>
where
    MeetingRow: sqlx::FromRow<'r, R>,
    PrefixedOccurrenceRow: sqlx::FromRow<'r, R>,
{
    rows.iter()
        .map(|r| Ok((sqlx::FromRow::from_row(r)?, sqlx::FromRow::from_row(r)?)))
        .collect()
}

/// The meetings and occurrences of [`read_pairs`]'s rows.
pub(super) fn pairs_from_rows(
    rows: Vec<(MeetingRow, PrefixedOccurrenceRow)>,
) -> Result<Vec<(Meeting, Occurrence)>, StoreError> {
    rows.into_iter()
        .map(|(m, o)| Ok((Meeting::try_from(m)?, Occurrence::try_from(o.into_plain())?)))
        .collect()
}

/// The occurrence half of a joined row, read under `o_`-prefixed names.
#[derive(sqlx::FromRow)]
pub(super) struct PrefixedOccurrenceRow {
    o_id: i64,
    o_meeting_id: String,
    o_starts_at: i64,
    o_ends_at: i64,
    o_status: String,
    o_announcement_message_id: Option<i64>,
    o_discord_event_id: Option<i64>,
    o_reminded_at: Option<i64>,
}

impl PrefixedOccurrenceRow {
    fn into_plain(self) -> OccurrenceRow {
        OccurrenceRow {
            id: self.o_id,
            meeting_id: self.o_meeting_id,
            starts_at: self.o_starts_at,
            ends_at: self.o_ends_at,
            status: self.o_status,
            announcement_message_id: self.o_announcement_message_id,
            discord_event_id: self.o_discord_event_id,
            reminded_at: self.o_reminded_at,
        }
    }
}
