"""The ``celery`` phase: one day exported by the real DAG under the CeleryExecutor with 1, 2 and 4 task slots
in total (one worker of one slot, two of one, two of two), against the pipeline in one process.

One Airflow (api-server, scheduler, dag-processor, triggerer; metadata in the local PostgreSQL) with a private
Redis broker for the whole phase; the workers are restarted with the next slot count between runs. Each run
re-exports the pipeline's largest window (``reprocess``) through the REST API, with the pipeline phase's
injected latencies. The rate is the day's messages over the span of its ``process_batch`` task instances (first
start to last end, as Airflow records them); the run's wall time, Airflow's task start-up included, is beside it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psutil

from bench.environment import REPO
from bench.measure import CpuMeter, mysqld_pid
from devstack.local_airflow import AirflowStack, CeleryWorkers
from devstack.redis_server import RedisServer

if TYPE_CHECKING:
    from bench.run import Bench

DAG_ID = "message_export"
# (workers, slots per worker): 1, 2 and 4 slots in total, spread over two workers where there are two
PLAN = ((1, 1), (2, 1), (2, 2))


def measure(bench: Bench) -> dict[str, Any]:
    profile = bench.profile
    day, size = profile.scaling_days[-1], profile.scaling_sizes[-1]
    bench.say(f"celery: window {day:%Y-%m-%d} ({size:,} messages); first in one process, without Airflow")
    # the DAG is unpaused so the scheduler runs the triggered days: a start date after today keeps its own
    # scheduled run from exporting anything (nothing is due)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    config = {"MESSAGE_EXPORT_CONFIG": str(bench.config("message_export_celery", start_date=tomorrow.isoformat()))}
    single = _single_process(bench, day, size, config)
    bench.say(f"  one process: {size:,} messages in {single['wall_seconds']:.1f}s = {single['per_second']:.0f} msg/s")
    home = bench.workdir / "celery-airflow"
    env = {name: value for name, value in os.environ.items() if name.startswith("AIRFLOW_CONN_")}
    env.update(config)
    env["AIRFLOW__CORE__PARALLELISM"] = "16"
    runs = []
    with RedisServer(home / "logs" / "redis.log") as redis:
        workers, slots = PLAN[0]
        stack = AirflowStack(
            home,
            dags_folder=REPO / "dags",
            plugins_folder=REPO / "plugins",
            env=env,
            celery=CeleryWorkers(redis.url, workers=workers, concurrency=slots),
        )
        bench.say("  starting Airflow with the CeleryExecutor")
        with stack:
            stack.wait_for_dag(DAG_ID)
            api = stack.client()
            api.json("patch", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
            for number, (workers, slots) in enumerate(PLAN):
                if number:
                    _restart_workers(stack, CeleryWorkers(redis.url, workers=workers, concurrency=slots))
                run = _celery_run(bench, stack, day, size, workers, slots)
                runs.append(run)
                speed_up = run["per_second"] / single["per_second"]
                bench.say(
                    f"  {workers} worker(s) x {slots} slot(s): {run['messages']:,} messages, batches over "
                    f"{run['wall_seconds']:.1f}s = {run['per_second']:.0f} msg/s ({speed_up:.2f}x one process); "
                    f"run {run['run_seconds']:.1f}s; cores: Celery workers {run['cores_used']['celery_workers']:.2f}, "
                    f"Airflow's services {run['cores_used']['airflow_services']:.2f}, machine "
                    f"{run['cores_used']['machine_busy']:.2f} of {os.cpu_count()}"
                )
    return {"day": day.date().isoformat(), "size": size, "single_process": single, "runs": runs}


def _single_process(bench: Bench, day: datetime, size: int, config: dict[str, str]) -> dict[str, Any]:
    """The pipeline in one process, no Airflow: the day's batches one after another (the ``pipeline`` phase's
    figure, measured again here so the comparison is made within minutes and with the same latencies)."""
    run_id = "bench-celery-single"
    extracted = bench.worker("extract_again", {"day": day.isoformat(), "run_id": run_id}, config)
    meter = CpuMeter(_parts(bench))
    result = bench.worker("process_batches", {"batch_ids": extracted["batch_ids"], "run_id": run_id}, config)
    cpu = meter.stop()
    if result["completed"] != size:
        raise RuntimeError(f"one process archived {result['completed']:,} of {size:,} messages")
    wall = result["process_seconds"]
    return {
        "messages": result["completed"],
        "batches": result["batches"],
        "wall_seconds": wall,
        "per_second": result["completed"] / wall,
        "cores_used": {"worker": result["process_cpu_seconds"] / wall, "machine_busy": _busy(cpu)},
    }


def _restart_workers(stack: AirflowStack, celery: CeleryWorkers) -> None:
    """Stop every worker (warm shutdown: they are idle), then start ``celery``'s."""
    for name in stack.worker_names:
        stack.stop_worker(name, timeout=60)
    stack.celery = celery
    for name in stack.worker_names:
        stack.start_worker(name)


def _celery_run(bench: Bench, stack: AirflowStack, day: datetime, size: int, workers: int, slots: int) -> dict:
    api = stack.client()
    meter = CpuMeter(_parts(bench))
    airflow_before = _airflow_cpu(stack)
    started = time.perf_counter()
    run = api.json(
        "post",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None, "conf": {"start_date": day.date().isoformat(), "reprocess": True}},
    )
    run_id = run["dag_run_id"]
    finished = api.wait_for_run(DAG_ID, run_id, timeout=1800)
    run_seconds = time.perf_counter() - started
    cpu = meter.stop()
    airflow_after = _airflow_cpu(stack)
    before = airflow_before
    airflow_cores = {name: (after - before.get(name, 0.0)) / run_seconds for name, after in airflow_after.items()}
    if finished["state"] != "success":
        raise RuntimeError(f"the Celery run with {workers}x{slots} slots ended {finished['state']}")
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/process_batch/listMapped"
    mapped = api.json("get", path, params={"limit": 1000})["task_instances"]
    starts = [datetime.fromisoformat(ti["start_date"]) for ti in mapped]
    ends = [datetime.fromisoformat(ti["end_date"]) for ti in mapped]
    wall = (max(ends) - min(starts)).total_seconds()
    xcom = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/finalize/xcomEntries/return_value"
    finalize = api.json("get", xcom)
    messages = int(finalize["value"]["completed"])
    if messages != size:
        raise RuntimeError(f"the Celery run with {workers}x{slots} slots archived {messages:,} of {size:,} messages")
    return {
        "workers": workers,
        "slots_per_worker": slots,
        "slots": workers * slots,
        "messages": messages,
        "batches": len(mapped),
        "hostnames": sorted({ti["hostname"] for ti in mapped}),
        "wall_seconds": wall,
        "per_second": messages / wall,
        "run_seconds": run_seconds,
        "mean_task_seconds": sum(ti["duration"] or 0 for ti in mapped) / len(mapped),
        "cores_used": {
            "machine_busy": _busy(cpu),
            # over the run's wall time: the Celery workers with their task processes, and Airflow's other processes
            "celery_workers": sum(value for name, value in airflow_cores.items() if name in stack.worker_names),
            "airflow_services": sum(value for name, value in airflow_cores.items() if name not in stack.worker_names),
            **{name: _share(cpu, name) for name in _parts(bench)},
        },
    }


def _airflow_cpu(stack: AirflowStack) -> dict[str, float]:
    """CPU seconds so far of each of the stack's processes with everything under it: a Celery worker's pool
    processes and the task processes they forked and reaped."""
    seconds = {}
    for name, proc in stack.processes.items():
        total = 0.0
        try:
            main = psutil.Process(proc.pid)
            tree = [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in tree:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
        seconds[name] = total
    return seconds


def _parts(bench: Bench) -> dict[str, int | None]:
    servers = {"es_server": bench.es.pid, "s3_server": bench.s3.server.pid, "s3_proxy": os.getpid()}
    return {**servers, "mysqld": mysqld_pid()}


def _busy(cpu: dict[str, float | None]) -> float:
    return (cpu["machine_busy"] or 0.0) / (cpu["wall"] or 1.0)


def _share(cpu: dict[str, float | None], name: str) -> float | None:
    value = cpu.get(name)
    return None if value is None else value / (cpu["wall"] or 1.0)
