-- The earliest window whose extraction never completed.
SELECT job_id, start_date, end_date
FROM job_runs
WHERE extraction_completed_at IS NULL
ORDER BY start_date
LIMIT 1
