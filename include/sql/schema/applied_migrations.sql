-- The versions already applied to this ledger.
SELECT version FROM ledger_schema_migrations ORDER BY version
