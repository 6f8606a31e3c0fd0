-- Track one batch's staged ids as pending: a range of the staging table's primary key, read and
-- inserted in message_id order, so each index of message_tracking is written front to back over
-- the pages the batch's range covers. {table} is the job's staging table; the range is the batch's
-- (staged_batch.sql, locked in the same transaction; %(end_id)s is above every id when the range
-- runs to the last). An id already tracked keeps its row untouched (status, batch, attempts), as
-- with track_messages.
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)
SELECT staged.message_id, %(job_id)s, %(batch_id)s, %(start_date)s, 'pending'
FROM {table} AS staged
WHERE staged.message_id >= %(first_id)s AND staged.message_id < %(end_id)s
ORDER BY staged.message_id
ON DUPLICATE KEY UPDATE message_id = message_tracking.message_id
