-- Remove one extraction's staging table ({table}: message_tracking_staging_<job_id>).
DROP TABLE IF EXISTS {table}
