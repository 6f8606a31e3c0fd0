-- A batch's range of staged ids, locked so one transaction tracks it (claims of the same batch
-- queue here, then find staged = 0).
SELECT batch.first_position, batch.staged, batch.job_id, job.start_date
FROM batch_progress AS batch
JOIN job_runs AS job ON job.job_id = batch.job_id
WHERE batch.batch_id = %(batch_id)s
FOR UPDATE
