-- The job row an Airflow run last worked on (notifications name the day of a failed run).
SELECT job_id, start_date, end_date, status, total_messages, completed_messages, failed_messages,
       source_count, archived_objects, extraction_completed_at, dag_run_id, last_error, updated_at,
       ledger_purged_at
FROM job_runs
WHERE dag_run_id = %(dag_run_id)s
ORDER BY updated_at DESC
LIMIT 1
