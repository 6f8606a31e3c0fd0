-- Ledgers created before the day manifest existed: the body size and checksum of each archived
-- message (same definitions as in schema/create_message_tracking.sql). MySQL 8.0.12+ and MariaDB
-- 10.3+ add trailing nullable columns instantly (no table copy).
ALTER TABLE message_tracking
    ADD COLUMN body_bytes INT UNSIGNED NULL COMMENT 'size of the archived JSON body';
ALTER TABLE message_tracking
    ADD COLUMN body_sha256 BINARY(32) NULL COMMENT 'SHA-256 of the archived JSON body';
