"""The bundle under the CeleryExecutor, as MWAA runs it: a broker (a private Redis), the PostgreSQL metadata
database as result backend, and two Celery workers with distinct hostnames, two task slots each. One Airflow
for the module, driven through the REST API; workers are stopped with the signals a replaced or scaled-in
container gets. The scheduler's task heartbeat timeout is short here (MWAA keeps Airflow's 300 s), so a dead
worker's tasks are noticed within the test's time."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from devstack.local_airflow import CeleryWorkers
from devstack.redis_server import RedisServer
from tests.airflow.deployment import Deployment, deploy, start_airflow, today
from tests.fixtures.export_stack import Stack, StackServices

PER_DAY = 300
BATCH_SIZE = 40  # 300 messages -> 8 batches: 7 of 40 and one of 20
BATCHES = 8
WORKERS = CeleryWorkers(broker_url="", workers=2, concurrency=2).names()
HEARTBEAT_TIMEOUT = 20
T = today()
DAILY_DAY = T - timedelta(days=1)  # the scheduled run's day once the DAG is unpaused
KILLED_DAY = T - timedelta(days=2)
TERMINATED_DAY = T - timedelta(days=3)


@pytest.fixture(scope="module")
def redis(module_tmp: Path) -> Iterator[RedisServer]:
    with RedisServer(module_tmp / "redis.log") as server:
        yield server


@pytest.fixture(scope="module")
def deployment(services: StackServices, bundle, module_tmp: Path, redis: RedisServer) -> Iterator[Deployment]:
    root = module_tmp / "usr" / "local" / "airflow"
    deploy(bundle, root / "dags", root / "plugins")
    ledger = Stack(services, module_tmp)
    ledger.reset()
    config = ledger.write_config(start_date=DAILY_DAY.isoformat(), batch_size=BATCH_SIZE, lease_seconds=20)
    airflow = start_airflow(
        root,
        root / "dags",
        root / "plugins",
        config,
        celery=CeleryWorkers(broker_url=redis.url, workers=len(WORKERS), concurrency=2),
        settings={
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        },
    )
    try:
        yield Deployment(airflow, ledger)
    finally:
        airflow.stop()
        ledger.close()


@pytest.fixture(scope="module")
def seeded(deployment: Deployment) -> dict[date, set[str]]:
    return {day: deployment.seed(day, PER_DAY) for day in (DAILY_DAY, KILLED_DAY, TERMINATED_DAY)}


@pytest.fixture(scope="module")
def daily_run(deployment: Deployment, seeded) -> dict[str, Any]:
    """Unpause the DAG: the scheduler's run exports yesterday, its tasks on the Celery workers."""
    deployment.unpause()
    [run] = deployment.wait_until_quiet(at_least=1)
    return run


def test_a_day_s_batches_run_on_both_workers_and_archive_every_message_once(deployment: Deployment, seeded, daily_run):
    run_id = daily_run["dag_run_id"]
    assert daily_run["state"] == "success", deployment.task_states(run_id)
    mapped = deployment.mapped(run_id)
    assert len(mapped) == BATCHES
    assert {(ti["state"], ti["try_number"]) for ti in mapped} == {("success", 1)}, mapped
    assert {ti["hostname"] for ti in mapped} == set(WORKERS), [(ti["map_index"], ti["hostname"]) for ti in mapped]
    # nothing ran in the scheduler: every task instance of the run was executed by a Celery worker
    every = [ti for tis in deployment.task_instances(run_id).values() for ti in tis if ti["state"] == "success"]
    assert {ti["hostname"] for ti in every} <= set(WORKERS), every
    deployment.assert_day_archived(DAILY_DAY, seeded[DAILY_DAY], bodies=20)
    attempts = {row["attempts"] for row in _rows_of(deployment, DAILY_DAY).values()}
    assert attempts == {1}, "a message was claimed twice although no worker failed"
    _assert_reconciled(deployment, DAILY_DAY)


def test_a_mapped_task_s_log_from_a_worker_reads_through_the_rest_api(deployment: Deployment, daily_run):
    run_id = daily_run["dag_run_id"]
    for ti in deployment.mapped(run_id)[:2]:
        size = 20 if ti["map_index"] == BATCHES - 1 else BATCH_SIZE
        assert ti["rendered_map_index"] == f"batch {ti['map_index']} · {size} msgs"
        log = deployment.log(run_id, "process_batch", map_index=ti["map_index"])
        assert f"{size} archived, 0 failed of {size} claimed" in log, log[-3000:]
        assert "DeprecatedImportWarning" not in log


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(deployment: Deployment, seeded, daily_run):
    """SIGKILL to a worker and every process it runs, its task processes included (a replaced container dies),
    while it uploads: the scheduler finds their heartbeats gone, and Airflow's retries on the other worker take
    the batches over."""
    ledger, airflow = deployment.ledger, deployment.airflow
    proxy = ledger.services.s3_proxy
    proxy.faults.add_latency(fixed_ms=1500, methods=["PUT"])  # batches stay in flight for seconds
    try:
        run_id = deployment.trigger({"start_date": KILLED_DAY.isoformat()})
        victim, held = _worker_mid_batch(deployment, run_id)
        killed_at = datetime.now().astimezone()
        airflow.signal_worker(victim, signal.SIGKILL, whole_container=True)
        airflow.wait_for_exit(victim, timeout=30)
    finally:
        proxy.faults.clear()
    [survivor] = set(WORKERS) - {victim}
    try:
        run = deployment.wait(run_id, timeout=360)
    finally:
        airflow.start_worker(victim)  # the replacement container
    assert run["state"] == "success", deployment.task_states(run_id)
    for map_index in held:
        first, *_, last = deployment.tries(run_id, "process_batch", map_index)
        assert (first["hostname"], first["state"]) == (victim, "failed"), first
        assert (last["hostname"], last["state"]) == (survivor, "success"), last
        # found by the short heartbeat timeout, not by Airflow's default 300 s
        noticed = datetime.fromisoformat(first["end_date"]) - killed_at
        assert noticed < timedelta(seconds=HEARTBEAT_TIMEOUT + 60), noticed
    # the scheduler's own account of it
    detected = [
        line
        for line in (airflow.logs / "scheduler.log").read_text(errors="replace").splitlines()
        if "Detected a task instance without a heartbeat" in line and f"'Hostname': '{victim}'" in line
    ]
    assert len(detected) >= len(held), detected
    others = [ti for ti in deployment.mapped(run_id) if ti["map_index"] not in held]
    assert {(ti["state"], ti["try_number"]) for ti in others} == {("success", 1)}, others
    deployment.wait_until_quiet()
    deployment.assert_day_archived(KILLED_DAY, seeded[KILLED_DAY], bodies=PER_DAY)
    # the ledger tells the story: the unfinished messages of the held batches that had claimed them (the one
    # uploading at least; a batch just starting may not have claimed yet) were claimed again by the retry
    rows = _rows_of(deployment, KILLED_DAY)
    twice = {row["batch_id"] for row in rows.values() if row["attempts"] == 2}
    assert {row["attempts"] for row in rows.values()} == {1, 2}, rows
    assert 1 <= len(twice) <= len(held), (twice, held)
    _assert_reconciled(deployment, KILLED_DAY)


def test_a_worker_s_warm_shutdown_finishes_its_batches(deployment: Deployment, seeded, daily_run):
    """SIGTERM to a worker's main process (a container stopped on scale-in): it takes no new task, finishes
    the batches it runs and exits; the other worker takes the rest of the day."""
    ledger, airflow = deployment.ledger, deployment.airflow
    proxy = ledger.services.s3_proxy
    proxy.faults.add_latency(fixed_ms=1000, methods=["PUT"])
    try:
        run_id = deployment.trigger({"start_date": TERMINATED_DAY.isoformat()})
        stopping, held = _worker_mid_batch(deployment, run_id)
        airflow.signal_worker(stopping, signal.SIGTERM, whole_container=False)
        code = airflow.wait_for_exit(stopping, timeout=180)
    finally:
        proxy.faults.clear()
    try:
        run = deployment.wait(run_id, timeout=360)
    finally:
        airflow.start_worker(stopping)
    assert code == 0
    assert "Warm shutdown" in (airflow.logs / f"{stopping}.log").read_text(errors="replace")
    assert run["state"] == "success", deployment.task_states(run_id)
    mapped = {ti["map_index"]: ti for ti in deployment.mapped(run_id)}
    for map_index in held:
        ti = mapped[map_index]
        assert (ti["hostname"], ti["state"], ti["try_number"]) == (stopping, "success", 1), ti
    assert {(ti["state"], ti["try_number"]) for ti in mapped.values()} == {("success", 1)}
    deployment.wait_until_quiet()
    deployment.assert_day_archived(TERMINATED_DAY, seeded[TERMINATED_DAY], bodies=20)
    assert {row["attempts"] for row in _rows_of(deployment, TERMINATED_DAY).values()} == {1}
    _assert_reconciled(deployment, TERMINATED_DAY)


def _worker_mid_batch(deployment: Deployment, run_id: str) -> tuple[str, set[int]]:
    """Wait for a worker that runs batches of the run and is uploading; return it and its batches' map indexes."""

    def probe() -> tuple[str, set[int]] | None:
        worker = _uploading_worker(deployment)
        if worker and (held := _running_batches(deployment, run_id, worker)):
            return worker, held
        return None

    return deployment.api.wait_until("a worker with batches in flight", probe, timeout=240, interval=0.2)


def _uploading_worker(deployment: Deployment) -> str | None:
    """The worker one of whose task processes has a connection open to the S3 proxy: it holds a claimed
    batch and is uploading it."""
    port = int(deployment.ledger.services.s3_proxy.url.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        mine = conn.raddr and conn.raddr.port == port and conn.pid and conn.pid != os.getpid()
        if mine and (worker := deployment.airflow.worker_of(conn.pid)):
            return worker
    return None


def _running_batches(deployment: Deployment, run_id: str, worker: str) -> set[int]:
    """Map indexes of the run's batches running on ``worker`` now."""
    mapped = deployment.mapped(run_id)
    return {ti["map_index"] for ti in mapped if ti["state"] == "running" and ti["hostname"] == worker}


def _rows_of(deployment: Deployment, day: date) -> dict[str, dict[str, Any]]:
    job = deployment.job(day)
    return {mid: row for mid, row in deployment.ledger.tracking().items() if row["job_id"] == job["job_id"]}


def _assert_reconciled(deployment: Deployment, day: date) -> None:
    """finalize's reconciliation: the search cluster's count, the ledger and the day's objects agree."""
    [(source_count, archived_objects, total)] = deployment.ledger.query(
        "SELECT source_count, archived_objects, total_messages FROM job_runs WHERE job_id = %s",
        (deployment.job(day)["job_id"],),
    )
    assert (source_count, archived_objects, total) == (PER_DAY,) * 3
    assert deployment.ledger.assert_manifests() >= 1
