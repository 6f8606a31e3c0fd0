-- Create the window's job or reopen it; the window is unique, so concurrent runs share one row.
-- Reopening a day whose ledger rows retention removed clears the mark: its ids are tracked again.
INSERT INTO job_runs (start_date, end_date, status, dag_run_id)
VALUES (%(start_date)s, %(end_date)s, 'running', %(dag_run_id)s)
ON DUPLICATE KEY UPDATE
    status = 'running',
    dag_run_id = VALUES(dag_run_id),
    last_error = NULL,
    ledger_purged_at = NULL
