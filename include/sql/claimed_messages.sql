SELECT message_id, job_id, batch_id, start_date
FROM message_tracking
WHERE lease_token = %(lease_token)s AND status = 'in_progress'
