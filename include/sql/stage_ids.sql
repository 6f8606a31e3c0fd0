-- Append a page of extracted ids to the job's staging table ({table}). A page written twice (its
-- transaction retried after a lost connection) writes the same positions again.
-- Only placeholders in VALUES: the driver's executemany sends one multi-row INSERT per page.
INSERT INTO {table} (position, message_id, batch_id)
VALUES (%s, %s, %s)
ON DUPLICATE KEY UPDATE message_id = VALUES(message_id), batch_id = VALUES(batch_id)
