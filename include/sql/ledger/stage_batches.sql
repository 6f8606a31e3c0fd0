-- Give a batch its range of the job's staged ids, once extraction has read them all: the ids from
-- first_staged_id up to end_staged_id (excluded; NULL: to the last), staged of them.
UPDATE batch_progress
SET first_staged_id = %s, end_staged_id = %s, staged = %s
WHERE batch_id = %s
