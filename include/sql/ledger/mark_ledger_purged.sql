-- Retention: record that a day's message_tracking rows are gone (its figures stay in this row).
-- updated_at keeps its value: it says when the day's export last changed, not when it was purged.
UPDATE job_runs
SET ledger_purged_at = NOW(6), updated_at = updated_at
WHERE job_id = %(job_id)s AND status = 'completed'
