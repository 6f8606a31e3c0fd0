-- The start of a job's window (what message_tracking.start_date holds for its messages).
SELECT start_date
FROM job_runs
WHERE job_id = %(job_id)s
