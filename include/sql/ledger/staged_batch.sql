-- A batch's range of staged ids, locked so one transaction tracks it (claims of the same batch
-- queue here, then find staged = 0). Only the batch's row is locked: the claims of a job's other
-- batches go on meanwhile.
SELECT first_staged_id, end_staged_id, staged, job_id
FROM batch_progress
WHERE batch_id = %(batch_id)s
FOR UPDATE
