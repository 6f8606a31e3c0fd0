SELECT RELEASE_LOCK(CONCAT('message_export_schema:', DATABASE()))
