-- Which of the ledger's tables exist in the connection's database.
SELECT TABLE_NAME FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE()
  AND TABLE_NAME IN ('job_runs', 'batch_progress', 'message_tracking', 'ledger_schema_migrations')
