"""The pipeline as the DAG's tasks call it: schema, window, extract, ``process_batch`` × N.

Every step gets the run's config and services through its ``config=`` / ``services=`` parameters;
for processing, the services are the product's own hooks with the calls the export makes to them
timed (:func:`timed_services`): wall seconds, and the CPU seconds of the thread that made the call.
An export reads, builds and writes on several threads at once, so each call's CPU is its own thread's,
timed where each request is sent (a chunk's four reads go out together; the message layout's PUTs
run on an upload pool), and the stages' wall seconds overlap. What no stage holds (building and
framing the documents, thread hand-offs) is the process's CPU less the stages'.

Airflow's overhead: the real DAG under ``dag.test()``, which runs every task instance in this process
one after another; then the same steps again without Airflow (:func:`run_every_step`: the same window
re-exported, as much work again), so everything else in ``dag.test()``'s wall time is Airflow's:
scheduling-loop passes, task start-up and teardown, XCom, metadata-DB writes, the DAG bundle sync.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from bench.environment import REPO
from bench.measure import peak_rss_mb, reset_peak_rss, rss_mb
from message_export import pipeline
from message_export.config import ExportConfig, load_config
from message_export.export import ExportServices

# the hook methods an export calls, by the stage they belong to: (method, stage, what its calls add);
# "wall" adds wall seconds and a call, "cpu" the CPU seconds of the thread that made the call
STAGES = {
    "search": [("fetch_messages", "es_mget", "wall+cpu"), ("fetch_related", "es_related", "wall+cpu")],
    # a chunk's (or an object's) S3 writes: wall time here; the CPU of each PUT on its own upload thread below
    "archive": [("put_objects", "s3_put", "wall"), ("upload_object", "s3_put", "wall")],
    "tracking": [
        (name, "mysql", "wall+cpu")
        for name in (
            "get_batch",
            "claim_batch",
            "renew_lease",
            "record_results",
            "record_whole_object",
            "refresh_batches",
        )
    ],
}
# each S3 PUT (the message layout's, one per thread of its upload pool, and a batch object's upload up to one
# part), timed on the S3 client itself
CLIENT_STAGES = [("put_object", "s3_put", "cpu")]


class StageTimes(dict[str, dict[str, float]]):
    """Accumulated wall seconds, CPU seconds and calls per stage."""

    lock = threading.Lock()

    def add(self, stage: str, seconds: float | None, cpu: float | None) -> None:
        with self.lock:
            figures = self.setdefault(stage, {"seconds": 0.0, "cpu_seconds": 0.0, "calls": 0})
            if seconds is not None:
                figures["seconds"] += seconds
                figures["calls"] += 1
            if cpu is not None:
                figures["cpu_seconds"] += cpu


def time_methods(target: Any, stages: list[tuple[str, str, str]], times: StageTimes) -> None:
    """Time ``target``'s methods named in ``stages``, the hook's calls to its own methods included (the
    timed method shadows the class's on the instance)."""
    for name, stage, adds in stages:
        method = getattr(target, name)

        def timed(*args: Any, _method: Any = method, _stage: str = stage, _adds: str = adds, **kwargs: Any) -> Any:
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return _method(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - started if "wall" in _adds else None
                cpu = time.thread_time() - cpu_started if "cpu" in _adds else None
                times.add(_stage, seconds, cpu)

        setattr(target, name, timed)


def timed_services(config: ExportConfig, times: StageTimes) -> ExportServices:
    """The product's services for ``config``, their calls timed by stage."""
    services = ExportServices.from_config(config)
    for name, stages in STAGES.items():
        time_methods(getattr(services, name), stages, times)
    time_methods(services.archive.get_conn(), CLIENT_STAGES, times)
    return services


def open_window(day: datetime, run_id: str, config: ExportConfig, reprocess: bool = False) -> dict[str, Any]:
    """Run ``ensure_schema`` and ``resolve_window`` for ``day``; return the window payload."""
    pipeline.ensure_schema(config=config)
    window = pipeline.resolve_window(run_facts(day, run_id, reprocess), config=config)
    if window is None:
        raise RuntimeError(f"resolve_window found nothing due for {day:%Y-%m-%d}")
    return window


def run_facts(day: datetime, run_id: str, reprocess: bool = False) -> Any:
    """A manual run with ``start_date`` = ``day``, as the trigger form makes it."""
    return pipeline.DagRunInfo(
        run_id=run_id,
        run_type="manual",
        logical_date=None,
        data_interval_start=None,
        data_interval_end=None,
        params={"start_date": day.date().isoformat(), "reprocess": reprocess},
    )


def run_pipeline(day: datetime, run_id: str = "bench") -> dict[str, Any]:
    """Export the window of ``day`` on one worker; time extraction and processing separately."""
    config = load_config()
    window = open_window(day, run_id, config)
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    batch_ids = pipeline.extract(window, config=config)
    extract_seconds = time.perf_counter() - started
    processed = process_batches(batch_ids, run_id)
    return {
        "window": window["start_date"],
        "extract_seconds": extract_seconds,
        "rss_before_mb": rss_before,
        **processed,
    }


def extract_again(day: datetime, run_id: str) -> dict[str, Any]:
    """Re-open ``day`` with ``reprocess`` (its messages back to pending) and extract it; return the batch ids."""
    config = load_config()
    window = open_window(day, run_id, config, reprocess=True)
    started = time.perf_counter()
    batch_ids = pipeline.extract(window, config=config)
    return {"batch_ids": batch_ids, "extract_seconds": time.perf_counter() - started}


def process_batches(batch_ids: list[int], run_id: str) -> dict[str, Any]:
    """Process ``batch_ids`` one after another, as one mapped-task slot would; time it by stage."""
    config = load_config()
    times = StageTimes()
    services = timed_services(config, times)
    completed = failed = 0
    started_at = time.time()
    started, cpu_started = time.perf_counter(), time.process_time()
    for batch_id in batch_ids:
        counts = pipeline.process_batch(batch_id, run_id, config=config, services=services)
        completed += counts["completed"]
        failed += counts["failed"]
    return {
        "batches": len(batch_ids),
        "completed": completed,
        "failed": failed,
        "started_at": started_at,
        "finished_at": time.time(),
        "process_seconds": time.perf_counter() - started,
        "process_cpu_seconds": time.process_time() - cpu_started,
        "stages": dict(sorted(times.items())),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_every_step(day: datetime, run_id: str) -> dict[str, float]:
    """Run every step of the DAG for ``day`` (re-exported: ``reprocess``) one after another, as its
    tasks do, without Airflow; return each step's seconds."""
    config = load_config()
    seconds: dict[str, float] = defaultdict(float)

    def timed(step: str, work: Any) -> Any:
        started = time.perf_counter()
        result = work()
        seconds[step] += time.perf_counter() - started
        return result

    timed("ensure_schema", lambda: pipeline.ensure_schema(config=config))
    window = timed("resolve_window", lambda: pipeline.resolve_window(run_facts(day, run_id, True), config=config))
    batch_ids = timed("extract", lambda: pipeline.extract(window, config=config))
    for batch_id in batch_ids:
        timed("process_batch", lambda batch_id=batch_id: pipeline.process_batch(batch_id, run_id, config=config))
    timed("retry_failed", lambda: pipeline.retry_failed(window, run_id, config=config))
    timed("finalize", lambda: pipeline.finalize(window, config=config))
    timed("purge_ledger", lambda: pipeline.purge_ledger(config=config))
    timed("next_window_due", lambda: pipeline.next_window_due(window))
    return {**seconds, "batches": len(batch_ids)}


def run_dag_test(day: datetime) -> dict[str, Any]:
    """Run ``message_export`` for ``day`` with ``dag.test()``, then its steps without Airflow; split
    ``dag.test()``'s wall time into the steps' own time and Airflow's overhead."""
    from airflow.dag_processing.dagbag import DagBag

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
