-- Ledgers created before batches tracked their own staged ids: add the batch's range of the
-- staging table (same definitions as in create_batch_progress.sql). Run by ensure_schema only when
-- they are missing; trailing columns (nullable, or with a constant default) are added instantly
-- (MySQL 8.0.12+, MariaDB 10.3+). A batch of an older ledger holds no staged ids (staged = 0): its
-- messages were tracked at extraction.
ALTER TABLE batch_progress
    ADD COLUMN first_staged_id VARBINARY(512) NULL COMMENT 'first id of the batch''s range of its job''s staging table',
    ADD COLUMN end_staged_id VARBINARY(512) NULL COMMENT 'first id after the range (NULL: the range runs to the last id)',
    ADD COLUMN staged INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'ids of the range not yet in message_tracking'
