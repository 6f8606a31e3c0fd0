-- Dashboard (read-only): one page of a job's failed messages, in message id order
-- (ix_message_tracking_job holds (job_id, status) and the primary key).
SELECT message_id, batch_id, attempts, last_error, last_attempted
FROM message_tracking
WHERE job_id = %(job_id)s AND status = 'failed'
ORDER BY message_id
LIMIT %(limit)s OFFSET %(offset)s
