"""The archive asset under a real scheduler: the deployed bundle plus the README's downstream DAG, both
unpaused through REST API v2; a completed day's asset event makes the scheduler run the downstream DAG."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.deployment import DAG_ID, Deployment, deploy, start_airflow, today
from tests.harness.stack import BUCKET, MANIFESTS, Stack, StackServices
from tests.integration.test_downstream import CONSUMER, readme_downstream_example

DAY = today() - timedelta(days=1)  # the one due day: the config starts there


@pytest.fixture(scope="module")
def deployment(services: StackServices, bundle, module_tmp: Path) -> Iterator[Deployment]:
    root = module_tmp / "usr" / "local" / "airflow"
    deploy(bundle, root / "dags", root / "plugins")
    (root / "dags" / f"{CONSUMER}.py").write_text(readme_downstream_example())
    ledger = Stack(services, module_tmp)
    ledger.reset()
    config = ledger.write_config(start_date=DAY.isoformat())
    airflow = start_airflow(root, root / "dags", root / "plugins", config)
    try:
        airflow.wait_for_dag(CONSUMER)
        yield Deployment(airflow, ledger)
    finally:
        airflow.stop()
        ledger.close()


def consumer_runs(deployment: Deployment, timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = deployment.api.dag_runs(CONSUMER)
        if runs and all(run["state"] not in {"queued", "running"} for run in runs):
            return runs
        time.sleep(2)
    runs = deployment.api.dag_runs(CONSUMER)
    raise AssertionError(f"{CONSUMER} not run by the scheduler within {timeout:.0f}s: {runs}")


def test_completed_day_runs_the_downstream_dag_under_the_scheduler(deployment: Deployment):
    ids = deployment.seed(DAY, 40)
    api = deployment.api
    api.json("patch", f"/api/v2/dags/{CONSUMER}", json={"is_paused": False})
    deployment.unpause()
    [export_run] = deployment.wait_until_quiet(at_least=1)
    assert export_run["state"] == "success", deployment.task_states(export_run["dag_run_id"])
    deployment.assert_day_archived(DAY, ids)
    assert deployment.ledger.assert_manifests() == 1

    [run] = consumer_runs(deployment)
    assert (run["run_type"], run["state"]) == ("asset_triggered", "success"), run
    manifest = f"s3://{BUCKET}/{MANIFESTS}dt={DAY.isoformat()}/manifest.jsonl.gz"
    xcom = api.json(
        "get", f"/api/v2/dags/{CONSUMER}/dagRuns/{run['dag_run_id']}/taskInstances/load/xcomEntries/return_value"
    )
    assert xcom["value"] == [{"dt": DAY.isoformat(), "archived": 40, "manifest": manifest}], xcom

    events = api.json("get", "/api/v2/assets/events", params={"source_dag_id": DAG_ID})["asset_events"]
    assert [(e["source_task_id"], e["extra"]["dt"], e["extra"]["manifest"]) for e in events] == [
        ("finalize", DAY.isoformat(), manifest)
    ]
