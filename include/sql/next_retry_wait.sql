-- Seconds until the next failed message's backoff elapses (NULL when none has attempts left).
SELECT MIN(GREATEST(0,
    LEAST(%(backoff_seconds)s * POW(2, GREATEST(attempts, 1) - 1), %(max_backoff_seconds)s)
    - TIMESTAMPDIFF(MICROSECOND, last_attempted, NOW(6)) / 1000000)) AS wait_seconds
FROM message_tracking
WHERE status = 'failed' AND attempts < %(max_attempts)s
