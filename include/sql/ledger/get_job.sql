SELECT job_id, start_date, end_date, status, extraction_completed_at
FROM job_runs
WHERE start_date = %(start_date)s
