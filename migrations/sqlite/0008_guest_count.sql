-- Issue 9, item 15: guest invitations counted exactly. The cap was checked against the newest audit rows, which
-- undercounts once a meeting has many entries (and audit retention prunes rows); a counter on the meeting, raised
-- by one conditional UPDATE, counts and claims in one statement.
ALTER TABLE meetings ADD COLUMN guest_invitations INTEGER NOT NULL DEFAULT 0;
UPDATE meetings SET guest_invitations = (
    SELECT COUNT(*) FROM audit_log
    WHERE audit_log.meeting_id = meetings.id AND audit_log.action IN ('guest_member', 'guest_external')
);
