SELECT message_id, attempts, last_error
FROM message_tracking
WHERE job_id = %(job_id)s AND status = 'failed'
ORDER BY message_id
LIMIT %(limit)s
