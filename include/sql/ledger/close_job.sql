UPDATE job_runs
SET status = %(status)s,
    total_messages = %(total)s,
    completed_messages = %(completed)s,
    failed_messages = %(failed)s,
    source_count = %(source_count)s,
    archived_objects = %(archived_objects)s,
    next_run_date = %(next_run_date)s,
    last_error = %(last_error)s
WHERE job_id = %(job_id)s
