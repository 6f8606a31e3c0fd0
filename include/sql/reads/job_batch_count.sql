-- Dashboard (read-only): how many batches a job has.
SELECT COUNT(*) FROM batch_progress WHERE job_id = %(job_id)s
