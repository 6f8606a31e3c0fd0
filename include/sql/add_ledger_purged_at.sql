-- Ledgers created before retention existed: add the purge mark (same definition as in
-- create_job_runs.sql). Run by ensure_schema only when it is missing; a trailing nullable column
-- is added instantly (MySQL 8.0.12+, MariaDB 10.3+).
ALTER TABLE job_runs
    ADD COLUMN ledger_purged_at DATETIME(6) NULL COMMENT 'when retention removed the day''s message_tracking rows'
