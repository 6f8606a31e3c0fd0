-- Extend a worker's lease on the messages it holds (ix_message_tracking_status: status, lease_token).
UPDATE message_tracking
SET lease_expires_at = NOW(6) + INTERVAL %(lease_seconds)s SECOND
WHERE lease_token = %(lease_token)s AND status = 'in_progress'
