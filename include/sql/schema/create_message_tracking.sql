-- Part of the ledger's baseline schema, which holds include/sql/migrations 0001-0007; a later change
-- to the ledger is a new migration there first, then folded in here with the same definitions
-- (BASELINE_VERSION in ledger/migrations.py moves with it; docs/ledger.md, Migrations).
-- One row per message. message_id is VARBINARY so ids compare byte for byte, exactly as
-- Elasticsearch stores them (no case folding, no trailing-space padding, no Unicode collation).
CREATE TABLE IF NOT EXISTS message_tracking (
    message_id VARBINARY(512) NOT NULL COMMENT 'Elasticsearch _id, UTF-8 bytes',
    job_id BIGINT UNSIGNED NOT NULL,
    batch_id BIGINT UNSIGNED NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending' COMMENT 'pending | in_progress | completed | failed',
    start_date DATETIME NOT NULL COMMENT 'start of the window the message was extracted for',
    s3_path VARCHAR(1100) NULL COMMENT 'full s3:// URI of the archived JSON',
    attempts INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'processing attempts so far',
    last_error VARCHAR(1000) NULL COMMENT 'why the last attempt failed',
    last_attempted DATETIME(6) NULL,
    lease_token CHAR(32) CHARACTER SET ascii NULL COMMENT 'worker holding the message while in_progress',
    lease_expires_at DATETIME(6) NULL COMMENT 'after this, another worker may reclaim the message',
    -- body_bytes/body_sha256 feed the day manifest; ledgers created before them get them from
    -- migrations/0001_add_message_checksums.sql, so keep the two definitions identical.
    body_bytes INT UNSIGNED NULL COMMENT 'size of the archived JSON body',
    body_sha256 BINARY(32) NULL COMMENT 'SHA-256 of the archived JSON body',
    -- the batch layout's byte range of the message's gzip member in s3_path (NULL: the object is the
    -- message); older ledgers get them from migrations/0006_add_archive_byte_ranges.sql, keep them identical
    archive_offset BIGINT UNSIGNED NULL COMMENT 'batch layout: byte offset of the message''s gzip member in s3_path',
    archive_length INT UNSIGNED NULL COMMENT 'batch layout: byte length of the message''s gzip member',
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (message_id),
    KEY ix_message_tracking_batch (batch_id, status),
    KEY ix_message_tracking_job (job_id, status),
    -- (status, lease_token) serves both the unfinished-status ranges of the retry statements and a
    -- worker's lease lookups (status = 'in_progress' AND lease_token = ...). It replaced
    -- ix_message_tracking_retry (status, last_attempted) and ix_message_tracking_lease (lease_token):
    -- no statement read last_attempted from an index (claim_retryable sorts across three statuses
    -- either way), and one index fewer is one write fewer per tracked id. migrations/0002 migrates an
    -- older ledger.
    KEY ix_message_tracking_status (status, lease_token),
    CONSTRAINT ck_message_tracking_status CHECK (status IN ('pending', 'in_progress', 'completed', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
