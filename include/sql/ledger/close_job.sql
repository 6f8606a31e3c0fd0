UPDATE job_runs
SET status = %(status)s,
    total_messages = %(total)s,
    completed_messages = %(completed)s,
    failed_messages = %(failed)s,
    source_count = %(source_count)s,
    archived_objects = %(archived_objects)s,
    next_run_date = %(next_run_date)s,
    last_error = %(last_error)s,
    -- a completed day is announced by the finalize that closes it (its manifest is already written)
    completion_announced_at = IF(%(status)s = 'completed', NOW(6), NULL)
WHERE job_id = %(job_id)s
