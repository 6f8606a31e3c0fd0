"""The export dashboard: a page inside the Airflow UI that reads the ledger through the tracking hook."""
