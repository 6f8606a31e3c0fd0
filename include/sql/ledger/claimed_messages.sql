-- The messages a worker holds (ix_message_tracking_status: status, lease_token), in message id order
-- (the batch layout writes them in that order; the index's entries already end with the primary key).
SELECT message_id, job_id, batch_id, start_date
FROM message_tracking
WHERE lease_token = %(lease_token)s AND status = 'in_progress'
ORDER BY message_id
