-- Dashboard (read-only): the first and last exported day and the day counts by status in a range.
SELECT
    (SELECT MIN(start_date) FROM job_runs) AS first_start,
    COUNT(*) AS days,
    COALESCE(SUM(status = 'completed'), 0) AS completed_days,
    COALESCE(SUM(status = 'failed'), 0) AS failed_days,
    COALESCE(SUM(status = 'running'), 0) AS running_days
FROM job_runs
WHERE start_date >= %(from_start)s AND start_date < %(to_start)s
