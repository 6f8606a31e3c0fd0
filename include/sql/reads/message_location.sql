-- Where one message's archived document is (primary key lookup): its object, the byte range of its
-- gzip member in the batch layout (NULL: the object is the message), its size and SHA-256.
SELECT message_id, s3_path, body_bytes, body_sha256, archive_offset, archive_length, status
FROM message_tracking
WHERE message_id = %(message_id)s
