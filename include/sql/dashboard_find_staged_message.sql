-- Dashboard (read-only): a message id still staged in job {table}'s staging table, and the batch
-- whose range holds it (the batch tracks it on its first claim). The staging table has no index on
-- message_id: this reads it whole, once per job with staged ids, only after message_tracking did
-- not know the id.
SELECT staged.message_id, batch.batch_id, job.start_date, job.dag_run_id
FROM {table} AS staged
JOIN batch_progress AS batch
    ON batch.job_id = %(job_id)s
    AND batch.staged > 0
    AND staged.position >= batch.first_position
    AND staged.position < batch.first_position + batch.staged
JOIN job_runs AS job ON job.job_id = batch.job_id
WHERE staged.message_id = %(message_id)s
LIMIT 1
