-- Dashboard (read-only): the jobs of the days in [from_start, to_start), newest first
-- (range scan of uq_job_runs_window).
SELECT job_id, start_date, end_date, status, total_messages, completed_messages, failed_messages,
       source_count, archived_objects, extraction_completed_at, dag_run_id, last_error, updated_at,
       ledger_purged_at
FROM job_runs
WHERE start_date >= %(from_start)s AND start_date < %(to_start)s
ORDER BY start_date DESC
