-- One page of a job's archived messages in message_id order, after the last id of the previous
-- page (keyset paging on ix_message_tracking_job, whose entries end with the primary key): each
-- page is one short index range read, so a 10M-message day streams in constant memory.
SELECT message_id, s3_path, body_bytes, body_sha256, archive_offset, archive_length
FROM message_tracking
WHERE job_id = %(job_id)s AND status = 'completed' AND message_id > %(after)s
ORDER BY message_id
LIMIT %(limit)s
