-- Shared state that outlives a restart (issue 11). The REST budget needs no table here: SQLite means one process,
-- whose own pacer is the whole budget.

-- Per-user cooldowns of the commands that make the bot send messages. Instants in milliseconds, unlike the rest
-- of the schema, so a use is given back by the exact instant it was taken (see src/store/cooldowns.rs).
CREATE TABLE cooldowns (
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    action       TEXT NOT NULL,
    taken_at_ms  INTEGER NOT NULL,
    until_ms     INTEGER NOT NULL,
    -- Random per take: tells the taker its own take from a racing one at the same millisecond.
    use_id       INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, action)
);
CREATE INDEX cooldowns_until ON cooldowns (until_ms);

-- The DM channel Discord opened for each user, so a returning invitee costs one request, not two.
CREATE TABLE dm_channels (
    user_id       INTEGER PRIMARY KEY,
    channel_id    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL
);
CREATE INDEX dm_channels_last_used ON dm_channels (last_used_at);
