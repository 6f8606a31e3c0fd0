-- After retries, bring an earlier job's counts up to date; a failed job whose messages are now
-- all archived becomes completed.
UPDATE job_runs j
JOIN (
    SELECT
        COUNT(*) AS total,
        COALESCE(SUM(status = 'completed'), 0) AS completed,
        COALESCE(SUM(status = 'failed'), 0) AS failed
    FROM message_tracking
    WHERE job_id = %(job_id)s
) m
SET j.total_messages = m.total,
    j.completed_messages = m.completed,
    j.failed_messages = m.failed,
    j.status = IF(j.status = 'failed' AND m.completed = m.total AND j.extraction_completed_at IS NOT NULL,
                  'completed', j.status),
    j.next_run_date = IF(m.completed = m.total AND j.extraction_completed_at IS NOT NULL,
                         j.end_date + INTERVAL 1 DAY, j.next_run_date)
WHERE j.job_id = %(job_id)s AND j.status <> 'running'
