-- Messages a dead worker left in_progress (lease expired) or pending with no attempts left:
-- record them as failed so nothing stays in limbo. `status IN (...)` first: a range on
-- ix_message_tracking_status that skips the completed rows, i.e. almost all of a big ledger.
-- FORCE INDEX: on a ledger of some 10^4-10^5 rows MariaDB's optimizer prefers a scan of the whole
-- table (fewer pages than a row lookup per unfinished message), which costs time with the ledger's
-- size; the range costs time with the unfinished messages only, at any size.
UPDATE message_tracking FORCE INDEX (ix_message_tracking_status)
SET status = 'failed',
    last_error = LEFT(CONCAT('gave up after ', attempts, ' attempts; last error: ', COALESCE(last_error, 'worker died while processing')), 1000),
    lease_token = NULL,
    lease_expires_at = NULL
WHERE status IN ('pending', 'in_progress')
  AND attempts >= %(max_attempts)s
  AND (status = 'pending' OR lease_expires_at < NOW(6))
