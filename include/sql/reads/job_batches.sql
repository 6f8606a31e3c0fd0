-- Dashboard (read-only): one page of a job's batches in batch_number order, from the first number
-- of the page on (keyset paging on uq_batch_progress_job_number: one short index range read).
SELECT batch_id, batch_number, status, total_messages, processed, failed, updated_at, staged
FROM batch_progress
WHERE job_id = %(job_id)s AND batch_number >= %(first_number)s
ORDER BY batch_number
LIMIT %(limit)s
