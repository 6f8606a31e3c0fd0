"""One hook per external system: Elasticsearch or OpenSearch (search), MySQL (tracking), S3 (archive)."""
