"""What readers get from a completed day: the asset event, a downstream DAG it triggers (the
example documented in docs/archive.md, run by the scheduler's own asset-triggered run creation), and
the day manifest, against MariaDB, the S3 server and the Elasticsearch-compatible server over the wire."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.fixtures.export_stack import BUCKET, MANIFESTS, REPO, Stack
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_LAYOUTS

CONSUMER = "load_archived_days"
ASSET = "s3://message-archive/messages"  # the archive asset: name and URI are its S3 location
MANIFEST = f"{MANIFESTS}dt=2024-10-01/manifest.jsonl.gz"


def documented_downstream_example() -> str:
    """The downstream DAG exactly as docs/archive.md documents it."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "archive.md").read_text(), flags=re.DOTALL)
    [example] = [block for block in blocks if f"def {CONSUMER}" in block]
    return example


@pytest.fixture
def consumer(stack: Stack, tmp_path: Path) -> Iterator[Any]:
    """The documented downstream DAG, parsed, written to the metadata DB and unpaused (as a user's
    dag-processor and UI toggle would)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    folder = tmp_path / "downstream_dags"
    folder.mkdir()
    (folder / f"{CONSUMER}.py").write_text(documented_downstream_example())
    bag = BundleDagBag(dag_folder=str(folder), bundle_path=folder, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == CONSUMER).values(is_paused=False))
    yield bag.dags[CONSUMER]
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == CONSUMER).values(is_paused=True))


def archive_events() -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == ASSET, AssetModel.uri == ASSET)
            .order_by(AssetEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


def queued_for(dag_id: str) -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).where(AssetDagRunQueue.target_dag_id == dag_id)) or 0


def create_asset_triggered_run(dag_id: str) -> str:
    """One pass of the scheduler's own asset-triggered DagRun creation for ``dag_id``."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    runner = SchedulerJobRunner(job=Job(), num_runs=1)
    with create_session() as session:
        model = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id))
        runner._create_dag_runs_asset_triggered(dag_models=[model], session=session)
        session.flush()
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)).one()
        return run.run_id


def run_existing(consumer: Any, run_id: str) -> tuple[str, Any]:
    """Execute an existing (scheduler-created) run's tasks in process with ``dag.test()``'s own loop."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    def existing_run(*, dag: Any, session: Any, **_: Any) -> DagRun:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id)).one()
        run.dag = dag  # the deserialized DAG dag.test() runs, as get_or_create_dagrun sets it
        run.state = DagRunState.RUNNING
        session.commit()
        return run

    with mock.patch("airflow.models.dagrun.get_or_create_dagrun", existing_run):
        run = consumer.test(logical_date=None)
    with create_session() as session:
        loaded = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == consumer.dag_id, XComModel.run_id == run_id, XComModel.task_id == "load"
            )
        )
    return str(getattr(run.state, "value", run.state)), loaded


def consumed_event_ids(run_id: str) -> list[int]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.run_id == run_id, DagRun.dag_id == CONSUMER)).one()
        return sorted(event.id for event in run.consumed_asset_events)


def test_completed_day_emits_an_event_that_triggers_the_downstream_dag(stack: Stack, consumer: Any):
    from airflow.utils.types import DagRunType

    messages, related = day_of_messages(date(2024, 10, 1), 120)
    stack.index_messages(messages, related)
    before = len(archive_events())
    assert queued_for(CONSUMER) == 0
    result = stack.run_dag(logical_date=datetime(2024, 10, 2, tzinfo=UTC))
    assert result.state == "success", result.task_states
    stack.assert_invariants(messages)  # includes: the manifest lists exactly the day's objects

    [event] = archive_events()[before:]
    assert (event.source_dag_id, event.source_task_id) == ("message_export", "finalize")
    extra = event.extra
    assert extra["dt"] == "2024-10-01" and extra["job_id"] == 1 and extra["reprocess"] is False
    assert extra["window"] == {"start": "2024-10-01T00:00:00+00:00", "end": "2024-10-02T00:00:00+00:00"}
    assert extra["counts"]["messages"] == extra["counts"]["archived"] == 120 and extra["counts"]["failed"] == 0
    assert extra["reconciliation"] == {"source_count": 120, "archived_objects": 120}
    assert extra["manifest"] == f"s3://{BUCKET}/{MANIFEST}"
    assert extra["data"] == f"s3://{BUCKET}/messages/dt=2024-10-01/"
    assert extra["counts"]["bytes"] == sum(len(stack.body(k)) for k in stack.data_object_keys())
    assert queued_for(CONSUMER) == 1

    # the scheduler turns the queued event into an asset-triggered run of the downstream DAG ...
    run_id = create_asset_triggered_run(CONSUMER)
    assert run_id.startswith(DagRunType.ASSET_TRIGGERED.value)
    assert consumed_event_ids(run_id) == [event.id]
    assert queued_for(CONSUMER) == 0
    # ... which runs and sees the day's figures from the event
    state, loaded = run_existing(consumer, run_id)
    assert state == "success"
    assert loaded == [{"dt": "2024-10-01", "archived": 120, "manifest": extra["manifest"]}]


def test_manifest_lists_every_archived_object_with_size_and_checksum(stack: Stack):
    messages, related = day_of_messages(date(2024, 10, 1), 60)
    stack.index_messages(messages, related)
    result = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"})
    assert result.state == "success", result.task_states
    head, *entries = stack.manifest("2024-10-01")
    assert head["counts"] == {
        "messages": 60,
        "archived": 60,
        "failed": 0,
        "bytes": head["counts"]["bytes"],
        "without_checksum": 0,
    }
    keys = stack.data_object_keys()
    assert {e["key"] for e in entries} == set(keys) and len(entries) == 60
    for entry in entries:
        body = stack.body(entry["key"])
        assert entry["size"] == len(body)
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
    # the ledger holds what the manifest was written from
    [(with_checksum,)] = stack.query(
        "SELECT COUNT(*) FROM message_tracking WHERE body_bytes IS NOT NULL AND LENGTH(body_sha256) = 32"
    )
    assert with_checksum == 60
    # the day's prefix still holds messages only: the manifest is outside it
    [job] = stack.jobs()
    assert job["status"] == "completed"
    [(archived_objects,)] = stack.query("SELECT archived_objects FROM job_runs")
    assert archived_objects == 60


def test_reexport_rewrites_the_same_manifest_bytes_and_emits_a_new_event(stack: Stack):
    messages, related = day_of_messages(date(2024, 10, 1), 40)
    stack.index_messages(messages, related)
    assert stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"}).state == "success"
    first = stack.body(MANIFEST)
    before = len(archive_events())
    again = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01", "reprocess": True})
    assert again.state == "success", again.task_states
    assert stack.body(MANIFEST) == first
    events = archive_events()
    assert len(events) == before + 1
    assert events[-1].extra["reprocess"] is True and events[-1].extra["dt"] == "2024-10-01"
    assert {k: v for k, v in events[-1].extra.items() if k != "reprocess"} == {
        k: v for k, v in events[-2].extra.items() if k != "reprocess"
    }
    stack.assert_invariants(messages, check_bodies=5)


def test_failed_day_writes_no_manifest_and_emits_no_event(stack: Stack):
    messages, related = day_of_messages(date(2024, 10, 1), 20)
    stack.index_messages(messages, related)
    before = len(archive_events())
    poison = "msg-20241001-000003"
    stack.services.s3_proxy.faults.add_error(403, path_pattern=rf"/{poison}\.json", methods=["PUT"])
    result = stack.run_dag(logical_date=datetime(2024, 10, 2, tzinfo=UTC))
    assert result.state == "failed" and result.states_of("finalize") == ["failed"]
    assert len(archive_events()) == before
    assert MANIFEST not in stack.object_keys()


@BOTH_LAYOUTS
def test_a_day_completed_late_is_announced_by_the_run_that_completes_it(stack: Stack, consumer: Any):
    """A day whose failed messages a later run's retry_failed archives gets its manifest and one event then,
    from that run; a run after it does not announce it again."""
    late, today = date(2024, 10, 1), date(2024, 10, 2)
    messages, related = day_of_messages(late, 30)
    stack.index_messages(messages, related)
    stack.index_messages(*day_of_messages(today, 10))
    # run 1: every PUT of the day refused; its retries are due after this run's retry budget
    stack.write_config(**{"retry.backoff_seconds": 3, "retry.time_budget_seconds": 1, "max_attempts": 5})
    stack.services.s3_proxy.faults.add_error(403, path_pattern=r"/messages/dt(=|%3D)2024-10-01/", methods=["PUT"])
    before = len(archive_events())
    first = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"})
    assert first.state == "failed" and first.states_of("finalize") == ["failed"]
    assert f"{MANIFESTS}dt=2024-10-01/manifest.jsonl.gz" not in stack.object_keys()
    assert len(archive_events()) == before
    # run 2 exports the next day; its retry_failed archives the late day's messages
    stack.services.s3_proxy.faults.clear()
    stack.write_config(**{"retry.backoff_seconds": 3, "retry.time_budget_seconds": 20, "max_attempts": 5})
    second = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-02"})
    assert second.state == "success", second.task_states
    assert [job["status"] for job in stack.jobs()] == ["completed", "completed"]
    events = archive_events()[before:]
    by_day = {event.extra["dt"]: event for event in events}
    assert sorted(by_day) == ["2024-10-01", "2024-10-02"] and len(events) == 2
    late_event = by_day["2024-10-01"].extra
    assert (by_day["2024-10-01"].source_task_id, late_event["completed_late"]) == ("announce_late_days", True)
    assert late_event["counts"]["archived"] == 30 and late_event["counts"]["failed"] == 0
    assert late_event["manifest"] == f"s3://{BUCKET}/{MANIFESTS}dt=2024-10-01/manifest.jsonl.gz"
    head, *entries = stack.manifest("2024-10-01")
    assert head["counts"]["archived"] == len(entries) == 30
    assert queued_for(CONSUMER) == 1  # queued once per asset; its run receives both days' events
    # once per completion: the next run does not announce it again
    third = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-02"})
    assert third.state == "success", third.task_states
    assert [event.extra["dt"] for event in archive_events()[before + 2 :]] == ["2024-10-02"]
    stack.assert_manifests(sample_ids=sorted(messages)[:5])


def test_ensure_schema_adds_the_checksum_columns_to_an_older_ledger(stack: Stack):
    from message_export import pipeline

    pipeline.ensure_schema()
    # a ledger from before the manifest: no body_bytes/body_sha256, with a message already archived
    stack.query("ALTER TABLE message_tracking DROP COLUMN body_bytes, DROP COLUMN body_sha256")
    stack.query(
        "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, s3_path) "
        "VALUES ('old-1', 1, 1, 'completed', '2024-09-30', 's3://message-archive/messages/dt=2024-09-30/old-1.json')"
    )
    stack.query("DROP TABLE ledger_schema_migrations")  # a ledger from before versions were recorded
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    columns = {
        name: (kind, nullable)
        for name, kind, nullable in stack.query(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'message_tracking' "
            "AND COLUMN_NAME IN ('body_bytes', 'body_sha256')"
        )
    }
    assert set(columns) == {"body_bytes", "body_sha256"}
    assert columns["body_bytes"][0].startswith("int") and columns["body_bytes"][0].endswith("unsigned")
    assert columns["body_sha256"] == ("binary(32)", "YES") and columns["body_bytes"][1] == "YES"
    assert stack.query("SELECT status, s3_path, body_bytes FROM message_tracking WHERE message_id = 'old-1'") == [
        ("completed", "s3://message-archive/messages/dt=2024-09-30/old-1.json", None)
    ]


@pytest.mark.slow
def test_a_large_days_manifest_goes_up_in_parts_and_lists_every_row(stack: Stack):
    from message_export import pipeline
    from message_export.config import load_config
    from message_export.export import ExportServices
    from message_export.model import Job
    from message_export.publish import DayFigures, publish_day
    from message_export.windows import Window

    rows = 250_000  # over two 8 MiB parts of gzip: the multipart path, pages of 10,000 ledger rows
    pipeline.ensure_schema()
    stack.query(
        "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, s3_path, body_bytes, "
        "body_sha256) SELECT CONCAT('m-', LPAD(seq, 8, '0')), 1, 1, 'completed', '2024-10-01', "
        "CONCAT('s3://message-archive/messages/dt=2024-10-01/m-', LPAD(seq, 8, '0'), '.json'), 1000 + seq % 97, "
        f"UNHEX(SHA2(seq, 256)) FROM seq_1_to_{rows}"
    )
    config = load_config()
    job = Job(1, Window.for_day(date(2024, 10, 1)), "running", True)
    published = publish_day(config, ExportServices.from_config(config), job, DayFigures(rows, rows, 0, rows, rows))
    head = stack.s3.head_object(Bucket=BUCKET, Key=MANIFEST)
    assert "-" in head["ETag"], "a manifest over one part goes up as a multipart upload"
    lines = gzip.decompress(stack.body(MANIFEST)).splitlines()
    assert len(lines) == rows + 1 and published["counts"]["archived"] == rows
    assert published["counts"]["bytes"] == sum(1000 + n % 97 for n in range(1, rows + 1))
    ids = [json.loads(line)["message_id"] for line in lines[1:]]
    assert ids == [f"m-{n:08d}" for n in range(1, rows + 1)]  # every row once, in id order, across pages
