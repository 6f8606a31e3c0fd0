-- Dashboard (read-only): one page of a job's failed messages in message_id order, after the last id
-- of the previous page (keyset paging on ix_message_tracking_job, whose entries end with the
-- primary key): each page is one short index range read, however many failures the day has.
SELECT message_id, batch_id, attempts, last_error, last_attempted
FROM message_tracking
WHERE job_id = %(job_id)s AND status = 'failed' AND message_id > %(after)s
ORDER BY message_id
LIMIT %(limit)s
