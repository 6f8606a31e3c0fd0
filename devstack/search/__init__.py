"""An Elasticsearch/OpenSearch-compatible HTTP server in pure Python (see docs/es_server.md)."""
