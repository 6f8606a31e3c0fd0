-- Dashboard (read-only): the job of one day, if that day was ever exported.
SELECT job_id, start_date, end_date, status, total_messages, completed_messages, failed_messages,
       source_count, archived_objects, extraction_completed_at, dag_run_id, last_error, updated_at,
       ledger_purged_at
FROM job_runs
WHERE start_date = %(start_date)s
