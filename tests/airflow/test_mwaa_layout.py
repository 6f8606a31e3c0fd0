"""The bundle deployed as on Amazon MWAA (``/usr/local/airflow/{dags,plugins}``), run by a real scheduler and
used only through the REST API the UI calls: unpausing, backfills, manual re-exports, mapped task names and
logs, a SIGKILLed batch and a failed run. The documented downstream DAG is deployed beside the bundle and unpaused
with it, so every completed day's asset event makes the scheduler run it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from devstack.sns_alerts import AlertQueue
from tests.airflow.deployment import DAG_ID, RUNNING, Deployment, deploy, start_airflow, today
from tests.fixtures.export_stack import BUCKET, MANIFESTS, PREFIX, Stack, StackServices
from tests.integration.test_downstream import CONSUMER, documented_downstream_example

PER_DAY = 60
BATCH_SIZE = 25  # 60 messages -> batches of 25, 25, 10
T = today()
CHAIN_DAYS = [T - timedelta(days=2), T - timedelta(days=1)]  # due when the DAG is unpaused
BACKFILL_DAYS = [T - timedelta(days=5), T - timedelta(days=4)]
KILLED_DAY = T - timedelta(days=3)
FAILING_DAY = T - timedelta(days=6)
# failure notifications go to this topic on the moto server, through the aws_default connection
ALERTS = "message-export-alerts"
ALERTS_ARN = f"arn:aws:sns:us-east-1:123456789012:{ALERTS}"


@pytest.fixture(scope="module")
def deployment(services: StackServices, bundle, module_tmp: Path) -> Iterator[Deployment]:
    root = module_tmp / "usr" / "local" / "airflow"
    deploy(bundle, root / "dags", root / "plugins")
    (root / "dags" / f"{CONSUMER}.py").write_text(documented_downstream_example())
    ledger = Stack(services, module_tmp)
    ledger.reset()
    config = ledger.write_config(
        start_date=CHAIN_DAYS[0].isoformat(),
        batch_size=BATCH_SIZE,
        lease_seconds=20,
        notifications={"sns": {"topic_arn": ALERTS_ARN}},
    )
    airflow = start_airflow(root, root / "dags", root / "plugins", config)
    try:
        airflow.wait_for_dag(CONSUMER)
        yield Deployment(airflow, ledger)
    finally:
        airflow.stop()
        ledger.close()


@pytest.fixture(scope="module")
def seeded(deployment: Deployment) -> dict[date, set[str]]:
    """Messages for a week up to today (today's are not due and must never be exported)."""
    return {T - timedelta(days=n): deployment.seed(T - timedelta(days=n), PER_DAY) for n in range(7)}


@pytest.fixture(scope="module")
def chain_runs(deployment: Deployment, seeded) -> list[dict]:
    """Unpause the downstream DAG, then the export, as the UI's toggle does and let the scheduler work until no
    export run is left."""
    deployment.api.json("patch", f"/api/v2/dags/{CONSUMER}", json={"is_paused": False})
    deployment.unpause()
    return deployment.wait_until_quiet(at_least=2)


def test_unpausing_exports_every_due_day_through_catch_up_runs(deployment: Deployment, seeded, chain_runs):
    assert [run["state"] for run in chain_runs] == ["success", "success"], chain_runs
    assert [run["run_type"] for run in chain_runs] == ["scheduled", "operator_triggered"]
    for day in CHAIN_DAYS:
        deployment.assert_day_archived(day, seeded[day])
    assert deployment.exported_days() == set(CHAIN_DAYS)
    # the catch-up run found the next day not due yet and did not trigger another
    assert deployment.task_states(chain_runs[-1]["dag_run_id"])["trigger_next_window"] == ["skipped"]


def downstream_loads(deployment: Deployment, days: set[str], timeout: float = 300) -> tuple[list[dict], list[dict]]:
    """Wait until the downstream DAG's runs are finished and have loaded ``days`` (or one failed); return its runs
    and what their ``load`` tasks returned."""
    deadline = time.monotonic() + timeout
    while True:
        runs = deployment.api.dag_runs(CONSUMER)
        if runs and not any(run["state"] in RUNNING for run in runs):
            loaded = [entry for run in runs if run["state"] == "success" for entry in _loaded_by(deployment, run)]
            if days <= {entry["dt"] for entry in loaded} or any(run["state"] != "success" for run in runs):
                return runs, loaded
        if time.monotonic() > deadline:
            raise AssertionError(f"{CONSUMER} did not load {sorted(days)} within {timeout:.0f}s: {runs}")
        time.sleep(2)


def _loaded_by(deployment: Deployment, run: dict[str, Any]) -> list[dict]:
    path = f"/api/v2/dags/{CONSUMER}/dagRuns/{run['dag_run_id']}/taskInstances/load/xcomEntries/return_value"
    return list(deployment.api.json("get", path)["value"])


def test_each_completed_day_runs_the_readme_s_downstream_dag(deployment: Deployment, chain_runs):
    """The asset events of the catch-up runs' finalize, one per day with its manifest, make the scheduler run the
    documented downstream DAG (asset-triggered), which gets each day's figures; every manifest lists its day."""
    manifests = {f"{day}": f"s3://{BUCKET}/{MANIFESTS}dt={day}/manifest.jsonl.gz" for day in CHAIN_DAYS}
    runs, loaded = downstream_loads(deployment, set(manifests))
    assert {(run["run_type"], run["state"]) for run in runs} == {("asset_triggered", "success")}, runs
    # each event is consumed by exactly one downstream run: together they loaded each day once
    assert sorted(loaded, key=lambda entry: entry["dt"]) == [
        {"dt": dt, "archived": PER_DAY, "manifest": manifest} for dt, manifest in manifests.items()
    ], loaded
    events = deployment.api.json("get", "/api/v2/assets/events", params={"source_dag_id": DAG_ID})["asset_events"]
    assert sorted((e["source_task_id"], e["extra"]["dt"], e["extra"]["manifest"]) for e in events) == [
        ("finalize", dt, manifest) for dt, manifest in manifests.items()
    ]
    assert deployment.ledger.assert_manifests() == len(CHAIN_DAYS)


def test_the_dashboard_from_plugins_zip_shows_the_scheduler_s_days_and_their_runs(deployment: Deployment, chain_runs):
    """The dashboard shipped in plugins.zip, served by this api-server, over the days the scheduler exported:
    each day links the run that exported it, whose start and end (the page's durations) Airflow records."""
    answer = deployment.api.json("get", "/message-export/api/days", params={"per_page": 10})
    assert answer["last_due_day"] == (T - timedelta(days=1)).isoformat()
    assert answer["summary"]["chain_days_behind"] == 0
    days = {day["day"]: day for day in answer["days"]}
    run_ids = {run["dag_run_id"] for run in chain_runs}
    for exported in CHAIN_DAYS:
        shown = days[exported.isoformat()]
        assert shown["status"] == "completed" and shown["counts"]["completed"] == PER_DAY, shown
        assert shown["elasticsearch_count"] == PER_DAY and shown["archived_objects"] == PER_DAY
        assert shown["dag_run_id"] in run_ids
        run = deployment.api.json("get", f"/api/v2/dags/message_export/dagRuns/{shown['dag_run_id']}")
        assert run["start_date"] and run["end_date"]
    assert T.isoformat() not in days  # today is not due yet


def test_mapped_batches_show_readable_names_and_their_logs(deployment: Deployment, chain_runs):
    run_id = chain_runs[0]["dag_run_id"]
    mapped = deployment.api.json(
        "get", f"/api/v2/dags/message_export/dagRuns/{run_id}/taskInstances/process_batch/listMapped"
    )["task_instances"]
    names = sorted(ti["rendered_map_index"] for ti in mapped)
    assert names == ["batch 0 · 25 msgs", "batch 1 · 25 msgs", "batch 2 · 10 msgs"], names
    log = deployment.log(run_id, "process_batch", map_index=0)
    assert "batch 0 · 25 msgs" in log and "25 archived, 0 failed of 25 claimed" in log, log[-3000:]
    assert "DeprecatedImportWarning" not in log


def test_backfill_exports_exactly_its_data_intervals(deployment: Deployment, seeded, chain_runs):
    before = {run["dag_run_id"] for run in deployment.runs()}
    backfill = deployment.api.json(
        "post",
        "/api/v2/backfills",
        json={
            "dag_id": "message_export",
            "from_date": f"{BACKFILL_DAYS[0]}T00:00:00Z",
            "to_date": f"{BACKFILL_DAYS[-1]}T00:00:00Z",
            "max_active_runs": 1,
            "reprocess_behavior": "none",
        },
    )
    runs = [run for run in deployment.wait_until_quiet() if run["dag_run_id"] not in before]
    assert sorted(run["run_type"] for run in runs) == ["backfill", "backfill"], runs
    assert all(run["state"] == "success" for run in runs), runs
    # the scheduler closes the backfill once its runs are done
    deployment.api.wait_until(
        "the backfill to be completed",
        lambda: (deployment.api.poll(f"/api/v2/backfills/{backfill['id']}") or {}).get("completed_at"),
        timeout=120,
    )
    for day in BACKFILL_DAYS:
        deployment.assert_day_archived(day, seeded[day])
    assert deployment.exported_days() == set(CHAIN_DAYS) | set(BACKFILL_DAYS)


def test_manual_reprocess_re_exports_the_day_byte_identically(deployment: Deployment, seeded, chain_runs):
    day = CHAIN_DAYS[0]
    objects = deployment.day_objects(day)
    bodies = {mid: deployment.ledger.body(key) for mid, key in objects.items()}
    written_before = _last_modified(deployment, day)
    run_id = deployment.trigger({"start_date": day.isoformat(), "reprocess": True})
    assert deployment.wait(run_id)["state"] == "success", deployment.task_states(run_id)
    deployment.wait_until_quiet()
    deployment.assert_day_archived(day, seeded[day])
    rewritten = _last_modified(deployment, day)
    assert min(rewritten.values()) > max(written_before.values()), "every object of the day is written again"
    assert deployment.day_objects(day) == objects
    assert {mid: deployment.ledger.body(key) for mid, key in objects.items()} == bodies


def _last_modified(deployment: Deployment, day: date) -> dict[str, datetime]:
    """``key -> LastModified`` of the day's data objects."""
    from message_export.keys import day_prefix

    pages = deployment.ledger.s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=day_prefix(PREFIX, day)
    )
    return {obj["Key"]: obj["LastModified"] for page in pages for obj in page.get("Contents", [])}


def _process_talking_to(port: int) -> psutil.Process | None:
    """The task process with a connection open to ``port`` (the S3 proxy): the one exporting a batch."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.raddr and conn.raddr.port == port and conn.pid and conn.pid != os.getpid():
            return psutil.Process(conn.pid)
    return None


def test_sigkilled_batch_is_finished_by_airflows_own_retry(deployment: Deployment, seeded, chain_runs):
    ledger = deployment.ledger
    proxy = ledger.services.s3_proxy
    # every PUT held for 2 s: a batch's uploads are in flight together (up to s3.max_concurrency), so a task
    # process with claimed messages and open connections to the S3 server is in the middle of its batch
    proxy.faults.add_latency(fixed_ms=2000, methods=["PUT"])
    day_ids = seeded[KILLED_DAY]
    try:
        run_id = deployment.trigger({"start_date": KILLED_DAY.isoformat()})

        def mid_batch() -> psutil.Process | None:
            rows = ledger.tracking()
            if any(rows[mid]["status"] == "in_progress" for mid in day_ids if mid in rows):
                return _process_talking_to(int(proxy.url.rsplit(":", 1)[1]))
            return None

        victim = deployment.api.wait_until("a batch in flight", mid_batch, timeout=180, interval=0.2)
        victim.send_signal(signal.SIGKILL)
    finally:
        proxy.faults.clear()
    run = deployment.wait(run_id, timeout=360)
    states = deployment.task_instances(run_id)
    assert run["state"] == "success", deployment.task_states(run_id)
    retried = [ti for ti in states["process_batch"] if ti["try_number"] > 1]
    assert retried, [(ti["map_index"], ti["try_number"], ti["state"]) for ti in states["process_batch"]]
    deployment.wait_until_quiet()
    deployment.assert_day_archived(KILLED_DAY, seeded[KILLED_DAY], bodies=PER_DAY)


def test_failed_run_finalize_log_names_the_reasons(deployment: Deployment, seeded, chain_runs):
    alerts = AlertQueue(deployment.ledger.services.moto.url, ALERTS)
    assert alerts.topic_arn == ALERTS_ARN
    es = deployment.ledger.services.es
    es.faults.add_error(path_pattern=r"^/messages/_mget", status=400)
    try:
        run_id = deployment.trigger({"start_date": FAILING_DAY.isoformat()})
        run = deployment.wait(run_id, timeout=300)
    finally:
        es.faults.clear()
    deployment.wait_until_quiet()
    assert run["state"] == "failed"
    states = deployment.task_states(run_id)
    assert states["finalize"] == ["failed"], states
    log = deployment.log(run_id, "finalize")
    assert f"window [{FAILING_DAY} 00:00, {FAILING_DAY + timedelta(days=1)} 00:00) UTC failed" in log, log[-3000:]
    assert f"{PER_DAY} messages failed" in log and "injected fault: status 400" in log
    first = sorted(seeded[FAILING_DAY])[0]
    assert repr(first) in log and "(3 attempts)" in log, log[-3000:]
    job = deployment.job(FAILING_DAY)
    assert job["status"] == "failed" and job["failed_messages"] == PER_DAY
    # the worker's finalize sent one message with the reasons to the SNS topic
    [notification] = alerts.messages()
    alerts.close()
    assert notification["Subject"] == f"message_export FAILED: {FAILING_DAY} (finalize)"
    text = notification["Message"]
    assert f"{PER_DAY} messages failed" in text and "injected fault: status 400" in text, text
    assert f"Messages: {PER_DAY} tracked, 0 archived, {PER_DAY} failed, 0 unfinished" in text, text
    assert f"Run:      message_export / {run_id} (task finalize, try " in text, text
    assert f"Log:      {deployment.airflow.base_url}/dags/message_export/runs/" in text, text
