"""The baseline: the reference designs' algorithm, implemented faithfully, one message at a time.

Extraction is one ``search(size=10000)`` of the window (so a window with more messages loses the
rest) and one INSERT + commit per id. Each message then costs an ``es.get``, one search per
related index, a JSON temp file, a boto3 ``upload_file`` and an UPDATE + commit of its row.
It writes under its own S3 prefix and its own table, so it never touches the pipeline's ledger.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from elasticsearch import Elasticsearch

from bench.services import connect

TABLE = "reference_message_tracking"
PREFIX = "reference"
SEARCH_LIMIT = 10_000
RELATED_PER_MESSAGE = 100

CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    message_id VARCHAR(512) NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending',
    s3_path VARCHAR(1100) NULL,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (message_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin
"""
INSERT_PENDING = f"INSERT IGNORE INTO {TABLE} (message_id, status) VALUES (%s, 'pending')"
MARK_COMPLETED = f"UPDATE {TABLE} SET status = 'completed', s3_path = %s WHERE message_id = %s"


@dataclass(frozen=True)
class ReferenceSetup:
    es_url: str
    s3_url: str
    bucket: str
    mysql: dict[str, Any]
    message_index: str
    related: dict[str, str]
    timestamp_field: str
    related_id_field: str


def _window_query(timestamp_field: str, day: datetime) -> dict[str, Any]:
    return {"range": {timestamp_field: {"gte": day.isoformat(), "lt": (day + timedelta(days=1)).isoformat()}}}


def run_reference(setup: dict[str, Any], day: datetime, messages: int) -> dict[str, Any]:
    """Extract ``day`` the reference way, then export its first ``messages`` one at a time.

    :param setup: the fields of :class:`ReferenceSetup`.
    """
    setup = ReferenceSetup(**setup)
    es = Elasticsearch(setup.es_url, request_timeout=60)
    s3 = boto3.client(
        "s3",
        endpoint_url=setup.s3_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    db = connect(setup.mysql)
    try:
        with db.cursor() as cursor:
            cursor.execute(CREATE_TABLE)
        db.commit()

        started = time.perf_counter()
        response = es.search(
            index=setup.message_index,
            query=_window_query(setup.timestamp_field, day),
            size=SEARCH_LIMIT,
            sort=[{setup.timestamp_field: "asc"}],
        )
        ids = [hit["_id"] for hit in response["hits"]["hits"]]
        for message_id in ids:
            with db.cursor() as cursor:
                cursor.execute(INSERT_PENDING, (message_id,))
            db.commit()
        extract_seconds = time.perf_counter() - started

        chosen = ids[:messages]
        started = time.perf_counter()
        written = 0
        for message_id in chosen:
            written += _export_one(setup, es, s3, db, message_id)
        process_seconds = time.perf_counter() - started
    finally:
        db.close()
        es.close()
    return {
        "extracted_ids": len(ids),
        "extract_seconds": extract_seconds,
        "messages": len(chosen),
        "process_seconds": process_seconds,
        "bytes_written": written,
    }


def _export_one(setup: ReferenceSetup, es: Elasticsearch, s3: Any, db: Any, message_id: str) -> int:
    message = es.get(index=setup.message_index, id=message_id)["_source"]
    document: dict[str, Any] = {"message_id": message_id, "message": message}
    for section, index in setup.related.items():
        # No server-side sort: the test server sorts a whole index per request, real Elasticsearch
        # does not, and the baseline should not pay for the test server's shortcut.
        hits = es.search(index=index, query={"term": {setup.related_id_field: message_id}}, size=RELATED_PER_MESSAGE)[
            "hits"
        ]["hits"]
        document[section] = [hit["_source"] for hit in hits]
    day = message.get(setup.timestamp_field, "unknown")[:10]
    key = f"{PREFIX}/dt={day}/{message_id}.json"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump(document, handle)
        path = handle.name
    try:
        size = os.path.getsize(path)
        s3.upload_file(path, setup.bucket, key)
    finally:
        os.unlink(path)
    with db.cursor() as cursor:
        cursor.execute(MARK_COMPLETED, (f"s3://{setup.bucket}/{key}", message_id))
    db.commit()
    return size
