-- The batches of a job whose ids are still staged.
SELECT batch_id
FROM batch_progress
WHERE job_id = %(job_id)s AND staged > 0
ORDER BY batch_number
