-- Ledgers created before late days were announced: when a completed day's manifest was written and
-- its asset event handed to Airflow (same definition as in schema/create_job_runs.sql). The days an
-- older ledger already holds as completed were announced by their own finalize, or never will be: they
-- are marked, so upgrading does not announce the history again. A trailing nullable column is added
-- instantly; the UPDATE touches job_runs only (one row per day).
ALTER TABLE job_runs
    ADD COLUMN completion_announced_at DATETIME(6) NULL COMMENT 'when the completed day''s manifest and asset event were published';
UPDATE job_runs SET completion_announced_at = updated_at WHERE status = 'completed' AND completion_announced_at IS NULL;
