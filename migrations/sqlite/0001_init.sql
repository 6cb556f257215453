-- Times are unix seconds (INTEGER): see src/store/mod.rs for why.
CREATE TABLE meetings (
    id                TEXT PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    channel_id        INTEGER NOT NULL,
    host_id           INTEGER NOT NULL,
    topic             TEXT NOT NULL,
    room              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    starts_at         INTEGER NOT NULL,
    duration_minutes  INTEGER NOT NULL,
    timezone          TEXT NOT NULL,
    repeat_rule       TEXT NOT NULL,
    remind_minutes    INTEGER,
    invitee_user_ids  TEXT NOT NULL DEFAULT '[]',
    invitee_role_ids  TEXT NOT NULL DEFAULT '[]',
    private           BOOLEAN NOT NULL DEFAULT 0,
    status            TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX meetings_guild_status ON meetings (guild_id, status);

CREATE TABLE occurrences (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id               TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    starts_at                INTEGER NOT NULL,
    ends_at                  INTEGER NOT NULL,
    status                   TEXT NOT NULL DEFAULT 'scheduled',
    announcement_message_id  INTEGER,
    discord_event_id         INTEGER,
    reminded_at              INTEGER,
    UNIQUE (meeting_id, starts_at)
);
CREATE INDEX occurrences_status_starts ON occurrences (status, starts_at);

CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    occurrence_id  INTEGER NOT NULL REFERENCES occurrences (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    due_at         INTEGER NOT NULL,
    lease_owner    TEXT,
    lease_until    INTEGER,
    done_at        INTEGER,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    UNIQUE (occurrence_id, kind)
);
-- Partial: the scheduler only ever looks for undone work, so finished jobs never cost a read.
-- (due_at, id) matches the claim's ORDER BY, so LIMIT can stop early without sorting.
CREATE INDEX jobs_due ON jobs (due_at, id) WHERE done_at IS NULL;

CREATE TABLE deliveries (
    scope          TEXT NOT NULL,
    meeting_id     TEXT,
    occurrence_id  INTEGER,
    user_id        INTEGER NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending',
    reason         TEXT,
    claimed_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (scope, user_id)
);

CREATE TABLE guild_settings (
    guild_id    INTEGER NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, key)
);

-- No foreign key to meetings: the trail must outlive what it describes.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor_id    INTEGER NOT NULL,
    action      TEXT NOT NULL,
    meeting_id  TEXT,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_guild_at ON audit_log (guild_id, at DESC, id DESC);
CREATE INDEX audit_meeting_at ON audit_log (meeting_id, at DESC, id DESC);
