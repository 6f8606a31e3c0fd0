-- Retention, first statement of a chunk's transaction: share-lock the day's job row (a primary key
-- point lookup, no gap lock) and read whether the day may still be purged. A run reopening the day
-- (open_job) waits for this one chunk, and no chunk deletes anything once the day is reopened.
SELECT status = 'completed' AND ledger_purged_at IS NULL AS purgeable
FROM job_runs
WHERE job_id = %(job_id)s
LOCK IN SHARE MODE
