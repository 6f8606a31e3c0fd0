-- The ids of one window's extraction as they stream in from Elasticsearch, before they enter
-- message_tracking. One table per job ({table} is message_tracking_staging_<job_id>, built from the
-- integer job id): appending here touches one page at a time whatever the ledger's size, and the
-- table is dropped, not deleted from, once its ids are tracked. Left over by a dead worker, it is
-- dropped and rebuilt by the next extraction of the same window. Batches are not chosen here:
-- track_staged_ids.sql cuts them in message_id order.
CREATE TABLE {table} (
    position INT UNSIGNED NOT NULL COMMENT 'the id''s place in the window, 0-based',
    message_id VARBINARY(512) NOT NULL,
    PRIMARY KEY (position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
