-- Retention: remove one chunk of a purgeable day's archived messages by primary key. Point lookups
-- on the primary key lock exactly the rows removed (no ranges, no gaps): claims, results and
-- inserts of other days never wait on it. The job and status are checked again on each row.
DELETE FROM message_tracking
WHERE message_id IN %(message_ids)s
  AND job_id = %(job_id)s
  AND status = 'completed'
