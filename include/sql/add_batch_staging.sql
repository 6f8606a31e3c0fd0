-- Ledgers created before batches tracked their own staged ids: add the batch's range of the
-- staging table (same definitions as in create_batch_progress.sql). Run by ensure_schema only when
-- they are missing; trailing columns with a constant default are added instantly (MySQL 8.0.12+,
-- MariaDB 10.3+). A batch of an older ledger holds no staged ids (staged = 0): its messages were
-- tracked at extraction.
ALTER TABLE batch_progress
    ADD COLUMN first_position INT UNSIGNED NULL COMMENT 'the batch''s first position in its job''s staging table',
    ADD COLUMN staged INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'ids of the batch still staged, not yet in message_tracking'
