"""The bundle deployed as on Amazon MWAA with ``s3.layout: batch``, run by a real scheduler: a day exported as
one indexed gzip object per batch, and a message read back through ``python -m message_export.fetch`` with the
deployed package, as an operator on the environment would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.airflow.deployment import Deployment, deploy, start_airflow, today
from tests.fixtures.batch_archive import batch_keys
from tests.fixtures.export_stack import PREFIX, Stack, StackServices

DAY = today() - timedelta(days=1)
PER_DAY = 70
BATCH_SIZE = 30  # 70 messages -> three batches, three objects


@pytest.fixture(scope="module")
def root(module_tmp: Path) -> Path:
    return module_tmp / "usr" / "local" / "airflow"


@pytest.fixture(scope="module")
def deployment(services: StackServices, bundle, module_tmp: Path, root: Path) -> Iterator[Deployment]:
    deploy(bundle, root / "dags", root / "plugins")
    ledger = Stack(services, module_tmp, layout="batch")
    ledger.reset()
    config = ledger.write_config(start_date=DAY.isoformat(), batch_size=BATCH_SIZE)
    airflow = start_airflow(root, root / "dags", root / "plugins", config)
    try:
        yield Deployment(airflow, ledger)
    finally:
        airflow.stop()
        ledger.close()


def test_a_day_exported_in_the_batch_layout_and_a_message_fetched_back(deployment: Deployment, root: Path):
    ids = deployment.seed(DAY, PER_DAY)
    deployment.unpause()  # the scheduler's run exports the due day, yesterday
    [run] = deployment.wait_until_quiet(at_least=1)
    assert run["state"] == "success", deployment.task_states(run["dag_run_id"])
    ledger = deployment.ledger
    job = deployment.job(DAY)
    assert (job["status"], job["completed_messages"], job["failed_messages"]) == ("completed", PER_DAY, 0)
    ledger.assert_invariants(ids, check_bodies=10)  # every row's Range GET holds exactly its document
    objects = batch_keys(ledger.data_object_keys())
    assert len(objects) == 3 and all(key.startswith(f"{PREFIX}/dt={DAY.isoformat()}/part-") for key in objects)

    # the command, with the deployed package and include folder and the worker's connections and config
    message_id = sorted(ids)[PER_DAY // 2]
    env = {
        **os.environ,
        "PYTHONPATH": str(root / "plugins"),
        "MESSAGE_EXPORT_INCLUDE_FOLDER": str(root / "dags" / "include"),
        "MESSAGE_EXPORT_CONFIG": str(ledger.tmp_path / "message_export.yaml"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "message_export.fetch", message_id],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert json.loads(done.stdout) == ledger.expected_document(message_id)
