UPDATE job_runs
SET extraction_completed_at = NOW(6),
    total_messages = (SELECT COUNT(*) FROM message_tracking WHERE job_id = %(job_id)s)
WHERE job_id = %(job_id)s
