-- A new extraction of the window restages its ids: until it has read them all, no batch holds a
-- range of the staging table (an earlier extraction's ranges would point into the new one).
UPDATE batch_progress
SET staged = 0, first_staged_id = NULL, end_staged_id = NULL
WHERE job_id = %(job_id)s AND (staged > 0 OR first_staged_id IS NOT NULL)
