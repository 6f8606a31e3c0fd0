-- How many of a job's ids are staged and not yet tracked (they are pending: no worker has claimed
-- their batch yet).
SELECT COALESCE(SUM(staged), 0)
FROM batch_progress
WHERE job_id = %(job_id)s
