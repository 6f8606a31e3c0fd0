-- Recompute a batch's counts and status from its messages (idempotent: no double counting); ids it
-- still holds staged count as pending.
UPDATE batch_progress b
JOIN (
    SELECT
        COUNT(*) AS total_messages,
        COALESCE(SUM(status = 'completed'), 0) AS processed,
        COALESCE(SUM(status = 'failed'), 0) AS failed,
        COALESCE(SUM(status = 'in_progress'), 0) AS in_progress
    FROM message_tracking
    WHERE batch_id = %(batch_id)s
) m
SET b.total_messages = m.total_messages + b.staged,
    b.processed = m.processed,
    b.failed = m.failed,
    b.status = CASE
        WHEN m.in_progress > 0 THEN 'running'
        WHEN m.processed + m.failed < m.total_messages + b.staged THEN 'pending'
        WHEN m.failed > 0 THEN 'failed'
        ELSE 'completed'
    END
WHERE b.batch_id = %(batch_id)s
