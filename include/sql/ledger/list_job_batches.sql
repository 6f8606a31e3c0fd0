SELECT batch_id
FROM batch_progress
WHERE job_id = %(job_id)s AND total_messages > 0
ORDER BY batch_number
