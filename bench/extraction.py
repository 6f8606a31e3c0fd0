"""Extraction of a large window: ``pipeline.extract`` against a bare PIT + ``search_after`` loop.

Each runs alone in a worker process, so its peak RSS is its own (the servers live elsewhere).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from bench.measure import peak_rss_mb, rate, reset_peak_rss, rss_mb
from bench.pipeline_run import open_window


def run_extract(day: datetime) -> dict[str, Any]:
    """Time ``pipeline.extract`` of ``day`` (ids streamed into the MySQL ledger)."""
    from message_export import pipeline

    window = open_window(day, "bench-extraction")
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    batch_ids = pipeline.extract(window)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    ids = _tracked_ids(int(window["job_id"]))
    return {
        "ids": ids,
        "batches": len(batch_ids),
        "seconds": seconds,
        "per_second": rate(ids, seconds),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
    }


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
