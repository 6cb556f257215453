-- Whether a meeting's occurrences get a Discord Scheduled Event. Events are visible to the whole server, so a
-- meeting announced in a channel @everyone cannot see gets one only when its host asks. Earlier meetings keep theirs.
ALTER TABLE meetings ADD COLUMN discord_event BOOLEAN NOT NULL DEFAULT TRUE;
