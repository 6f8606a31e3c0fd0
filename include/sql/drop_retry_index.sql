-- Older ledgers: ix_message_tracking_status replaces this index (no statement needs last_attempted
-- in an index). Run by ensure_schema only while it exists, after the replacement was added.
ALTER TABLE message_tracking DROP INDEX ix_message_tracking_retry
