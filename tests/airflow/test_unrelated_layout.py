"""The bundle deployed where the DAGs folder and the plugins folder have nothing to do with each other (the
Helm chart's git-sync, plugins baked into an image, a custom ``dags_folder``): first without ``include/``, as a
broken deployment — the task fails at once, saying where it looked and what to deploy — then complete."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.airflow.deployment import Deployment, deploy, start_airflow, today
from tests.fixtures.export_stack import Stack, StackServices

DAY = today() - timedelta(days=1)
PER_DAY = 40


@pytest.fixture(scope="module")
def folders(module_tmp: Path) -> tuple[Path, Path]:
    return module_tmp / "git-sync" / "repo" / "airflow" / "dags", module_tmp / "image" / "opt" / "airflow-plugins"


@pytest.fixture(scope="module")
def deployment(services: StackServices, bundle, module_tmp: Path, folders) -> Iterator[Deployment]:
    dags, plugins = folders
    deploy(bundle, dags, plugins, with_include=False)
    ledger = Stack(services, module_tmp)
    ledger.reset()
    config = ledger.write_config(start_date=DAY.isoformat())
    airflow = start_airflow(module_tmp / "airflow-home", dags, plugins, config)
    try:
        yield Deployment(airflow, ledger)
    finally:
        airflow.stop()
        ledger.close()


def test_a_missing_include_folder_fails_the_task_at_once_saying_what_to_deploy(deployment: Deployment, folders):
    deployment.unpause()
    [run] = deployment.wait_until_quiet(at_least=1)
    assert run["state"] == "failed"
    [ensure_schema] = deployment.task_instances(run["dag_run_id"])["ensure_schema"]
    # failed with its retries left unused: no retry can deploy a file (an attempt that Airflow itself could
    # not start on a busy machine may come first, so the failing attempt is the last one, not always the first)
    assert ensure_schema["state"] == "failed" and ensure_schema["try_number"] <= ensure_schema["max_tries"], (
        ensure_schema
    )
    log = deployment.log(run["dag_run_id"], "ensure_schema", try_number=ensure_schema["try_number"])
    dags, _plugins = folders
    assert "include/ folder (sql/ and config/) was not found; looked in: " in log, log[-3000:]
    assert str(dags / "include") in log and "Deploy the bundle's dags/include/" in log


def test_the_complete_bundle_exports_a_day(deployment: Deployment, bundle, folders):
    dags, _plugins = folders
    shutil.copytree(bundle.dags / "include", dags / "include")
    ids = deployment.seed(DAY, PER_DAY)
    run_id = deployment.trigger({"start_date": DAY.isoformat()})
    assert deployment.wait(run_id)["state"] == "success", deployment.task_states(run_id)
    deployment.wait_until_quiet()
    deployment.assert_day_archived(DAY, ids)
