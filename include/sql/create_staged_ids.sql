-- The ids of one window's extraction as they stream in from Elasticsearch, before they enter
-- message_tracking. One table per job ({table} is message_tracking_staging_<job_id>, built from the
-- integer job id): appending here touches one page at a time whatever the ledger's size. Once all
-- are read, each batch of the job holds a range of positions (batch_progress.first_position,
-- staged) and tracks those ids when it is first claimed (track_staged_batch.sql). finalize tracks
-- what is left and drops the table; a new extraction of the same window drops and rebuilds it.
CREATE TABLE {table} (
    position INT UNSIGNED NOT NULL COMMENT 'the id''s place in the window, 0-based',
    message_id VARBINARY(512) NOT NULL,
    PRIMARY KEY (position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
