-- Ledgers created before retention existed: when retention removed a day's message rows (same
-- definition as in schema/create_job_runs.sql). A trailing nullable column is added instantly.
ALTER TABLE job_runs
    ADD COLUMN ledger_purged_at DATETIME(6) NULL COMMENT 'when retention removed the day''s message_tracking rows';
