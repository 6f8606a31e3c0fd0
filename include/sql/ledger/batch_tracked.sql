-- A batch's staged ids are in message_tracking now.
UPDATE batch_progress
SET staged = 0
WHERE batch_id = %(batch_id)s
