-- Staging tables of extractions in this database (message_tracking_staging_<job_id>).
SELECT TABLE_NAME
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE()
  AND TABLE_NAME LIKE 'message\_tracking\_staging\_%'
