-- Dashboard (read-only): live message counts per batch and status for a range of batch ids
-- (covered by ix_message_tracking_batch); the caller keeps the batches it asked for.
SELECT batch_id, status, COUNT(*)
FROM message_tracking
WHERE batch_id BETWEEN %(first_batch_id)s AND %(last_batch_id)s
GROUP BY batch_id, status
