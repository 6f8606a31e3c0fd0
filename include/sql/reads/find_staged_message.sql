-- Dashboard (read-only): a message id still staged in job {table}'s staging table (a primary key
-- lookup), and the batch whose range holds it (the batch tracks it on its first claim).
SELECT staged.message_id, batch.batch_id, job.start_date, job.dag_run_id
FROM {table} AS staged
JOIN batch_progress AS batch
    ON batch.job_id = %(job_id)s
    AND batch.staged > 0
    AND staged.message_id >= batch.first_staged_id
    AND (batch.end_staged_id IS NULL OR staged.message_id < batch.end_staged_id)
JOIN job_runs AS job ON job.job_id = batch.job_id
WHERE staged.message_id = %(message_id)s
LIMIT 1
