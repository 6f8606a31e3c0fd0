-- One worker at a time changes the ledger's schema; the others wait up to the timeout (seconds).
SELECT GET_LOCK(CONCAT('message_export_schema:', DATABASE()), %(timeout)s)
