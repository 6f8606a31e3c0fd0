-- Seconds until the next failed message's backoff elapses (NULL when none has attempts left).
-- The failed rows only, through ix_message_tracking_status, as in give_up_exhausted.sql.
SELECT MIN(GREATEST(0,
    LEAST(%(backoff_seconds)s * POW(2, GREATEST(attempts, 1) - 1), %(max_backoff_seconds)s)
    - TIMESTAMPDIFF(MICROSECOND, last_attempted, NOW(6)) / 1000000)) AS wait_seconds
FROM message_tracking FORCE INDEX (ix_message_tracking_status)
WHERE status = 'failed' AND attempts < %(max_attempts)s
