-- Track extracted ids as pending. An id already tracked keeps its row untouched (its status,
-- batch and attempts), so re-extracting a window never resets or duplicates anything.
-- Only placeholders in VALUES (status too): that is what lets the driver's executemany send one
-- multi-row INSERT per page instead of one statement per id.
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)
VALUES (%s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE message_id = message_id
