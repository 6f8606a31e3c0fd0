"""The integration-test stack: service handles, seeding, running the DAG and checking invariants."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import MySQLdb
import yaml
from botocore.credentials import Credentials
from elasticsearch import Elasticsearch
from elasticsearch import helpers as es_helpers
from opensearchpy import OpenSearch, RequestsAWSV4SignerAuth, RequestsHttpConnection
from opensearchpy import helpers as os_helpers

from tests.support.connections import elasticsearch_connection

if TYPE_CHECKING:
    from tests.support.es_server import EsCompatServer
    from tests.support.s3_proxy import S3FaultProxy
    from tests.support.s3_server import MotoS3Server

REPO = Path(__file__).resolve().parents[2]
BUCKET = "message-archive"
PREFIX = "messages"
RELATED = {"history": "message_history", "status": "message_status", "audit": "message_audit"}
INDICES = ("messages", *RELATED.values())
MANIFESTS = f"{PREFIX}/_manifests/"

ENGINES = ("elasticsearch", "opensearch")
SIGV4_REGION = "us-east-1"


def search_client(engine: str, url: str) -> Any:
    """The official client of ``engine`` for seeding and reading back (SigV4-signed for OpenSearch,
    with the test credentials the server knows)."""
    if engine == "opensearch":
        host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
        return OpenSearch(
            hosts=[{"host": host, "port": int(port)}],
            http_auth=RequestsAWSV4SignerAuth(Credentials("test", "test"), SIGV4_REGION, "es"),
            connection_class=RequestsHttpConnection,
            timeout=60,
        )
    return Elasticsearch(url, request_timeout=60)


def search_connection(engine: str, url: str) -> dict[str, Any]:
    """The Airflow connection (``AIRFLOW_CONN_*`` JSON) the pipeline uses for ``engine``'s server."""
    port = int(url.rsplit(":", 1)[1])
    if engine == "opensearch":
        return {
            "conn_type": "opensearch",
            "host": "127.0.0.1",
            "port": port,
            "extra": {"auth": "sigv4", "region_name": SIGV4_REGION, "service": "es"},
        }
    return elasticsearch_connection(url)


@dataclass(frozen=True)
class StackServices:
    mysql: dict[str, Any]
    es: EsCompatServer
    moto: MotoS3Server
    s3_proxy: S3FaultProxy


@dataclass
class RunResult:
    state: str
    task_states: dict[str, list[str]] = field(default_factory=dict)

    def states_of(self, task_id: str) -> list[str]:
        return self.task_states.get(task_id, [])


def export_dag() -> Any:
    """A freshly parsed DAG for every run: ``dag.test()`` runs tasks in this process, and resolving a
    run's conf writes the values into the DAG's own ``Param`` objects, so a parsed DAG reused across
    runs would carry one run's params into the next (a worker parses the file per task)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["message_export"]


class Stack:
    """One test's view of the services, with a clean slate."""

    def __init__(self, services: StackServices, tmp_path: Path, engine: str = "elasticsearch") -> None:
        self.services = services
        self.tmp_path = tmp_path
        self.engine = engine
        self.es = search_client(engine, services.es.url)
        self._helpers: Any = os_helpers if engine == "opensearch" else es_helpers
        self.s3 = boto3.client(
            "s3",
            endpoint_url=services.moto.url,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        self._db = MySQLdb.connect(
            host=services.mysql["host"],
            port=services.mysql["port"],
            user=services.mysql["user"],
            passwd=services.mysql["password"],
            db=services.mysql["database"],
            charset="utf8mb4",
            autocommit=True,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def reset(self) -> None:
        with self._db.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS message_tracking, batch_progress, job_runs")
        self.services.es.reset()
        self.services.s3_proxy.faults.clear()
        self.services.moto.reset()
        self.s3.create_bucket(Bucket=BUCKET)
        self.create_indices()

    def close(self) -> None:
        self.services.es.faults.clear()
        self.services.s3_proxy.faults.clear()
        self._db.close()
        self.es.close()

    def write_config(self, **overrides: Any) -> Path:
        config: dict[str, Any] = {
            "start_date": "2024-10-01",
            "connections": {"elasticsearch": "elasticsearch_default", "mysql": "mysql_default", "aws": "aws_default"},
            "elasticsearch": {
                "engine": self.engine,
                "message_index": "messages",
                "timestamp_field": "timestamp",
                "related_id_field": "message_id",
                "related": dict(RELATED),
                "page_size": 1000,
                "max_retries": 3,
                # the load limits are on in every integration and reliability test, high enough not to slow them
                "max_requests_per_second": 200,
                "max_concurrent_requests": 4,
            },
            "s3": {"bucket": BUCKET, "prefix": PREFIX},
            "batch_size": 50,
            "max_batches": 20,
            "max_attempts": 3,
            "fetch_chunk_size": 200,
            "lease_seconds": 60,
            "retry": {"backoff_seconds": 0.2, "max_backoff_seconds": 1, "time_budget_seconds": 20},
            # every run ends with a purge: days exported by a test are younger than this, so it
            # removes nothing the test checks, but its statements run beside everything else
            "retention": {"keep_days": 1, "chunk_rows": 500, "time_budget_seconds": 30},
        }
        for key, value in overrides.items():
            target = config
            *parents, leaf = key.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = value
        path = self.tmp_path / "message_export.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- seeding ------------------------------------------------------------------------------

    def create_indices(self) -> None:
        for index in INDICES:
            properties: dict[str, Any] = {"timestamp": {"type": "date"}}
            if index != "messages":
                properties["message_id"] = {"type": "keyword"}
            self.es.indices.create(index=index, body={"mappings": {"properties": properties}})

    def index_messages(
        self, messages: Mapping[str, Mapping[str, Any]], related: Iterable[tuple[str, str, dict]] = ()
    ) -> None:
        """Index ``id -> source`` messages and ``(index, doc_id, source)`` related documents, then refresh."""
        actions = [{"_index": "messages", "_id": mid, "_source": dict(src)} for mid, src in messages.items()]
        actions += [{"_index": index, "_id": doc_id, "_source": src} for index, doc_id, src in related]
        self._helpers.bulk(self.es, actions, chunk_size=2000, refresh=True)

    # -- running ------------------------------------------------------------------------------

    def run_dag(self, *, logical_date: Any = "now", conf: dict | None = None) -> RunResult:
        """Run the real DAG with ``dag.test()`` (a manual run; scheduled runs, backfills and retries under a
        real scheduler are in ``tests/airflow``)."""
        dag = export_dag()
        kwargs: dict[str, Any] = {"run_conf": conf or {}}
        if logical_date != "now":
            kwargs["logical_date"] = logical_date
        run = dag.test(**kwargs)
        return RunResult(state=str(getattr(run.state, "value", run.state)), task_states=self._task_states(run.run_id))

    def run_dag_in_subprocess(
        self, *, logical_date: datetime | None, conf: dict | None = None, env: Mapping[str, str] = ()
    ) -> RunResult:
        """Run the real DAG with ``dag.test()`` in a fresh Python process whose environment adds ``env``
        (e.g. ``AIRFLOW__METRICS__*``, which Airflow reads once per process)."""
        command = [sys.executable, "-m", "tests.harness.run_dag", "--conf", json.dumps(conf or {})]
        if logical_date is not None:
            command += ["--logical-date", logical_date.isoformat()]
        paths = [str(REPO), str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")]
        process_env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **dict(env)}
        done = subprocess.run(command, cwd=REPO, env=process_env, capture_output=True, text=True, timeout=300)
        reported = [line for line in done.stdout.splitlines() if line.startswith('{"run_id"')]
        if done.returncode or not reported:
            raise AssertionError(
                f"DAG run process failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        run = json.loads(reported[-1])
        return RunResult(state=run["state"], task_states=self._task_states(run["run_id"]))

    @staticmethod
    def _task_states(run_id: str) -> dict[str, list[str]]:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        states: dict[str, list[str]] = {}
        with create_session() as session:
            rows = session.execute(
                select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
                .where(TaskInstance.dag_id == "message_export", TaskInstance.run_id == run_id)
                .order_by(TaskInstance.task_id, TaskInstance.map_index)
            ).all()
        for task_id, _map_index, state in rows:
            states.setdefault(task_id, []).append(str(getattr(state, "value", state)))
        return states

    # -- reading state ------------------------------------------------------------------------

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        with self._db.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def tracking(self) -> dict[str, dict[str, Any]]:
        rows = self.query(
            "SELECT message_id, job_id, batch_id, status, s3_path, attempts, last_error, lease_token "
            "FROM message_tracking"
        )
        return {
            mid.decode("utf-8", "surrogatepass"): {
                "job_id": job_id,
                "batch_id": batch_id,
                "status": status,
                "s3_path": s3_path,
                "attempts": attempts,
                "last_error": last_error,
                "lease_token": lease,
            }
            for mid, job_id, batch_id, status, s3_path, attempts, last_error, lease in rows
        }

    def jobs(self) -> list[dict[str, Any]]:
        cols = [
            "job_id",
            "start_date",
            "end_date",
            "status",
            "next_run_date",
            "total_messages",
            "completed_messages",
            "failed_messages",
            "extraction_completed_at",
            "last_error",
        ]
        rows = self.query(f"SELECT {', '.join(cols)} FROM job_runs ORDER BY start_date")
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def object_keys(self) -> dict[str, str]:
        """Every object in the bucket: key -> ETag."""
        keys: dict[str, str] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                keys[obj["Key"]] = obj["ETag"]
        return keys

    def data_object_keys(self) -> dict[str, str]:
        """The archived messages in the bucket (day manifests left out): key -> ETag."""
        return {key: etag for key, etag in self.object_keys().items() if not key.startswith(MANIFESTS)}

    def manifest(self, day: str) -> list[dict[str, Any]]:
        """The lines of the manifest of ``day`` (YYYY-MM-DD), read back from the S3 server."""
        raw = self.body(f"{MANIFESTS}dt={day}/manifest.jsonl.gz")
        return [json.loads(line) for line in gzip.decompress(raw).splitlines()]

    def body(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def expected_document(self, message_id: str) -> dict[str, Any]:
        """The archive document for ``message_id`` read back independently: get + search per index."""
        # _mget carries the id in the body: ids such as "." or ".." cannot travel in a URL path through
        # every client (requests, under opensearch-py, normalises dot segments away)
        [doc] = self.es.mget(index="messages", body={"ids": [message_id]})["docs"]
        source = doc["_source"]
        expected: dict[str, Any] = {"message_id": message_id, "message": source}
        for section, index in RELATED.items():
            hits = self._helpers.scan(self.es, index=index, query={"query": {"term": {"message_id": message_id}}})
            ordered = sorted(
                hits, key=lambda h: (datetime.fromisoformat(h["_source"]["timestamp"].replace("Z", "+00:00")), h["_id"])
            )
            expected[section] = [h["_source"] for h in ordered]
        return expected

    def archive_figures(self, expected_ids: Iterable[str]) -> dict[str, int]:
        """Counts for a reliability report: lost/duplicated are measured, not assumed."""
        from message_export.keys import parse_archive_key

        expected = set(expected_ids)
        seen: dict[str, int] = {}
        unexpected = 0
        for key in self.data_object_keys():
            try:
                _prefix, _day, mid = parse_archive_key(key)
            except ValueError:
                unexpected += 1
                continue
            seen[mid] = seen.get(mid, 0) + 1
            if mid not in expected:
                unexpected += 1
        rows = {mid: row for mid, row in self.tracking().items() if mid in expected}
        return {
            "messages": len(expected),
            "completed": sum(1 for r in rows.values() if r["status"] == "completed"),
            "failed": sum(1 for r in rows.values() if r["status"] == "failed"),
            "lost": len(expected - set(seen)),
            "duplicated": sum(n - 1 for n in seen.values()) + unexpected,
            "extra_attempts": sum(r["attempts"] for r in rows.values()) - len(rows),
            "max_attempts_seen": max((r["attempts"] for r in rows.values()), default=0),
        }

    def assert_invariants(self, expected_ids: Iterable[str], *, check_bodies: bool | int = True) -> None:
        """Every expected message completed exactly once at its key, nothing else in the bucket,
        bodies equal to the independently read documents, no message left in limbo."""
        from message_export.keys import parse_archive_key

        expected = set(expected_ids)
        tracking = self.tracking()
        assert set(tracking) == expected, f"tracked {len(tracking)} vs expected {len(expected)}"
        statuses = {row["status"] for row in tracking.values()}
        assert statuses == {"completed"}, f"statuses {statuses}"
        assert all(row["lease_token"] is None for row in tracking.values())
        keys = self.data_object_keys()
        by_id = {}
        for key in keys:
            prefix, _day, mid = parse_archive_key(key)
            assert prefix == PREFIX
            assert mid not in by_id, f"two objects for {mid!r}"
            by_id[mid] = key
        assert set(by_id) == expected, "objects in S3 do not match the tracked messages"
        for mid, row in tracking.items():
            assert row["s3_path"] == f"s3://{BUCKET}/{by_id[mid]}"
        sample = sorted(expected) if check_bodies is True else sorted(expected)[: int(check_bodies)]
        for mid in sample:
            body = self.body(by_id[mid])
            assert json.loads(body) == self.expected_document(mid), mid
        self.assert_manifests(sample_ids=sample)

    def assert_stored_checksums(self, day: str) -> int:
        """Every object the manifest of ``day`` lists is kept by S3 with the SHA-256 its PUT carried
        (``HEAD`` with ``ChecksumMode=ENABLED``), equal to the ledger's (the manifest's) and to its
        body's. Returns how many objects were checked."""
        _head, *entries = self.manifest(day)
        for entry in entries:
            head = self.s3.head_object(Bucket=BUCKET, Key=entry["key"], ChecksumMode="ENABLED")
            ledger = base64.b64encode(bytes.fromhex(entry["sha256"])).decode()
            assert head.get("ChecksumSHA256") == ledger, (entry["key"], head.get("ChecksumSHA256"), ledger)
            assert hashlib.sha256(self.body(entry["key"])).hexdigest() == entry["sha256"], entry["key"]
        return len(entries)

    def assert_manifests(self, sample_ids: Iterable[str] = ()) -> int:
        """Every day manifest in the bucket lists exactly the objects under its day's prefix, with
        their listed sizes, its ids decoding from its keys, its figures agreeing with its lines; the
        SHA-256 of the sampled messages' bodies matches. Returns how many manifests were checked."""
        from message_export.keys import parse_archive_key

        sizes: dict[str, int] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/"):
            for obj in page.get("Contents", []):
                sizes[obj["Key"]] = obj["Size"]
        manifests = sorted(key for key in sizes if key.startswith(MANIFESTS))
        sampled = set(sample_ids)
        for manifest_key in manifests:
            day = manifest_key[len(MANIFESTS) :].split("/")[0].removeprefix("dt=")
            head, *entries = self.manifest(day)
            assert head["type"] == "day" and head["dt"] == day and head["manifest_version"] == 1, head
            assert all(e["type"] == "object" for e in entries)
            listed = {e["key"]: e for e in entries}
            assert len(listed) == len(entries), f"{manifest_key}: a key listed twice"
            in_bucket = {k: size for k, size in sizes.items() if k.startswith(f"{PREFIX}/dt={day}/")}
            assert set(listed) == set(in_bucket), f"{manifest_key} does not list exactly the day's objects"
            assert [e["message_id"] for e in entries] == sorted(
                (e["message_id"] for e in entries), key=lambda mid: mid.encode("utf-8", "surrogatepass")
            ), f"{manifest_key}: not in message id order"
            for key, entry in listed.items():
                assert parse_archive_key(key)[2] == entry["message_id"], key
                assert entry["size"] == in_bucket[key], key
                if entry["message_id"] in sampled:
                    assert entry["sha256"] == hashlib.sha256(self.body(key)).hexdigest(), key
            counts = head["counts"]
            assert counts["archived"] == len(entries) and counts["failed"] == 0, head
            assert counts["bytes"] == sum(e["size"] for e in entries), head
            assert head["reconciliation"]["archived_objects"] == len(entries), head
        return len(manifests)


def prepare_window(day: str) -> tuple[dict[str, Any], list[int]]:
    """Run the DAG's first steps in-process for ``day``: schema, job row, extraction."""
    from message_export import pipeline

    pipeline.ensure_schema()
    window = pipeline.resolve_window(
        pipeline.RunFacts(
            run_id=f"prepare-{day}",
            run_type="manual",
            logical_date=None,
            data_interval_start=None,
            data_interval_end=None,
            params={"start_date": day},
        )
    )
    assert window is not None
    return window, pipeline.extract(window)
