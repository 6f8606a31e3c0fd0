-- The objects a job's rows point at, with how many completed messages each holds: finalize's
-- reconciliation in the batch layout (ix_message_tracking_job, then the rows; at most one row per
-- message of the day). A failed row keeps the object of its last archived attempt: still referenced.
SELECT s3_path, COALESCE(SUM(status = 'completed'), 0) AS completed
FROM message_tracking
WHERE job_id = %(job_id)s AND s3_path IS NOT NULL
GROUP BY s3_path
