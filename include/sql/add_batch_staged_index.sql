-- Ledgers created before the batches' staged counts were indexed: the same index as in
-- create_batch_progress.sql. Run by ensure_schema only when it is missing (after the staged range's
-- columns, add_batch_staging.sql). batch_progress holds one row per batch, so this is quick.
ALTER TABLE batch_progress ADD INDEX ix_batch_progress_staged (staged, job_id)
