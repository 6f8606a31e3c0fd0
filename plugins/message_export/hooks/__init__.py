"""One hook per external system: Elasticsearch (search), MySQL (tracking), S3 (archive)."""
