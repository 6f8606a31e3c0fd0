-- The columns job_runs has in the ledger's database (to add what an older ledger lacks).
SELECT COLUMN_NAME
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'job_runs'
