-- Shared state for several processes on one database (issue 11).

-- Per-user cooldowns of the commands that make the bot send messages. Instants in milliseconds, unlike the rest
-- of the schema, so a use is given back by the exact instant it was taken (see src/store/cooldowns.rs).
CREATE TABLE cooldowns (
    guild_id     BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    action       TEXT NOT NULL,
    taken_at_ms  BIGINT NOT NULL,
    until_ms     BIGINT NOT NULL,
    -- Random per take: tells the taker its own take from a racing one at the same millisecond.
    use_id       BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id, action)
);
-- Pruning expired rows reads only those.
CREATE INDEX cooldowns_until ON cooldowns (until_ms);

-- The DM channel Discord opened for each user, so a returning invitee costs one request, not two.
CREATE TABLE dm_channels (
    user_id       BIGINT PRIMARY KEY,
    channel_id    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL
);
CREATE INDEX dm_channels_last_used ON dm_channels (last_used_at);

-- One REST schedule per bot token (keyed by a hash, never the token): each request books the next slot, spaced
-- 1/pace apart on the database's clock, so all processes together keep to the pace (see src/store/budget.rs).
-- Microseconds: slots are 25 ms apart at the default pace. UNLOGGED: a booking then costs no WAL flush (≈0.09 ms
-- instead of ≈1.5 ms here); should PostgreSQL crash the table comes back empty, and the schedule starts afresh.
CREATE UNLOGGED TABLE rest_budget (
    bucket           TEXT PRIMARY KEY,
    next_slot_us     BIGINT NOT NULL,
    paused_until_us  BIGINT NOT NULL DEFAULT 0,
    booked_at_us     BIGINT NOT NULL
);
