-- The ledger's schema version: one row per migration of include/sql/migrations applied to this
-- ledger (a new ledger records the migrations its baseline, schema/create_*.sql, already holds).
CREATE TABLE IF NOT EXISTS ledger_schema_migrations (
    version INT UNSIGNED NOT NULL PRIMARY KEY COMMENT 'the NNNN of include/sql/migrations/NNNN_name.sql',
    name VARCHAR(200) NOT NULL COMMENT 'the migration file name without .sql',
    applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'when ensure_schema applied it (UTC)',
    how ENUM('baseline', 'migrated') NOT NULL COMMENT 'baseline: the ledger was created with it'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
