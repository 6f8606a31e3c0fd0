-- The ids of one window's extraction as they stream in from Elasticsearch, before they enter
-- message_tracking. One table per job ({table} is message_tracking_staging_<job_id>, built from the
-- integer job id), keyed by message_id: an id read twice is staged once, and once all are read each
-- batch of the job holds a range of them in message_id order (batch_progress.first_staged_id,
-- end_staged_id, staged), which it tracks when it is first claimed (track_staged_batch.sql): a
-- range of the ledger's primary key, written front to back. finalize tracks what is left and drops
-- the table; a new extraction of the same window drops and rebuilds it.
CREATE TABLE {table} (
    message_id VARBINARY(512) NOT NULL,
    PRIMARY KEY (message_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
