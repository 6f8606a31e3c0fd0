-- The messages a worker holds (ix_message_tracking_status: status, lease_token).
SELECT message_id, job_id, batch_id, start_date
FROM message_tracking
WHERE lease_token = %(lease_token)s AND status = 'in_progress'
