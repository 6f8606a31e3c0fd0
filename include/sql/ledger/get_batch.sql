SELECT batch_id, job_id, batch_number, total_messages
FROM batch_progress
WHERE batch_id = %(batch_id)s
