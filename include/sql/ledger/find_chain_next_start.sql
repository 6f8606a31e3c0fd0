-- Start of the first day after the contiguous chain of windows beginning at the configured start
-- date: the configured start itself when it has no job, else the first job end with no job after it.
SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM job_runs WHERE start_date = %(first_start)s) THEN %(first_start)s
    ELSE (
        SELECT MIN(j.end_date)
        FROM job_runs j
        LEFT JOIN job_runs n ON n.start_date = j.end_date
        WHERE j.start_date >= %(first_start)s AND n.job_id IS NULL
    )
END AS next_start
