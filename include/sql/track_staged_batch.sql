-- Track one batch's staged ids as pending, in message_id order (each index of message_tracking
-- is then written front to back over the pages the batch touches). {table} is the job's staging
-- table; the range is the batch's (staged_batch.sql, locked in the same transaction). An id already
-- tracked keeps its row untouched (status, batch, attempts), as with track_messages.
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)
SELECT staged.message_id, %(job_id)s, %(batch_id)s, %(start_date)s, 'pending'
FROM {table} AS staged
WHERE staged.position >= %(first_position)s AND staged.position < %(end_position)s
ORDER BY staged.message_id
ON DUPLICATE KEY UPDATE message_id = message_tracking.message_id
