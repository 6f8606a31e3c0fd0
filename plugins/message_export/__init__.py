"""message_export: archive Elasticsearch messages to S3 with a MySQL ledger."""
