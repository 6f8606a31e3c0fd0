-- Track extracted ids as pending. An id already tracked keeps its row untouched (its status,
-- batch and attempts), so re-extracting a window never resets or duplicates anything.
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)
VALUES (%s, %s, %s, %s, 'pending')
ON DUPLICATE KEY UPDATE message_id = message_id
