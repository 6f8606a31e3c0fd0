"""Each stage of the stack measured bare, at the pipeline's own settings.

- S3: concurrent PUTs of archive-sized bodies at ``s3.max_concurrency``, through the latency proxy;
- Elasticsearch: ``_mget`` of ``fetch_chunk_size`` ids; and, for reference, the whole read of a
  chunk (``_mget`` plus one ``terms`` search per related index);
- MySQL: bulk outcome updates (``record_results``' executemany INSERT ... ON DUPLICATE KEY UPDATE,
  the product's own statement) on a scratch copy of the ledger, one commit per chunk.

Every figure is "messages per second" for one worker: one PUT, one ``_mget`` entry and one
ledger row per message.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import boto3
import MySQLdb
from botocore.config import Config
from elasticsearch import Elasticsearch

from bench.measure import python_calls, rate


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def window_ids(es: Elasticsearch, index: str, timestamp_field: str, day: datetime, limit: int) -> list[str]:
    """Return up to ``limit`` ids of ``day`` (PIT + ``search_after``); untimed set-up."""
    pit = es.open_point_in_time(index=index, keep_alive="2m")["id"]
    ids: list[str] = []
    search_after = None
    query = {"range": {timestamp_field: {"gte": day.isoformat(), "lt": (day + timedelta(days=1)).isoformat()}}}
    try:
        while len(ids) < limit:
            page = es.search(
                pit={"id": pit, "keep_alive": "2m"},
                query=query,
                sort=[{timestamp_field: "asc"}, {"_shard_doc": "asc"}],
                size=min(5000, limit - len(ids)),
                source=False,
                search_after=search_after,
                track_total_hits=False,
            )
            hits = page["hits"]["hits"]
            if not hits:
                break
            ids.extend(hit["_id"] for hit in hits)
            search_after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)
    return ids


def botocore_defaults_client(s3_url: str, credentials: tuple[str, str], concurrency: int) -> Any:
    """A plain boto3 S3 client: botocore's defaults but the retry mode and a pool for ``concurrency``."""
    return boto3.client(
        "s3",
        endpoint_url=s3_url,
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        region_name="us-east-1",
        config=Config(
            retries={"mode": "standard", "max_attempts": 8},
            max_pool_connections=concurrency,
            tcp_keepalive=True,
        ),
    )


def s3_put_ceiling(
    s3_url: str,
    bucket: str,
    puts: int,
    body_bytes: int,
    concurrency: int,
    extra: dict[str, Any],
    credentials: tuple[str, str] = ("test", "test"),
    server_pid: int | None = None,
) -> dict[str, Any]:
    """PUT ``puts`` objects of ``body_bytes`` with ``concurrency`` threads sharing one client.

    Also returns this client's CPU per PUT and, given ``server_pid``, the server's.
    """
    import psutil

    client = botocore_defaults_client(s3_url, credentials, concurrency)
    body = os.urandom(body_bytes // 2).hex().encode()[:body_bytes]
    run = uuid.uuid4().hex[:8]

    def put(number: int) -> None:
        client.put_object(Bucket=bucket, Key=f"ceiling/{run}/{number:07d}.json", Body=body, **extra)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(put, range(concurrency)))  # warm the connection pool: steady state only
        server = psutil.Process(server_pid) if server_pid else None
        server_cpu = sum(server.cpu_times()[:2]) if server else 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        list(pool.map(put, range(concurrency, concurrency + puts)))
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_started
        server_cpu = sum(server.cpu_times()[:2]) - server_cpu if server else None
    return {
        "client_cpu_ms_per_put": 1000 * client_cpu / puts,
        "server_cpu_ms_per_put": None if server_cpu is None else 1000 * server_cpu / puts,
        "puts": puts,
        "body_bytes": body_bytes,
        "concurrency": concurrency,
        "seconds": seconds,
        "per_second": rate(puts, seconds),
    }


def s3_client_cpu(
    s3_url: str,
    bucket: str,
    puts: int,
    body_bytes: int,
    concurrency: int,
    extra: dict[str, Any],
    credentials: tuple[str, str] = ("test", "test"),
    rounds: int = 4,
) -> dict[str, Any]:
    """CPU per PUT of botocore's defaults next to the product's configured client, in one process.

    - ``botocore defaults``: ``put_object`` on a boto3 client with only the retry mode and the pool
      set (what the archive hook sent before it set its own checksum and User-Agent);
    - ``product``: ``MessageArchiveHook.put_objects`` as the export calls it (the archive object's
      SHA-256, which the ledger keeps, included).

    Both use ``concurrency`` threads; they alternate over ``rounds`` rounds of ``puts / rounds``
    PUTs each so that a busy machine weighs on both alike. Process CPU time, not wall time; and the
    Python function calls per PUT (100 more PUTs each, counted), which the machine's load leaves
    alone.
    """
    import psutil

    from message_export.hooks.archive import ArchiveObject, MessageArchiveHook
    from tests.support.connections import aws_connection

    conn_id = "bench_s3_client_cpu"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(aws_connection(s3_url, *credentials))
    hook = MessageArchiveHook(conn_id, max_concurrency=concurrency)
    defaults = botocore_defaults_client(s3_url, credentials, concurrency)
    body = os.urandom(body_bytes // 2).hex().encode()[:body_bytes]
    metadata = dict(extra.get("Metadata", {}))
    plain = {name: value for name, value in extra.items() if name != "Metadata"}
    run = uuid.uuid4().hex[:8]
    per_round = max(puts // rounds, concurrency)

    def keys(client: str, round_number: int) -> list[str]:
        return [f"client-cpu/{run}/{client}/{round_number}/{n:06d}.json" for n in range(per_round)]

    def with_defaults(round_keys: list[str]) -> int:
        def put(key: str) -> None:
            defaults.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata, **plain)

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(put, round_keys))
        return 0

    def with_product(round_keys: list[str]) -> int:
        results = hook.put_objects(bucket, [ArchiveObject(key, body) for key in round_keys], metadata)
        return sum(1 for result in results if not result.ok)

    clients = {"botocore defaults": with_defaults, "product": with_product}
    totals = {name: {"cpu_seconds": 0.0, "seconds": 0.0, "puts": 0, "failed": 0} for name in clients}
    for name, work in clients.items():  # warm up: clients built, connection pools full
        work(keys(name, -1)[:concurrency])
    for round_number in range(rounds):
        for name, work in clients.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            failed = work(keys(name, round_number))
            totals[name]["seconds"] += time.perf_counter() - started
            totals[name]["cpu_seconds"] += time.process_time() - cpu_started
            totals[name]["puts"] += per_round
            totals[name]["failed"] += failed
    load = psutil.getloadavg()[0]
    for name, work in clients.items():
        calls = python_calls(partial(work, keys(name, rounds)[:100]), calling_thread=False)  # the upload threads' calls
        totals[name]["python_calls_per_put"] = calls / 100
    return {
        name: {
            **figures,
            "cpu_ms_per_put": 1000 * figures["cpu_seconds"] / figures["puts"],
            "per_second": rate(figures["puts"], figures["seconds"]),
            "body_bytes": body_bytes,
            "concurrency": concurrency,
            "load_average_1m": load,
        }
        for name, figures in totals.items()
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
        batches = _chunks(ids, chunk_size)
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
                es.search(
                    index=index,
                    query={"terms": {related_id_field: batch}},
                    size=10_000,
                    track_total_hits=True,
                    sort=["_doc"],
                )
        read_seconds = time.perf_counter() - started
    finally:
        es.close()
    return {
        "mget": {
            "messages": len(ids),
            "chunk_size": chunk_size,
            "seconds": mget_seconds,
            "per_second": rate(len(ids), mget_seconds),
        },
        "chunk_read": {
            "messages": len(ids),
            "chunk_size": chunk_size,
            "related_indices": len(related),
            "seconds": read_seconds,
            "per_second": rate(len(ids), read_seconds),
        },
    }


def mysql_bulk_ceiling(mysql: dict[str, Any], rows: int, chunk_size: int) -> dict[str, Any]:
    """Record ``rows`` outcomes with the product's bulk statement on a scratch ledger database."""
    from message_export.hooks.tracking import SCHEMA_STATEMENTS
    from message_export.resources import load_sql

    scratch = f"{mysql['database']}_ceiling"
    admin = MySQLdb.connect(host=mysql["host"], port=mysql["port"], user=mysql["user"], passwd=mysql["password"])
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{scratch}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        db = MySQLdb.connect(
            host=mysql["host"],
            port=mysql["port"],
            user=mysql["user"],
            passwd=mysql["password"],
            db=scratch,
            charset="utf8mb4",
        )
        try:
            return _time_record_results(db, rows, chunk_size, load_sql, SCHEMA_STATEMENTS)
        finally:
            db.close()
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{scratch}`")
        admin.close()


def _time_record_results(db: Any, rows: int, chunk_size: int, load_sql: Any, schema: tuple[str, ...]) -> dict:
    lease = uuid.uuid4().hex
    start = datetime(2024, 10, 1)
    ids = [f"ceiling-{number:08d}".encode() for number in range(rows)]
    with db.cursor() as cursor:
        for statement in schema:
            cursor.execute(load_sql(statement))
        for chunk in _chunks(ids, 5000):
            cursor.executemany(
                load_sql("track_messages"), [(mid, 1, 1 + n % 200, start, "pending") for n, mid in enumerate(chunk)]
            )
        cursor.execute("UPDATE message_tracking SET status = 'in_progress', lease_token = %s, attempts = 1", (lease,))
    db.commit()
    record = load_sql("record_results")
    started = time.perf_counter()
    for chunk in _chunks(ids, chunk_size):
        with db.cursor() as cursor:
            cursor.executemany(
                record,
                [
                    (
                        mid,
                        1,
                        1,
                        start,
                        "completed",
                        f"s3://message-archive/messages/dt=2024-10-01/{mid.decode()}.json",
                        None,
                        lease,
                        2048,
                        hashlib.sha256(mid).digest(),
                    )
                    for mid in chunk
                ],
            )
        db.commit()
    seconds = time.perf_counter() - started
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM message_tracking WHERE status = 'completed' AND lease_token IS NULL")
        (done,) = cursor.fetchone()
    if done != rows:
        raise RuntimeError(f"mysql ceiling: {done} of {rows} rows recorded")
    return {"rows": rows, "chunk_size": chunk_size, "seconds": seconds, "per_second": rate(rows, seconds)}


def s3_candidate(
    s3_url: str,
    bucket: str,
    puts: int,
    body_bytes: int,
    concurrency: int,
    extra: dict[str, Any],
    credentials: tuple[str, str],
    server_pid: int,
) -> dict:
    """Check the calls the export makes against one S3 server, then time PUTs straight at it."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_url,
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=bucket)
    problems: list[str] = []
    try:
        keys = [f"conformance/dt=2024-10-01/m {n:02d}+=.json" for n in range(5)]
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=key.encode(), **extra)
        got = client.get_object(Bucket=bucket, Key=keys[0])
        if got["Body"].read() != keys[0].encode() or got["Metadata"] != extra.get("Metadata", {}):
            problems.append("GET returned another body or metadata")
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="conformance/dt=2024-10-01/", PaginationConfig={"PageSize": 2}
        )
        listed = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        if listed != keys:
            problems.append(f"ListObjectsV2 with continuation listed {listed[:3]}... instead of {keys[:3]}...")
    except Exception as error:  # an incorrect server is reported, not fatal
        problems.append(f"{type(error).__name__}: {str(error)[:200]}")
    result = s3_put_ceiling(s3_url, bucket, puts, body_bytes, concurrency, extra, credentials, server_pid)
    return {**result, "correct": not problems, "problems": problems}
