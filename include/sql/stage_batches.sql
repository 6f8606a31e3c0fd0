-- Give a batch its range of the job's staged ids, once extraction has read them all:
-- positions first_position .. first_position + staged - 1 of message_tracking_staging_<job_id>.
UPDATE batch_progress
SET first_position = %s, staged = %s
WHERE batch_id = %s
