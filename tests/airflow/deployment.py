"""A deployed ``message_export``: the unpacked bundle under a real Airflow, driven through REST API v2 as the
UI drives it, with the ledger, the bucket and the Elasticsearch-compatible server read for assertions."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from devstack.local_airflow import AirflowClient, AirflowStack, CeleryWorkers
from scripts.mwaa_bundle import Bundle, unpack_bundle
from tests.fixtures.export_stack import BUCKET, PREFIX, Stack
from tests.fixtures.messages import day_of_messages

DAG_ID = "message_export"
RUNNING = {"queued", "running"}
CONNECTIONS = ("AIRFLOW_CONN_MYSQL_DEFAULT", "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", "AIRFLOW_CONN_AWS_DEFAULT")
RETRY_DELAY_CAP_SECONDS = 5


def today() -> date:
    return datetime.now(UTC).date()


def deploy(bundle: Bundle, dags_folder: Path, plugins_folder: Path, *, with_include: bool = True) -> None:
    """Unpack the bundle into the two folders; ``with_include=False`` leaves ``include/`` out, as a broken
    deployment would."""
    unpack_bundle(bundle, dags_folder, plugins_folder)
    if not with_include:
        shutil.rmtree(dags_folder / "include")


def start_airflow(
    home: Path,
    dags_folder: Path,
    plugins_folder: Path,
    config: Path,
    *,
    celery: CeleryWorkers | None = None,
    settings: Mapping[str, str] | None = None,
) -> AirflowStack:
    """Airflow over the deployed folders, with the test session's connections and this config file; with
    ``celery``, under the CeleryExecutor with those workers; ``settings``: more ``AIRFLOW__*`` variables."""
    env = {name: os.environ[name] for name in CONNECTIONS}
    env["MESSAGE_EXPORT_CONFIG"] = str(config)
    # Airflow's own cap on a retry's wait (every task still retries, with its backoff up to the cap): the DAG's
    # 1-minute exponential backoff would keep a retried task waiting 60-120 s for nothing the tests look at
    env["AIRFLOW__CORE__MAX_TASK_RETRY_DELAY"] = str(RETRY_DELAY_CAP_SECONDS)
    env.update(settings or {})
    stack = AirflowStack(home, dags_folder=dags_folder, plugins_folder=plugins_folder, env=env, celery=celery)
    stack.start()
    try:
        stack.wait_for_dag(DAG_ID)
    except BaseException:
        stack.stop()
        raise
    return stack


@dataclass
class Deployment:
    airflow: AirflowStack
    ledger: Stack

    @cached_property
    def api(self) -> AirflowClient:
        """One REST client (and one HTTP session) for the whole module's polling."""
        return self.airflow.client()

    # -- seeding ------------------------------------------------------------------------------

    def seed(self, day: date, count: int) -> set[str]:
        messages, related = day_of_messages(day, count)
        self.ledger.index_messages(messages, related)
        return set(messages)

    # -- runs ---------------------------------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        return self.api.dag_runs(DAG_ID)

    def unpause(self) -> None:
        self.api.json("patch", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})

    def trigger(self, conf: dict[str, Any]) -> str:
        """Trigger a run as the UI's trigger form does; return its run id."""
        run = self.api.json("post", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def wait(self, run_id: str, timeout: float = 300) -> dict[str, Any]:
        return self.api.wait_for_run(DAG_ID, run_id, timeout)

    def wait_until_quiet(self, *, at_least: int = 0, timeout: float = 420) -> list[dict[str, Any]]:
        """Wait until ``at_least`` runs exist and none is queued or running (twice in a row, a few seconds
        apart, so a run triggered by the last one is seen); return every run."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            answer = self.api.poll(f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100, "order_by": "id"})
            if answer is None:
                time.sleep(1)
                continue
            runs = answer["dag_runs"]
            if len(runs) >= at_least and not any(run["state"] in RUNNING for run in runs):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= 6:
                    return runs
            else:
                quiet_since = None
            time.sleep(1)
        states = [(run["dag_run_id"], run["state"]) for run in self.runs()]
        raise AssertionError(f"runs not finished after {timeout:.0f}s: {states}")

    def task_instances(self, run_id: str) -> dict[str, list[dict[str, Any]]]:
        answer = self.api.json("get", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 200})
        by_task: dict[str, list[dict[str, Any]]] = {}
        for ti in answer["task_instances"]:
            by_task.setdefault(ti["task_id"], []).append(ti)
        return by_task

    def mapped(self, run_id: str, task_id: str = "process_batch") -> list[dict[str, Any]]:
        """The mapped instances of ``task_id`` in the run, by map index."""
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped"
        answer = self.api.json("get", path, params={"limit": 1000})
        return sorted(answer["task_instances"], key=lambda ti: ti["map_index"])

    def tries(self, run_id: str, task_id: str, map_index: int) -> list[dict[str, Any]]:
        """Every attempt of one task instance (state, hostname, try number), oldest first."""
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
        answer = self.api.json("get", path)
        return sorted(answer["task_instances"], key=lambda ti: ti["try_number"])

    def task_states(self, run_id: str) -> dict[str, list[str]]:
        return {task: sorted(ti["state"] or "none" for ti in tis) for task, tis in self.task_instances(run_id).items()}

    def log(self, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """A task attempt's log as the UI's log view reads it, one line per event."""
        answer = self.api.json(
            "get",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": True},
        )
        lines = []
        for entry in answer["content"]:
            if isinstance(entry, dict):
                lines.append(" ".join(str(entry.get(key, "")) for key in ("level", "event", "error_detail")))
            else:
                lines.append(str(entry))
        return "\n".join(lines)

    # -- the ledger and the archive -----------------------------------------------------------

    def job(self, day: date) -> dict[str, Any]:
        [job] = [job for job in self.ledger.jobs() if job["start_date"].date() == day]
        return job

    def day_objects(self, day: date) -> dict[str, str]:
        """``message id -> key`` of every object under the day's prefix."""
        from message_export.keys import day_prefix, parse_archive_key

        prefix = day_prefix(PREFIX, day)
        return {parse_archive_key(key)[2]: key for key in self.ledger.object_keys() if key.startswith(prefix)}

    def exported_days(self) -> set[date]:
        from message_export.keys import parse_archive_key

        return {parse_archive_key(key)[1] for key in self.ledger.data_object_keys()}

    def assert_day_archived(self, day: date, ids: Iterable[str], *, bodies: int = 5) -> None:
        """Every message of the day completed once, at its key, with the right body; the job closed."""
        expected = set(ids)
        job = self.job(day)
        assert job["status"] == "completed", job
        assert (job["total_messages"], job["completed_messages"], job["failed_messages"]) == (len(expected),) * 2 + (0,)
        assert job["next_run_date"].date() == day + timedelta(days=2)  # when the following day is due
        rows = {mid: row for mid, row in self.ledger.tracking().items() if row["job_id"] == job["job_id"]}
        assert set(rows) == expected
        assert {row["status"] for row in rows.values()} == {"completed"}
        assert all(row["lease_token"] is None for row in rows.values())
        objects = self.day_objects(day)
        assert set(objects) == expected, "objects under the day's prefix differ from its messages"
        for mid, row in rows.items():
            assert row["s3_path"] == f"s3://{BUCKET}/{objects[mid]}"
        for mid in sorted(expected)[:bodies]:
            assert json.loads(self.ledger.body(objects[mid])) == self.ledger.expected_document(mid), mid
