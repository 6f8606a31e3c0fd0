"""The three Airflow connections the export uses, as ``AIRFLOW_CONN_*`` JSON, pointed at local servers.

One place for the demo, ``make airflow``, the benchmark and the test fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def mysql_connection(server: Mapping[str, Any], database: str) -> dict[str, Any]:
    """The ledger connection for ``database`` on ``server`` (``host``, ``port``, ``user``, ``password``)."""
    return {
        "conn_type": "mysql",
        "host": server["host"],
        "port": int(server["port"]),
        "login": server["user"],
        "password": server["password"],
        "schema": database,
        "extra": {"charset": "utf8mb4"},
    }


def elasticsearch_connection(url: str) -> dict[str, Any]:
    """The search connection for an Elasticsearch-compatible server at ``http://127.0.0.1:PORT``."""
    return {"conn_type": "elasticsearch", "host": "127.0.0.1", "port": int(url.rsplit(":", 1)[1]), "schema": "http"}


def aws_connection(endpoint_url: str, login: str, password: str) -> dict[str, Any]:
    """The AWS connection for an S3-compatible server at ``endpoint_url``."""
    return {
        "conn_type": "aws",
        "login": login,
        "password": password,
        "extra": {"region_name": "us-east-1", "endpoint_url": endpoint_url},
    }


def connection_environment(
    *, es_url: str, s3_url: str, mysql: Mapping[str, Any], database: str, s3_credentials: tuple[str, str]
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the default connection ids of the config."""
    return {
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(elasticsearch_connection(es_url)),
        "AIRFLOW_CONN_MYSQL_DEFAULT": json.dumps(mysql_connection(mysql, database)),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_connection(s3_url, *s3_credentials)),
    }
