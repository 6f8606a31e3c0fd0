-- Dashboard (read-only): one page of a job's batches (uq_batch_progress_job_number).
SELECT batch_id, batch_number, status, total_messages, processed, failed, updated_at, staged
FROM batch_progress
WHERE job_id = %(job_id)s
ORDER BY batch_number
LIMIT %(limit)s OFFSET %(offset)s
