"""The local stack shared by the tests, scripts/ and bench/: search and S3 servers, Airflow, connections, data."""
