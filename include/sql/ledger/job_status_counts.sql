SELECT status, COUNT(*) AS messages
FROM message_tracking
WHERE job_id = %(job_id)s
GROUP BY status
