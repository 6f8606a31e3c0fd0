-- The window's ids are all staged or tracked: its total is what is tracked plus what its batches
-- still hold in the staging table.
UPDATE job_runs
SET extraction_completed_at = NOW(6),
    total_messages = (SELECT COUNT(*) FROM message_tracking WHERE job_id = %(job_id)s)
        + (SELECT COALESCE(SUM(staged), 0) FROM batch_progress WHERE job_id = %(job_id)s)
WHERE job_id = %(job_id)s
