-- Part of the ledger's baseline schema, which holds include/sql/migrations 0001-0007; a later change
-- to the ledger is a new migration there first, then folded in here with the same definitions
-- (BASELINE_VERSION in ledger/migrations.py moves with it; docs/ledger.md, Migrations).
-- One row per batch of a job; counts are derived from message_tracking, never incremented.
-- Extraction stages a window's ids and gives each batch a range of them in message_id order
-- (first_staged_id, end_staged_id, staged); the batch's ids enter message_tracking when it is first
-- claimed (track_staged_batch.sql), and staged is 0 from then on.
CREATE TABLE IF NOT EXISTS batch_progress (
    batch_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    job_id BIGINT UNSIGNED NOT NULL,
    batch_number INT UNSIGNED NOT NULL COMMENT '0-based position of the batch within its job',
    status VARCHAR(16) NOT NULL DEFAULT 'pending' COMMENT 'pending | running | completed | failed',
    total_messages INT UNSIGNED NOT NULL DEFAULT 0,
    processed INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'messages archived (completed)',
    failed INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'messages currently failed',
    -- added to older ledgers by migrations/0004_add_batch_staged_range.sql: keep the two identical
    first_staged_id VARBINARY(512) NULL COMMENT 'first id of the batch''s range of its job''s staging table',
    end_staged_id VARBINARY(512) NULL COMMENT 'first id after the range (NULL: the range runs to the last id)',
    staged INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'ids of the range not yet in message_tracking',
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (batch_id),
    UNIQUE KEY uq_batch_progress_job_number (job_id, batch_number),
    -- the jobs whose batches still hold staged ids, without reading every batch of the ledger's
    -- history (jobs_with_staged_ids.sql; added to older ledgers by migrations/0005_index_batch_staged.sql)
    KEY ix_batch_progress_staged (staged, job_id),
    CONSTRAINT ck_batch_progress_status CHECK (status IN ('pending', 'running', 'completed', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
