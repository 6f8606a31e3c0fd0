"""The pipeline, exactly as the DAG's tasks call it: schema, window, extract, ``process_batch`` × N."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from bench.measure import peak_rss_mb, reset_peak_rss, rss_mb
from bench.stage_timers import export_stage_timers


def open_window(day: datetime, run_id: str, reprocess: bool = False) -> dict[str, Any]:
    """Run ``ensure_schema`` and ``resolve_window`` for ``day``; return the window payload."""
    from message_export import pipeline

    pipeline.ensure_schema()
    window = pipeline.resolve_window(
        pipeline.RunFacts(
            run_id=run_id,
            run_type="manual",
            logical_date=None,
            data_interval_start=None,
            data_interval_end=None,
            params={"start_date": day.date().isoformat(), "reprocess": reprocess},
        )
    )
    if window is None:
        raise RuntimeError(f"resolve_window found nothing due for {day:%Y-%m-%d}")
    return window


def run_pipeline(day: datetime, run_id: str = "bench") -> dict[str, Any]:
    """Export the window of ``day`` on one worker; time extraction and processing separately."""
    from message_export import pipeline

    window = open_window(day, run_id)
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    batch_ids = pipeline.extract(window)
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

    window = open_window(day, run_id, reprocess=True)
    started = time.perf_counter()
    batch_ids = pipeline.extract(window)
    return {"batch_ids": batch_ids, "extract_seconds": time.perf_counter() - started}


def process_batches(batch_ids: list[int], run_id: str) -> dict[str, Any]:
    """Process ``batch_ids`` one after another, as one mapped-task slot would; time it."""
    from message_export import pipeline

    timers = export_stage_timers()
    completed = failed = 0
    started_at = time.time()
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        for batch_id in batch_ids:
            counts = pipeline.process_batch(batch_id, run_id)
            completed += counts["completed"]
            failed += counts["failed"]
    finally:
        timers.uninstall()
    return {
        "batches": len(batch_ids),
        "completed": completed,
        "failed": failed,
        "started_at": started_at,
        "finished_at": time.time(),
        "process_seconds": time.perf_counter() - started,
        "process_cpu_seconds": time.process_time() - cpu_started,
        "stages": timers.snapshot(),
        "peak_rss_mb": peak_rss_mb(),
    }
