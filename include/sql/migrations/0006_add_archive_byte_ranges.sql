-- Ledgers created before the batch layout: where a message's gzip member sits in its batch object
-- (same definitions as in schema/create_message_tracking.sql). NULL in the message layout, whose
-- object is the message. A trailing nullable column is added instantly (MySQL 8.0.12+, MariaDB 10.3+).
ALTER TABLE message_tracking
    ADD COLUMN archive_offset BIGINT UNSIGNED NULL COMMENT 'batch layout: byte offset of the message''s gzip member in s3_path';
ALTER TABLE message_tracking
    ADD COLUMN archive_length INT UNSIGNED NULL COMMENT 'batch layout: byte length of the message''s gzip member';
