-- Issue 9, item 19: a repeating series may end. The last start the series may have (unix seconds); NULL: no end.
ALTER TABLE meetings ADD COLUMN repeat_until BIGINT;
