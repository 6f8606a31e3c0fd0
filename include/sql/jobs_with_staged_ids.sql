-- The jobs whose batches still hold staged ids (a small table: one row per batch).
SELECT DISTINCT job_id
FROM batch_progress
WHERE staged > 0
ORDER BY job_id
