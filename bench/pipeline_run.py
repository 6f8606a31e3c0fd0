"""The pipeline as the DAG's tasks call it: schema, window, extract, ``process_batch`` × N.

Every step gets the run's config and services through its ``config=`` / ``services=`` parameters;
for processing, the services are the product's own hooks behind :class:`Timed`, which adds a
``perf_counter``/``process_time`` pair around the calls the export makes to them (wall and CPU time
per stage; the stages of a chunk run one after another, so the process's CPU time during a stage,
its upload threads included, is that stage's).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bench.measure import peak_rss_mb, reset_peak_rss, rss_mb

if TYPE_CHECKING:
    from message_export.config import ExportConfig
    from message_export.export import ExportServices

# the hook methods an export chunk calls, by the stage they belong to
STAGES = {
    "search": {"fetch_messages": "es_mget", "fetch_related": "es_related"},
    "archive": {"put_objects": "s3_put"},
    "tracking": dict.fromkeys(
        ("get_batch", "claim_batch", "renew_lease", "record_results", "refresh_batches"), "mysql"
    ),
}


class StageTimes:
    """Accumulated wall seconds, CPU seconds and calls per stage."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.figures: dict[str, dict[str, float]] = defaultdict(
            lambda: {"seconds": 0.0, "cpu_seconds": 0.0, "calls": 0}
        )

    def add(self, stage: str, seconds: float, cpu: float) -> None:
        with self.lock:
            figures = self.figures[stage]
            figures["seconds"] += seconds
            figures["cpu_seconds"] += cpu
            figures["calls"] += 1

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self.lock:
            return {name: dict(values) for name, values in sorted(self.figures.items())}


class Timed:
    """A hook seen through a stopwatch: the methods named in ``stages`` are timed, the rest pass through."""

    def __init__(self, hook: Any, stages: dict[str, str], times: StageTimes) -> None:
        self.hook, self.stages, self.times = hook, stages, times

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.hook, name)
        stage = self.stages.get(name)
        if stage is None:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.times.add(stage, time.perf_counter() - started, time.process_time() - cpu_started)

        return timed


def run_config() -> ExportConfig:
    """The config the orchestrator wrote for this worker (``MESSAGE_EXPORT_CONFIG``)."""
    from message_export.config import load_config

    return load_config()


def timed_services(config: ExportConfig, times: StageTimes) -> ExportServices:
    """The product's services for ``config``, each hook behind :class:`Timed`."""
    from message_export.export import ExportServices

    services = ExportServices.from_config(config)
    return replace(
        services,
        **{name: Timed(getattr(services, name), stages, times) for name, stages in STAGES.items()},
    )


def open_window(day: datetime, run_id: str, config: ExportConfig, reprocess: bool = False) -> dict[str, Any]:
    """Run ``ensure_schema`` and ``resolve_window`` for ``day``; return the window payload."""
    from message_export import pipeline

    pipeline.ensure_schema(config=config)
    window = pipeline.resolve_window(run_facts(day, run_id, reprocess), config=config)
    if window is None:
        raise RuntimeError(f"resolve_window found nothing due for {day:%Y-%m-%d}")
    return window


def run_facts(day: datetime, run_id: str, reprocess: bool = False) -> Any:
    """A manual run with ``start_date`` = ``day``, as the trigger form makes it."""
    from message_export import pipeline

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
    from message_export import pipeline

    config = run_config()
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
    from message_export import pipeline

    config = run_config()
    window = open_window(day, run_id, config, reprocess=True)
    started = time.perf_counter()
    batch_ids = pipeline.extract(window, config=config)
    return {"batch_ids": batch_ids, "extract_seconds": time.perf_counter() - started}


def process_batches(batch_ids: list[int], run_id: str) -> dict[str, Any]:
    """Process ``batch_ids`` one after another, as one mapped-task slot would; time it by stage."""
    from message_export import pipeline

    config = run_config()
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
        "stages": times.snapshot(),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_every_step(day: datetime, run_id: str) -> dict[str, float]:
    """Run every step of the DAG for ``day`` (re-exported: ``reprocess``) one after another, as its
    tasks do, without Airflow; return each step's seconds."""
    from message_export import pipeline

    config = run_config()
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
