-- Completed days whose manifest and asset event are still due: days a later run's retry_failed
-- completed after their own finalize had closed them as failed (job_runs: one row per day).
SELECT job_id, start_date, end_date
FROM job_runs
WHERE status = 'completed' AND completion_announced_at IS NULL AND job_id <> %(job_id)s
ORDER BY start_date
LIMIT %(limit)s
