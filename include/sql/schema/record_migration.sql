-- Record one applied migration (a second worker recording it is a no-op).
INSERT IGNORE INTO ledger_schema_migrations (version, name, how) VALUES (%(version)s, %(name)s, %(how)s)
