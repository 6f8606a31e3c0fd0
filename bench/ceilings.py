"""Each stage of the stack measured bare, at the pipeline's own settings.

- S3: archive-sized PUTs through the product's client at ``s3.max_concurrency``, through the
  latency proxy;
- Elasticsearch: ``_mget`` of ``fetch_chunk_size`` ids; and, for reference, the whole read of a
  chunk (``_mget`` plus one ``terms`` search per related index);
- MySQL: outcomes recorded through the product's hook (``record_results``, one commit per chunk) on
  a scratch ledger.

Every figure is "messages per second" for one worker: one PUT, one ``_mget`` entry and one
ledger row per message.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from elasticsearch import Elasticsearch

from bench.extraction import pit_pages
from bench.measure import python_calls, rate
from bench.services import connection_to, create_database, sql


def measure_ceilings(s3: dict[str, Any], es: dict[str, Any], mysql: dict[str, Any]) -> dict[str, Any]:
    """Every stage's ceiling, one after the other (keyword arguments of each measurement)."""
    return {
        "s3": s3_put_ceiling(**s3),
        **es_read_ceilings(**{**es, "day": datetime.fromisoformat(es["day"])}),
        "mysql": mysql_bulk_ceiling(**mysql),
    }


def window_ids(es: Elasticsearch, index: str, timestamp_field: str, day: datetime, limit: int) -> list[str]:
    """Return up to ``limit`` ids of ``day``; untimed set-up."""
    ids: list[str] = []
    for hits in pit_pages(es, index, timestamp_field, day, page_size=5000):
        ids.extend(hit["_id"] for hit in hits)
        if len(ids) >= limit:
            break
    return ids[:limit]


def s3_put_ceiling(
    s3_url: str,
    bucket: str,
    puts: int,
    body_bytes: int,
    concurrency: int,
    credentials: tuple[str, str] = ("test", "test"),
) -> dict[str, Any]:
    """PUT ``puts`` objects of ``body_bytes`` through the product's own client
    (``MessageArchiveHook.put_objects`` as the export calls it, the SHA-256 included), ``concurrency``
    in flight; with its CPU per PUT and, for 100 more PUTs, its Python function calls per PUT (the
    figure a busy machine leaves alone).
    """
    import psutil

    from devstack.connections import aws_connection
    from message_export.hooks.archive import ArchiveObject, MessageArchiveHook

    conn_id = "bench_s3_ceiling"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(aws_connection(s3_url, *credentials))
    hook = MessageArchiveHook(conn_id, max_concurrency=concurrency)
    body = os.urandom(body_bytes // 2).hex().encode()[:body_bytes]
    metadata = {"job-id": "1", "batch": "0", "dag-run-id": "bench", "exported-at": "2024-10-02T00:00:00+00:00"}
    run = uuid.uuid4().hex[:8]

    def put(count: int, label: str) -> int:
        objects = [ArchiveObject(f"ceiling/{run}/{label}/{n:07d}.json", body) for n in range(count)]
        return sum(1 for result in hook.put_objects(bucket, objects, metadata) if not result.ok)

    put(concurrency, "warm-up")  # client built, connection pool full: steady state only
    started, cpu_started = time.perf_counter(), time.process_time()
    failed = put(puts, "timed")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    calls = python_calls(partial(put, 100, "counted"), calling_thread=False)  # the upload threads' calls
    if failed:
        raise RuntimeError(f"S3 ceiling: {failed} of {puts} PUTs failed")
    return {
        "puts": puts,
        "body_bytes": body_bytes,
        "concurrency": concurrency,
        "seconds": seconds,
        "per_second": rate(puts, seconds),
        "cpu_ms_per_put": 1000 * cpu / puts,
        "python_calls_per_put": calls / 100,
        "load_average_1m": psutil.getloadavg()[0],
    }


def es_read_ceilings(
    es_url: str,
    message_index: str,
    related: dict[str, str],
    related_id_field: str,
    timestamp_field: str,
    day: datetime,
    chunk_size: int,
    chunks: int,
) -> dict[str, Any]:
    """Time ``_mget`` of ``chunks`` chunks of ids, then the full read (``_mget`` + related searches)."""
    es = Elasticsearch(es_url, request_timeout=120)
    try:
        ids = window_ids(es, message_index, timestamp_field, day, chunk_size * chunks)
        batches = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]
        es.mget(index=message_index, ids=batches[0][:10])  # open the connection

        started = time.perf_counter()
        for batch in batches:
            docs = es.mget(index=message_index, ids=batch)["docs"]
            assert all(doc.get("found") for doc in docs), "mget ceiling: documents missing"
        mget_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for batch in batches:
            es.mget(index=message_index, ids=batch)
            for index in related.values():
                query = {"terms": {related_id_field: batch}}
                es.search(index=index, query=query, size=10_000, track_total_hits=True, sort=["_doc"])
        read_seconds = time.perf_counter() - started
    finally:
        es.close()
    common = {"messages": len(ids), "chunk_size": chunk_size}
    return {
        "mget": {**common, "seconds": mget_seconds, "per_second": rate(len(ids), mget_seconds)},
        "chunk_read": {
            **common,
            "related_indices": len(related),
            "seconds": read_seconds,
            "per_second": rate(len(ids), read_seconds),
        },
    }


def mysql_bulk_ceiling(mysql: dict[str, Any], rows: int, chunk_size: int) -> dict[str, Any]:
    """Record ``rows`` outcomes through the product's hook (``record_results``, one call and commit
    per chunk of ``chunk_size``) on a scratch ledger database."""
    from bench.ledger_size import stage_job
    from message_export.config import load_config
    from message_export.ledger import MessageTrackingHook
    from message_export.model import MessageOutcome

    config = load_config()
    scratch = {**mysql, "database": f"{mysql['database']}_ceiling"}
    create_database(mysql, scratch["database"])
    try:
        with connection_to(scratch, "bench_ceiling"):
            tracking = MessageTrackingHook(mysql_conn_id="bench_ceiling")
            try:
                tracking.ensure_schema()
                lease = uuid.uuid4().hex
                ids = [f"ceiling-{number:08d}" for number in range(rows)]
                job_id, batch_ids = stage_job(tracking, datetime(2024, 10, 1, tzinfo=UTC), ids, rows)
                claimed = tracking.claim_batch(batch_ids[0], lease, config.lease_seconds, config.max_attempts)
                uri = "s3://message-archive/messages/dt=2024-10-01/"
                outcomes = [MessageOutcome.archived(m, f"{uri}{m.message_id}.json") for m in claimed]
                started = time.perf_counter()
                for chunk in range(0, len(outcomes), chunk_size):
                    tracking.record_results(lease, outcomes[chunk : chunk + chunk_size])
                seconds = time.perf_counter() - started
                done = tracking.job_counts(job_id).get("completed", 0)
            finally:
                tracking.close()
    finally:
        sql(mysql, f"DROP DATABASE IF EXISTS `{scratch['database']}`")
    if done != rows:
        raise RuntimeError(f"mysql ceiling: {done} of {rows} outcomes recorded")
    return {"rows": rows, "chunk_size": chunk_size, "seconds": seconds, "per_second": rate(rows, seconds)}
