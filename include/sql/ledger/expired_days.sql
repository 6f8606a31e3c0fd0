-- Retention: completed days whose message_tracking rows may go, oldest first. A day qualifies once
-- it ended and its export last finished (updated_at) before the cutoff, and it has no message left
-- that is not archived (a failed or unfinished message keeps the whole day until it is resolved).
-- Range scan of uq_job_runs_window; the NOT EXISTS probes ix_message_tracking_job.
SELECT j.job_id, j.start_date
FROM job_runs j
WHERE j.start_date < %(cutoff)s
  AND j.end_date <= %(cutoff)s
  AND j.status = 'completed'
  AND j.failed_messages = 0
  AND j.ledger_purged_at IS NULL
  AND j.updated_at <= %(cutoff)s
  AND NOT EXISTS (
        SELECT 1 FROM message_tracking t
        WHERE t.job_id = j.job_id AND t.status IN ('pending', 'in_progress', 'failed')
  )
ORDER BY j.start_date
LIMIT %(limit)s
