-- Part of the ledger's baseline schema, which holds include/sql/migrations 0001-0007; a later change
-- to the ledger is a new migration there first, then folded in here with the same definitions
-- (BASELINE_VERSION in ledger/migrations.py moves with it; docs/ledger.md, Migrations).
-- One row per one-day export window [start_date, end_date) in UTC.
CREATE TABLE IF NOT EXISTS job_runs (
    job_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    start_date DATETIME NOT NULL COMMENT 'window start, UTC, inclusive',
    end_date DATETIME NOT NULL COMMENT 'window end, UTC, exclusive',
    status VARCHAR(16) NOT NULL DEFAULT 'running' COMMENT 'running | completed | failed',
    next_run_date DATETIME NULL COMMENT 'end_date + 1 day, set when the job completes',
    total_messages INT UNSIGNED NOT NULL DEFAULT 0,
    completed_messages INT UNSIGNED NOT NULL DEFAULT 0,
    failed_messages INT UNSIGNED NOT NULL DEFAULT 0,
    source_count INT UNSIGNED NULL COMMENT 'ids Elasticsearch reported for the window at finalize',
    archived_objects INT UNSIGNED NULL COMMENT 'objects found under the window prefix at finalize',
    extraction_completed_at DATETIME(6) NULL COMMENT 'NULL until every id of the window is staged or tracked',
    dag_run_id VARCHAR(250) NULL COMMENT 'the Airflow run that last worked on this window',
    last_error VARCHAR(2000) NULL,
    -- added to older ledgers by migrations/0003_add_ledger_purged_at.sql: keep the two identical
    ledger_purged_at DATETIME(6) NULL COMMENT 'when retention removed the day''s message_tracking rows',
    -- NULL while a completed day's manifest and asset event are still due (a day completed late, by a
    -- later run's retry_failed); added to older ledgers by migrations/0007_add_completion_announced_at.sql
    completion_announced_at DATETIME(6) NULL COMMENT 'when the completed day''s manifest and asset event were published',
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (job_id),
    UNIQUE KEY uq_job_runs_window (start_date),
    KEY ix_job_runs_extraction (extraction_completed_at, start_date),
    CONSTRAINT ck_job_runs_status CHECK (status IN ('running', 'completed', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
