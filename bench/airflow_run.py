"""The real DAG under ``dag.test()``: what Airflow adds on top of the pipeline's own work.

``dag.test()`` runs every task instance in this process, one after another. Then the same steps
run again in this process without Airflow (``bench.pipeline_run.run_every_step``: the same window
re-exported, as much work again), so everything else in ``dag.test()``'s wall time is Airflow's:
scheduling-loop passes, task start-up and teardown, XCom, metadata-DB writes, the DAG bundle sync.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from bench.environment import REPO


def run_dag_test(day: datetime) -> dict[str, Any]:
    """Run ``message_export`` for ``day`` with ``dag.test()``, then its steps without Airflow; split
    ``dag.test()``'s wall time into the steps' own time and Airflow's overhead."""
    from airflow.dag_processing.dagbag import DagBag

    from bench.pipeline_run import run_every_step

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags["message_export"]
    started = time.perf_counter()
    run = dag.test(logical_date=None, run_conf={"start_date": day.date().isoformat()})
    wall = time.perf_counter() - started
    state = str(getattr(run.state, "value", run.state))
    instances = _task_instances(run.run_id)
    steps = run_every_step(day, f"{run.run_id}-without-airflow")
    own_total = sum(seconds for step, seconds in steps.items() if step != "batches")
    mapped = [ti for ti in instances if ti["task_id"] == "process_batch"]
    return {
        "state": state,
        "task_states": sorted({f"{ti['task_id']}={ti['state']}" for ti in instances}),
        "task_instances": len(instances),
        "mapped_instances": len(mapped),
        "wall_seconds": wall,
        "own_seconds": own_total,
        "own_by_step": steps,
        "task_durations_seconds": sum(ti["duration"] for ti in instances),
        "mapped_task_durations_seconds": sum(ti["duration"] for ti in mapped),
        "overhead_seconds": wall - own_total,
    }


def _task_instances(run_id: str) -> list[dict[str, Any]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state, TaskInstance.start_date, TaskInstance.end_date).where(
                TaskInstance.dag_id == "message_export", TaskInstance.run_id == run_id
            )
        ).all()
    return [
        {
            "task_id": task_id,
            "state": str(getattr(state, "value", state)),
            "duration": (end - start).total_seconds() if start and end else 0.0,
        }
        for task_id, state, start, end in rows
    ]
