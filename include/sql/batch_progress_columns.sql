-- The columns batch_progress has in the ledger's database (to add what an older ledger lacks).
SELECT COLUMN_NAME
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'batch_progress'
