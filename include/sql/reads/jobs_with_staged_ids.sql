-- The jobs whose batches still hold staged ids: a range of ix_batch_progress_staged, so the
-- batches of the ledger's history (one row per batch, every day kept) are not read.
SELECT DISTINCT job_id
FROM batch_progress
WHERE staged > 0
ORDER BY job_id
