-- Ledgers created before ix_message_tracking_status: add it (same definition as in
-- create_message_tracking.sql) before the two indexes it replaces are dropped. Run by ensure_schema
-- only when it is missing; MySQL 8.0 and MariaDB 10.3+ build a secondary index online (in place,
-- reads and writes go on meanwhile).
ALTER TABLE message_tracking ADD INDEX ix_message_tracking_status (status, lease_token)
