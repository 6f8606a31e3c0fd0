INSERT INTO batch_progress (job_id, batch_number)
VALUES (%s, %s)
ON DUPLICATE KEY UPDATE batch_number = batch_number
