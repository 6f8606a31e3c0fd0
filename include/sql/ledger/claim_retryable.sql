-- Lease messages due for another attempt, oldest attempt first: failed ones whose backoff
-- (base * 2^(attempts-1), capped) has elapsed, in_progress ones whose worker's lease expired,
-- and pending ones of this job or of jobs no run is working on any more. `status IN (...)` first:
-- a range on ix_message_tracking_status that skips the completed rows (almost all of a big ledger),
-- forced as in give_up_exhausted.sql: never a scan of the whole table, whatever its size.
UPDATE message_tracking FORCE INDEX (ix_message_tracking_status)
SET status = 'in_progress',
    lease_token = %(lease_token)s,
    lease_expires_at = NOW(6) + INTERVAL %(lease_seconds)s SECOND,
    attempts = attempts + 1,
    last_attempted = NOW(6)
WHERE status IN ('failed', 'in_progress', 'pending')
  AND attempts < %(max_attempts)s
  AND (
        (status = 'failed'
         AND last_attempted <= NOW(6) - INTERVAL LEAST(%(backoff_seconds)s * POW(2, GREATEST(attempts, 1) - 1), %(max_backoff_seconds)s) SECOND)
     OR (status = 'in_progress' AND lease_expires_at < NOW(6))
     OR (status = 'pending'
         AND (job_id = %(job_id)s OR job_id IN (SELECT job_id FROM job_runs WHERE status <> 'running')))
  )
ORDER BY last_attempted
LIMIT %(limit)s
