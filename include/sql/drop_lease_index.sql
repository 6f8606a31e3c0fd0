-- Older ledgers: ix_message_tracking_status (status, lease_token) answers every lease lookup, which
-- all ask for status = 'in_progress'. Run by ensure_schema only while it exists.
ALTER TABLE message_tracking DROP INDEX ix_message_tracking_lease
