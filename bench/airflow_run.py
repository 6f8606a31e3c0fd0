"""The real DAG under ``dag.test()``: what Airflow adds on top of the pipeline's own work.

``dag.test()`` runs every task instance in this process, one after another. Each task body calls
a ``message_export.pipeline`` function; wrapping those functions with a timer gives the tasks' own
time, so everything else in the run's wall time is Airflow's: scheduling-loop passes, task
start-up and teardown, XCom, metadata-DB writes, the DAG bundle sync.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from bench.environment import REPO
from bench.stage_timers import StageTimers

PIPELINE_STEPS = (
    "ensure_schema",
    "resolve_window",
    "extract",
    "process_batch",
    "retry_failed",
    "finalize",
    "purge_ledger",
    "next_window_due",
)


def run_dag_test(day: datetime) -> dict[str, Any]:
    """Run ``message_export`` for ``day`` with ``dag.test()``; split its wall time into own time and overhead."""
    from airflow.dag_processing.dagbag import DagBag

    from message_export import pipeline

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags["message_export"]

    own = StageTimers()
    for step in PIPELINE_STEPS:
        own.wrap(pipeline, step, step)
    started = time.perf_counter()
    try:
        run = dag.test(logical_date=None, run_conf={"start_date": day.date().isoformat()})
    finally:
        own.uninstall()
    wall = time.perf_counter() - started
    state = str(getattr(run.state, "value", run.state))
    instances = _task_instances(run.run_id)
    steps = own.snapshot()
    own_total = sum(step["seconds"] for step in steps.values())
    mapped = [ti for ti in instances if ti["task_id"] == "process_batch"]
    in_task = sum(ti["duration"] for ti in instances)
    mapped_own = steps.get("process_batch", {}).get("seconds", 0.0)
    mapped_duration = sum(ti["duration"] for ti in mapped)
    first_start = min((ti["start"] for ti in instances if ti["start"] is not None), default=None)
    return {
        "state": state,
        "task_states": sorted({f"{ti['task_id']}={ti['state']}" for ti in instances}),
        "task_instances": len(instances),
        "mapped_instances": len(mapped),
        "wall_seconds": wall,
        "own_seconds": own_total,
        "own_by_step": steps,
        "task_durations_seconds": in_task,
        "mapped_task_durations_seconds": mapped_duration,
        "mapped_own_seconds": mapped_own,
        "first_task_start": first_start.isoformat() if first_start else None,
        "overhead_seconds": wall - own_total,
    }


def _task_instances(run_id: str) -> list[dict[str, Any]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(
                TaskInstance.task_id,
                TaskInstance.map_index,
                TaskInstance.state,
                TaskInstance.start_date,
                TaskInstance.end_date,
            ).where(TaskInstance.dag_id == "message_export", TaskInstance.run_id == run_id)
        ).all()
    return [
        {
            "task_id": task_id,
            "map_index": map_index,
            "state": str(getattr(state, "value", state)),
            "start": start,
            "duration": (end - start).total_seconds() if start and end else 0.0,
        }
        for task_id, map_index, state, start, end in rows
    ]
