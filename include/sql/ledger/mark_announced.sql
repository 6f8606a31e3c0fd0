-- A late day's manifest is written and its asset event handed to Airflow: once per completion.
UPDATE job_runs
SET completion_announced_at = NOW(6)
WHERE job_id = %(job_id)s AND status = 'completed' AND completion_announced_at IS NULL
