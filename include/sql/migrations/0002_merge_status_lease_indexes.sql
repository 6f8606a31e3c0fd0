-- One index (status, lease_token) answers every lease and retry lookup; it replaces
-- ix_message_tracking_retry (status, last_attempted) and ix_message_tracking_lease (lease_token).
-- The replacement is added before the indexes it replaces are dropped, so the statements that use
-- them always have one to use. MySQL 8.0 and MariaDB 10.3+ build a secondary index online.
ALTER TABLE message_tracking ADD INDEX ix_message_tracking_status (status, lease_token);
ALTER TABLE message_tracking DROP INDEX ix_message_tracking_retry;
ALTER TABLE message_tracking DROP INDEX ix_message_tracking_lease;
