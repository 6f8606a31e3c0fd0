-- The indexes message_tracking has in the ledger's database (to bring an older ledger's up to date).
SELECT DISTINCT INDEX_NAME
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'message_tracking'
