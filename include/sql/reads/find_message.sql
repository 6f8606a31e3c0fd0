-- Dashboard (read-only): where one message stands (primary key lookup).
SELECT t.message_id, t.status, t.s3_path, t.attempts, t.last_error, t.last_attempted, t.start_date,
       t.batch_id, j.dag_run_id
FROM message_tracking t
LEFT JOIN job_runs j ON j.job_id = t.job_id
WHERE t.message_id = %(message_id)s
