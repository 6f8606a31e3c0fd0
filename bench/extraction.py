"""Extraction of a large window: ``pipeline.extract`` against a bare PIT + ``search_after`` loop.

Each runs alone in a worker process, so its peak RSS is its own (the servers live elsewhere).

``design="direct"`` is a comparator for the benchmark only, not a product path: the same
``pipeline.extract`` with the ledger hook swapped for one that inserts every page of ids straight
into ``message_tracking`` (``track_messages.sql``, the design before the staging table), so the two
designs are measured on the same ids, the same server and the same machine load.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from elasticsearch import Elasticsearch

from bench.measure import peak_rss_mb, rate, reset_peak_rss, rss_mb
from bench.pipeline_run import open_window


def run_extract(day: datetime, design: str = "product") -> dict[str, Any]:
    """Time ``pipeline.extract`` of ``day`` (ids streamed into the MySQL ledger).

    :param design: ``product`` (the pipeline as it ships) or ``direct`` (the comparator above).
    """
    from message_export import pipeline

    if design == "direct":
        _use_direct_inserts(pipeline)
    elif design != "product":
        raise ValueError(f"unknown extraction design {design!r}; use 'product' or 'direct'")
    window = open_window(day, "bench-extraction")
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    batch_ids = pipeline.extract(window)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    ids = _tracked_ids(int(window["job_id"]))
    return {
        "design": design,
        "ids": ids,
        "batches": len(batch_ids),
        "seconds": seconds,
        "per_second": rate(ids, seconds),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
    }


def _use_direct_inserts(pipeline: Any) -> None:
    """Make ``pipeline.extract`` insert each page into ``message_tracking`` directly (comparator)."""
    from dataclasses import replace

    from message_export.export import ExportServices
    from message_export.hooks.tracking import MessageTrackingHook
    from message_export.model import Job
    from message_export.windows import Window

    class DirectInsertsHook(MessageTrackingHook):
        """Every page goes to ``track_messages`` as it arrives; no staging table, no ordered pass."""

        jobs: ClassVar[dict[int, Job]] = {}

        def get_job(self, window: Window) -> Job:
            job = super().get_job(window)
            self.jobs[job.job_id] = job
            return job

        def start_staging(self, job_id: int) -> None:
            pass

        def stage_ids(self, job_id: int, rows: Sequence[tuple[int, str, int]]) -> None:
            self.track_messages(self.jobs[job_id], [(mid, batch_id) for _position, mid, batch_id in rows])

        def track_staged(self, job: Job) -> int:
            return 0

    original = pipeline._services

    def services(config: Any) -> ExportServices:
        return replace(original(config), tracking=DirectInsertsHook(config.connections.mysql))

    pipeline._services = services


def _tracked_ids(job_id: int) -> int:
    from message_export.config import load_config
    from message_export.hooks.tracking import MessageTrackingHook

    tracking = MessageTrackingHook(load_config().connections.mysql)
    try:
        return sum(tracking.job_counts(job_id).values())
    finally:
        tracking.close()


def run_pit_loop(es_url: str, index: str, timestamp_field: str, day: datetime, page_size: int) -> dict[str, Any]:
    """Read every id of ``day`` with the official client: PIT, ``search_after``, no ``_source``."""
    es = Elasticsearch(es_url, request_timeout=120)
    query = {
        "range": {
            timestamp_field: {
                "gte": day.isoformat(),
                "lt": (day + timedelta(days=1)).isoformat(),
                "format": "strict_date_optional_time",
            }
        }
    }
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    pit = es.open_point_in_time(index=index, keep_alive="5m")["id"]
    ids = 0
    search_after = None
    try:
        while True:
            page = es.search(
                pit={"id": pit, "keep_alive": "5m"},
                query=query,
                sort=[{timestamp_field: {"order": "asc"}}, {"_shard_doc": "asc"}],
                size=page_size,
                source=False,
                search_after=search_after,
                track_total_hits=False,
            )
            pit = page.get("pit_id", pit)
            hits = page["hits"]["hits"]
            ids += len([hit["_id"] for hit in hits])
            if len(hits) < page_size:
                break
            search_after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)
        es.close()
    seconds = time.perf_counter() - started
    return {
        "ids": ids,
        "seconds": seconds,
        "per_second": rate(ids, seconds),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }
