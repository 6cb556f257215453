-- Live state of meetings, as Jitsi reports it (src/store/live.rs). Times are unix seconds.
--
-- Every column is merged commutatively (MIN of starts, MAX of ends, the smaller of two ids),
-- so events applied in any order, twice, or by two instances at once end in one state.
-- Counts such as the peak are derived from these rows when read, never stored: a stored
-- counter could not converge when events arrive out of order.

-- Rooms map back to meetings by the name meetbot generated.
CREATE INDEX meetings_room ON meetings (room);

-- One row per occurrence Jitsi reported on (or whose Discord event a live decision settled).
-- first_event_at is the MIN of the events' own times, last_event_at their MAX (none until an
-- event); activated_at and completed_at record which instance's claim of the Discord event's
-- ACTIVE and COMPLETED won.
CREATE TABLE live_occurrences (
    occurrence_id INTEGER PRIMARY KEY REFERENCES occurrences (id) ON DELETE CASCADE,
    first_event_at INTEGER,
    last_event_at INTEGER,
    activated_at INTEGER,
    completed_at INTEGER
);

-- One row per life of a room (`scope` '' for the main room, else the breakout room's id):
-- event_sync names a life by its creation time, JaaS by its sessionId. created_at is a MIN,
-- destroyed_at a MAX.
CREATE TABLE live_room_sessions (
    occurrence_id INTEGER NOT NULL REFERENCES occurrences (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    session TEXT NOT NULL,
    created_at INTEGER,
    destroyed_at INTEGER,
    PRIMARY KEY (occurrence_id, scope, session)
);

-- One row per visit of one occupant (its JID for event_sync, participant id for JaaS):
-- event_sync names a visit by its join time, which both its joined and left events carry;
-- JaaS by the room's sessionId. joined_at is a MIN, last_joined_at and left_at are MAXes (a
-- rejoin after the last leave means present again); user_id is the token's context.user.id,
-- the smaller of two if they ever differ.
CREATE TABLE live_visits (
    occurrence_id INTEGER NOT NULL REFERENCES occurrences (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    occupant TEXT NOT NULL,
    visit TEXT NOT NULL,
    user_id TEXT,
    joined_at INTEGER,
    last_joined_at INTEGER,
    left_at INTEGER,
    PRIMARY KEY (occurrence_id, scope, occupant, visit)
);

-- JaaS deliveries already applied, by idempotencyKey, so two instances apply each once.
CREATE TABLE jaas_deliveries (
    idempotency_key TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
);
CREATE INDEX jaas_deliveries_received ON jaas_deliveries (received_at);
