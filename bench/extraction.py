"""Extraction of a large window: ``pipeline.extract`` against a bare PIT + ``search_after`` loop.

Each runs alone in a worker process, so its peak RSS is its own (the servers live elsewhere).

The product stages the window's ids and gives each batch its range of them; a batch writes its
ids into ``message_tracking`` when a mapped task first claims it. So the product's figures carry a
second time, ``claim_tracking``: every batch's tracking run one after the other right after the
extraction (what the mapped tasks pay between them, in parallel), measured apart from it.
The designs measured against it and rejected: docs/decisions/0006-rejected-extraction-designs.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from logging.handlers import BufferingHandler
from typing import Any

from elasticsearch import Elasticsearch

from bench.measure import peak_rss_mb, rate, reset_peak_rss, rss_mb


def run_extract(day: datetime) -> dict[str, Any]:
    """Time ``pipeline.extract`` of ``day`` (ids staged in the MySQL ledger), then every batch's tracking."""
    from bench.pipeline_run import open_window
    from message_export import pipeline
    from message_export.config import load_config
    from message_export.export import ExportServices

    config = load_config()
    services = ExportServices.from_config(config)
    window = open_window(day, "bench-extraction", config)
    # the pipeline's own summary lines (ids read and staged in Xs, ...) go with the figures
    logger = logging.getLogger(pipeline.__name__)
    handler = BufferingHandler(capacity=100_000)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    batch_ids = pipeline.extract(window, config=config, services=services)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    logger.removeHandler(handler)
    job_id = int(window["job_id"])
    tracking = services.tracking
    ids = tracking.live_job_counts(job_id).total
    claim_started = time.perf_counter()
    tracked = sum(tracking.track_staged_batch(batch_id) for batch_id in tracking.list_job_batches(job_id))
    claim_seconds = time.perf_counter() - claim_started
    tracking.track_staged_ids(job_id)  # none left: drops the staging table
    return {
        "ids": ids,
        "batches": len(batch_ids),
        "seconds": seconds,
        "per_second": rate(ids, seconds),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        "pipeline_log": [line for r in handler.buffer if "ids read and staged in" in (line := r.getMessage())],
        "claim_tracking": {
            "batches": len(batch_ids),
            "ids": tracked,
            "seconds": claim_seconds,
            "per_second": rate(tracked, claim_seconds),
        },
    }


def pit_pages(
    es: Elasticsearch, index: str, timestamp_field: str, day: datetime, page_size: int
) -> Iterator[list[Any]]:
    """Yield the hits of ``day`` page by page with the official client: PIT, ``search_after``, no ``_source``."""
    window = {
        "gte": day.isoformat(),
        "lt": (day + timedelta(days=1)).isoformat(),
        "format": "strict_date_optional_time",
    }
    pit = es.open_point_in_time(index=index, keep_alive="5m")["id"]
    search_after = None
    try:
        while True:
            page = es.search(
                pit={"id": pit, "keep_alive": "5m"},
                query={"range": {timestamp_field: window}},
                sort=[{timestamp_field: {"order": "asc"}}, {"_shard_doc": "asc"}],
                size=page_size,
                source=False,
                search_after=search_after,
                track_total_hits=False,
            )
            pit = page.get("pit_id", pit)
            hits = page["hits"]["hits"]
            yield hits
            if len(hits) < page_size:
                return
            search_after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)


def run_pit_loop(es_url: str, index: str, timestamp_field: str, day: datetime, page_size: int) -> dict[str, Any]:
    """Read every id of ``day`` with the official client and nothing else (:func:`pit_pages`)."""
    es = Elasticsearch(es_url, request_timeout=120)
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    try:
        ids = sum(len([hit["_id"] for hit in hits]) for hits in pit_pages(es, index, timestamp_field, day, page_size))
    finally:
        es.close()
    seconds = time.perf_counter() - started
    return {
        "ids": ids,
        "seconds": seconds,
        "per_second": rate(ids, seconds),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }
