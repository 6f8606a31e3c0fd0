-- Retention: the next chunk of a purgeable day's archived messages, after the last one removed.
-- A plain (non-locking) read of ix_message_tracking_job, which holds (job_id, status, message_id):
-- no sort, no lock, and no rescan of the entries earlier chunks deleted.
SELECT message_id
FROM message_tracking
WHERE job_id = %(job_id)s AND status = 'completed' AND message_id > %(after)s
ORDER BY message_id
LIMIT %(limit)s
