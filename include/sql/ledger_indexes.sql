-- The indexes of the ledger's tables in its database (to bring an older ledger's up to date).
SELECT DISTINCT TABLE_NAME, INDEX_NAME
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('message_tracking', 'batch_progress')
