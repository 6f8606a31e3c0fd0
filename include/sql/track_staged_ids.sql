-- Track a window's staged ids as pending, in message_id order: every index of message_tracking is
-- then written front to back (one pass over the pages it touches) instead of at random, which is
-- what keeps a large window fast when the ledger does not fit in the buffer pool. An id already
-- tracked keeps its row untouched (status, batch, attempts), as with track_messages.
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)
SELECT staged.message_id, %(job_id)s, staged.batch_id, %(start_date)s, 'pending'
FROM {table} AS staged
ORDER BY staged.message_id
ON DUPLICATE KEY UPDATE message_id = message_tracking.message_id
