-- One row per batch of a job; counts are derived from message_tracking, never incremented.
CREATE TABLE IF NOT EXISTS batch_progress (
    batch_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    job_id BIGINT UNSIGNED NOT NULL,
    batch_number INT UNSIGNED NOT NULL COMMENT '0-based position of the batch within its job',
    status VARCHAR(16) NOT NULL DEFAULT 'pending' COMMENT 'pending | running | completed | failed',
    total_messages INT UNSIGNED NOT NULL DEFAULT 0,
    processed INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'messages archived (completed)',
    failed INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'messages currently failed',
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (batch_id),
    UNIQUE KEY uq_batch_progress_job_number (job_id, batch_number),
    CONSTRAINT ck_batch_progress_status CHECK (status IN ('pending', 'running', 'completed', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
