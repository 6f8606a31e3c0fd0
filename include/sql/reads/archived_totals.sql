-- A job's archived messages for its manifest: how many, their bytes, how many lack a checksum.
SELECT COUNT(*) AS messages,
       COALESCE(SUM(body_bytes), 0) AS body_bytes,
       COALESCE(SUM(body_sha256 IS NULL OR body_bytes IS NULL), 0) AS without_checksum
FROM message_tracking
WHERE job_id = %(job_id)s AND status = 'completed'
