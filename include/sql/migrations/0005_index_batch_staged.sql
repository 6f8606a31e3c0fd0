-- Ledgers created before the batches' staged counts were indexed (same index as in
-- schema/create_batch_progress.sql): the dashboard finds an id that is only staged without reading
-- every batch of the ledger's history. batch_progress holds one row per batch, so this is quick.
ALTER TABLE batch_progress ADD INDEX ix_batch_progress_staged (staged, job_id);
