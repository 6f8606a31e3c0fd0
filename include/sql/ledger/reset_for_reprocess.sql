-- reprocess=true: export the window's settled messages again from a clean slate.
UPDATE message_tracking
SET status = 'pending', attempts = 0, last_error = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE job_id = %(job_id)s AND status IN ('completed', 'failed')
