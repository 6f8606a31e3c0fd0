-- Ledgers created before batches tracked their own staged ids: the batch's range of its job's
-- staging table (same definitions as in schema/create_batch_progress.sql). A batch of an older
-- ledger holds no staged ids (staged = 0): its messages were tracked at extraction. The range by
-- position (first_position) that briefly preceded the range by id is dropped where it exists.
ALTER TABLE batch_progress
    ADD COLUMN first_staged_id VARBINARY(512) NULL COMMENT 'first id of the batch''s range of its job''s staging table';
ALTER TABLE batch_progress
    ADD COLUMN end_staged_id VARBINARY(512) NULL COMMENT 'first id after the range (NULL: the range runs to the last id)';
ALTER TABLE batch_progress
    ADD COLUMN staged INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'ids of the range not yet in message_tracking';
ALTER TABLE batch_progress DROP COLUMN first_position;
