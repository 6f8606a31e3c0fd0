SELECT batch_number, batch_id
FROM batch_progress
WHERE job_id = %(job_id)s
