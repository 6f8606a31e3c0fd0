-- Ledgers created before the day manifest existed: add the body size and checksum columns
-- (same definitions as in create_message_tracking.sql). Run by ensure_schema only when they are
-- missing; MySQL 8.0.12+ and MariaDB 10.3+ add trailing nullable columns instantly (no table copy).
ALTER TABLE message_tracking
    ADD COLUMN body_bytes INT UNSIGNED NULL COMMENT 'size of the archived JSON body',
    ADD COLUMN body_sha256 BINARY(32) NULL COMMENT 'SHA-256 of the archived JSON body'
