SELECT job_id
FROM job_runs
WHERE status = 'running'
