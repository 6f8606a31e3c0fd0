-- Lease a batch's unfinished messages to this worker. in_progress rows are taken over too: they
-- belong to an earlier attempt of this same batch (killed, or a zombie whose updates are fenced).
UPDATE message_tracking
SET status = 'in_progress',
    lease_token = %(lease_token)s,
    lease_expires_at = NOW(6) + INTERVAL %(lease_seconds)s SECOND,
    attempts = attempts + 1,
    last_attempted = NOW(6)
WHERE batch_id = %(batch_id)s
  AND status IN ('pending', 'in_progress')
  AND attempts < %(max_attempts)s
