"""Extraction of a large window: ``pipeline.extract`` against a bare PIT + ``search_after`` loop.

Each runs alone in a worker process, so its peak RSS is its own (the servers live elsewhere).

The product stages the window's ids and gives each batch its range of them; a batch writes its
ids into ``message_tracking`` when a mapped task first claims it. So the product's figures carry a
second time, ``claim_tracking``: every batch's tracking run one after the other right after the
extraction (what the mapped tasks pay between them, in parallel), measured apart from it.

Comparators for the benchmark only, not product paths, each the same ``pipeline.extract`` with the
ledger hook swapped, so designs are measured on the same ids, the same server and the same load:

- ``tracked-at-extraction``: the design before batches tracked their own ids: after staging, one
  ordered pass tracks the whole window in ``message_tracking`` within the extraction (batches cut
  by each id's rank in message_id order);
- ``direct``: every page of ids inserted straight into ``message_tracking`` (``track_messages.sql``,
  the design before the staging table);
- ``previous-indexes``: ``tracked-at-extraction`` into a ``message_tracking`` with the secondary
  indexes it had before ``ix_message_tracking_status`` replaced two of them;
- ``previous-staging``: the staged design before pages went as one ``JSON_TABLE`` statement each and
  batches were cut in message_id order (a row per id through ``executemany``, batches by arrival);
- ``empty-table``: ``tracked-at-extraction`` with its ordered pass into the (empty) ledger on
  MariaDB's bulk-load path for an empty table (``unique_checks = 0``, ``foreign_key_checks = 0``,
  one transaction, no ``ON DUPLICATE KEY``: the table then takes a table lock and sorts each index
  instead of inserting row by row). It measures what a ledger table per day would get from that
  path, which applies to an empty table or partition only;
- ``collected-heap``: the product with its steps' heap left to the garbage collector
  (``bench/collected_heap.py``): what ``message_export.heap`` saves the extraction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from elasticsearch import Elasticsearch

from bench.collected_heap import leave_heap_to_the_collector
from bench.measure import peak_rss_mb, rate, reset_peak_rss, rss_mb
from bench.pipeline_run import open_window

DESIGNS = (
    "product",
    "tracked-at-extraction",
    "direct",
    "previous-indexes",
    "previous-staging",
    "empty-table",
    "collected-heap",
)
# designs whose batches track their own ids when claimed (the rest track them within the extraction)
TRACKED_AT_CLAIM = ("product", "collected-heap")
PREVIOUS_INDEXES = (
    "ALTER TABLE message_tracking DROP INDEX ix_message_tracking_status,"
    " ADD INDEX ix_message_tracking_retry (status, last_attempted), ADD INDEX ix_message_tracking_lease (lease_token)"
)


def run_extract(day: datetime, design: str = "product") -> dict[str, Any]:
    """Time ``pipeline.extract`` of ``day`` (ids streamed into the MySQL ledger).

    :param design: ``product`` (the pipeline as it ships) or one of the comparators above (``DESIGNS``).
    """
    from message_export import pipeline

    if design == "tracked-at-extraction":
        _swap_tracking(pipeline, _tracked_at_extraction_hook())
    elif design == "direct":
        _use_direct_inserts(pipeline)
    elif design == "previous-indexes":
        _use_previous_indexes(pipeline)
    elif design == "previous-staging":
        _use_previous_staging(pipeline)
    elif design == "empty-table":
        _use_empty_table_bulk_load(pipeline)
    elif design == "collected-heap":
        leave_heap_to_the_collector()
    elif design != "product":
        raise ValueError(f"unknown extraction design {design!r}; use one of {', '.join(DESIGNS)}")
    window = open_window(day, "bench-extraction")
    # the pipeline's own summary lines (ids read and staged in Xs; tracked in Ys) go with the figures
    lines: list[str] = []
    handler = _Collect(lines)
    pipeline.log.addHandler(handler)
    pipeline.log.setLevel(logging.INFO)
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    batch_ids = pipeline.extract(window)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    pipeline.log.removeHandler(handler)
    job_id = int(window["job_id"])
    ids = _ledger_ids(job_id)
    claim_tracking = _track_every_batch(job_id) if design in TRACKED_AT_CLAIM else None
    return {
        "design": design,
        "ids": ids,
        "batches": len(batch_ids),
        "seconds": seconds,
        "per_second": rate(ids, seconds),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        "pipeline_log": [line for line in lines if "extracted" not in line],
        "claim_tracking": claim_tracking,
    }


class _Collect(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _swap_tracking(pipeline: Any, hook_class: type) -> None:
    """Make ``pipeline`` build its ledger hook from ``hook_class`` (a comparator's)."""
    from dataclasses import replace

    from message_export.export import ExportServices

    original = pipeline._services

    def services(config: Any) -> ExportServices:
        return replace(original(config), tracking=hook_class(config.connections.mysql))

    pipeline._services = services


def _capture_plans(pipeline: Any) -> list[Any]:
    """Record every batch plan ``pipeline`` makes (comparators that cut batches by arrival need it)."""
    plans: list[Any] = []
    plan_batches = pipeline.plan_batches

    def planned(*args: Any) -> Any:
        plans.append(plan_batches(*args))
        return plans[-1]

    pipeline.plan_batches = planned
    return plans


def _use_direct_inserts(pipeline: Any) -> None:
    """Make ``pipeline.extract`` insert each page into ``message_tracking`` directly (comparator)."""
    from message_export.batching import BatchPlan
    from message_export.hooks.tracking import MessageTrackingHook
    from message_export.model import Job
    from message_export.windows import Window

    plans = _capture_plans(pipeline)

    arrived = [0]  # ids read so far

    class DirectInsertsHook(MessageTrackingHook):
        """Every page goes to ``track_messages`` as it arrives; no staging table, no ordered pass."""

        jobs: ClassVar[dict[int, Job]] = {}
        batch_ids: ClassVar[dict[int, int]] = {}

        def get_job(self, window: Window) -> Job:
            job = super().get_job(window)
            self.jobs[job.job_id] = job
            return job

        def ensure_batches(self, job_id: int, batch_numbers: Sequence[int]) -> dict[int, int]:
            self.batch_ids.update(super().ensure_batches(job_id, batch_numbers))
            return self.batch_ids

        def start_staging(self, job_id: int) -> None:
            pass

        def stage_ids(self, job_id: int, message_ids: Sequence[str]) -> None:
            # batches cut by arrival position, as they were before the ordered pass existed
            plan, first = plans[-1], arrived[-1]
            rows = [(mid, self.batch_ids[plan.batch_number(first + offset)]) for offset, mid in enumerate(message_ids)]
            arrived.append(first + len(message_ids))
            self.track_messages(self.jobs[job_id], rows)

        def stage_batches(self, job_id: int, batch_ids: dict[int, int], plan: BatchPlan) -> int:
            return arrived[-1]  # every id is tracked already

    _swap_tracking(pipeline, DirectInsertsHook)


# The staged design as it was before pages went as one JSON_TABLE statement and batches were cut in
# message_id order: a row per id through the driver's executemany, batch ids by arrival position.
PREVIOUS_STAGING_TABLE = (
    "CREATE TABLE {table} (position INT UNSIGNED NOT NULL, message_id VARBINARY(512) NOT NULL,"
    " batch_id BIGINT UNSIGNED NOT NULL, PRIMARY KEY (position)) ENGINE = InnoDB"
)
PREVIOUS_STAGE = (
    "INSERT INTO {table} (position, message_id, batch_id) VALUES (%s, %s, %s)"
    " ON DUPLICATE KEY UPDATE message_id = VALUES(message_id), batch_id = VALUES(batch_id)"
)
PREVIOUS_TRACK = (
    "INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)"
    " SELECT staged.message_id, %(job_id)s, staged.batch_id, %(start_date)s, 'pending' FROM {table} AS staged"
    " ORDER BY staged.message_id ON DUPLICATE KEY UPDATE message_id = message_tracking.message_id"
)


def _use_previous_staging(pipeline: Any) -> None:
    """Stage and track as the product did before (comparator): see ``PREVIOUS_STAGE``."""
    from message_export.batching import BatchPlan
    from message_export.hooks.tracking import INSERT_CHUNK, MessageTrackingHook

    plans = _capture_plans(pipeline)
    arrived = [0]  # ids read so far

    class PreviousStagingHook(MessageTrackingHook):
        batch_ids: ClassVar[dict[int, int]] = {}

        def ensure_batches(self, job_id: int, batch_numbers: Sequence[int]) -> dict[int, int]:
            self.batch_ids.update(super().ensure_batches(job_id, batch_numbers))
            return self.batch_ids

        def start_staging(self, job_id: int) -> None:
            drop, create = self._staging_sql("drop_staged_ids", job_id), PREVIOUS_STAGING_TABLE
            self._run(lambda cursor: cursor.execute(drop))
            self._run(lambda cursor: cursor.execute(create.format(table=self.staging_table(job_id))))

        def stage_ids(self, job_id: int, message_ids: Sequence[str]) -> None:
            plan, sql = plans[-1], PREVIOUS_STAGE.format(table=self.staging_table(job_id))
            first = arrived[-1]
            arrived.append(first + len(message_ids))
            rows = []
            for offset, mid in enumerate(message_ids):
                position = first + offset
                batch_id = self.batch_ids[plan.batch_number(position)]
                rows.append((position, mid.encode("utf-8", "surrogatepass"), batch_id))
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                self._run(lambda cursor, chunk=chunk: cursor.executemany(sql, chunk))

        def stage_batches(self, job_id: int, batch_ids: dict[int, int], plan: BatchPlan) -> int:
            table = self.staging_table(job_id)
            params = {"job_id": job_id, "start_date": self._fetch("job_start_date", {"job_id": job_id})[0][0]}
            started = time.perf_counter()
            self._run(lambda cursor: cursor.execute(PREVIOUS_TRACK.format(table=table), params))
            _log_tracked(arrived[-1], time.perf_counter() - started)
            self.drop_staging(job_id)
            return arrived[-1]

    _swap_tracking(pipeline, PreviousStagingHook)


def _use_previous_indexes(pipeline: Any) -> None:
    """Give the (empty) ledger the secondary indexes of before the merge (comparator)."""

    class PreviousIndexesHook(_tracked_at_extraction_hook()):  # type: ignore[misc]
        def ensure_schema(self) -> None:
            super().ensure_schema()
            names = {(str(table), str(index)) for table, index in self._fetch("ledger_indexes")}
            if ("message_tracking", "ix_message_tracking_status") in names:
                self._run(lambda cursor: cursor.execute(PREVIOUS_INDEXES))

    _swap_tracking(pipeline, PreviousIndexesHook)


# The ordered pass of the design before batches tracked their own ids (tracked-at-extraction):
# the whole window into message_tracking within the extraction, batches cut by each id's rank in
# message_id order.
ORDERED_PASS = """
INSERT INTO message_tracking (message_id, job_id, batch_id, start_date, status)
SELECT ranked.message_id, %(job_id)s, batch.batch_id, %(start_date)s, 'pending'
FROM (
    SELECT staged.message_id, ROW_NUMBER() OVER (ORDER BY staged.message_id) - 1 AS id_rank
    FROM {table} AS staged
) AS ranked
JOIN batch_progress AS batch
    ON batch.job_id = %(job_id)s
    AND batch.batch_number = LEAST(ranked.id_rank DIV %(batch_size)s, %(last_batch)s)
ORDER BY ranked.id_rank
"""
KEEP_TRACKED = "ON DUPLICATE KEY UPDATE message_id = message_tracking.message_id"


def _log_tracked(ids: int, seconds: float) -> None:
    from message_export import pipeline

    pipeline.log.info("%d ids tracked in %.1fs", ids, seconds)


def _tracked_at_extraction_hook() -> type:
    """The ledger hook of ``tracked-at-extraction`` (comparator): the ordered pass in the extraction."""
    from message_export.batching import BatchPlan
    from message_export.hooks.tracking import MessageTrackingHook

    class TrackedAtExtractionHook(MessageTrackingHook):
        def ordered_pass(self, cursor: Any, sql: str, params: dict[str, Any]) -> int:
            return int(cursor.execute(sql + KEEP_TRACKED, params))

        def stage_batches(self, job_id: int, batch_ids: dict[int, int], plan: BatchPlan) -> int:
            if not plan.batch_count:
                return 0
            start_date = self._fetch("job_start_date", {"job_id": job_id})[0][0]
            params = {
                "job_id": job_id,
                "start_date": start_date,
                "batch_size": plan.batch_size,
                "last_batch": plan.batch_count - 1,
            }
            sql = ORDERED_PASS.format(table=self.staging_table(job_id))
            started = time.perf_counter()
            tracked = self._run(lambda cursor: self.ordered_pass(cursor, sql, params))
            _log_tracked(tracked, time.perf_counter() - started)
            self.drop_staging(job_id)
            return int(tracked)

    return TrackedAtExtractionHook


def _use_empty_table_bulk_load(pipeline: Any) -> None:
    """Track the staged ids through MariaDB's bulk load into an empty table (comparator)."""

    class EmptyTableHook(_tracked_at_extraction_hook()):  # type: ignore[misc]
        def ordered_pass(self, cursor: Any, sql: str, params: dict[str, Any]) -> int:
            # a table per day starts empty: nothing to keep, so no ON DUPLICATE KEY (which the bulk
            # path does not take)
            cursor.execute("SELECT COUNT(*) FROM message_tracking")
            if cursor.fetchone()[0]:
                raise RuntimeError("the empty-table comparator needs an empty message_tracking")
            cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            try:
                return int(cursor.execute(sql, params))
            finally:
                cursor.execute("SET SESSION unique_checks = 1, foreign_key_checks = 1")

    _swap_tracking(pipeline, EmptyTableHook)


def _track_every_batch(job_id: int) -> dict[str, Any]:
    """Track every batch's staged ids one batch after the other, as the batches' first claims do."""
    from message_export.config import load_config
    from message_export.hooks.tracking import MessageTrackingHook

    tracking = MessageTrackingHook(load_config().connections.mysql)
    try:
        batches = tracking.list_job_batches(job_id)
        started = time.perf_counter()
        tracked = sum(tracking.track_staged_batch(batch_id) for batch_id in batches)
        seconds = time.perf_counter() - started
        tracking.drop_staging(job_id)
    finally:
        tracking.close()
    return {"batches": len(batches), "ids": tracked, "seconds": seconds, "per_second": rate(tracked, seconds)}


def _ledger_ids(job_id: int) -> int:
    """The job's ids in the ledger: tracked, or staged for their batch to track."""
    from message_export.config import load_config
    from message_export.hooks.tracking import MessageTrackingHook

    tracking = MessageTrackingHook(load_config().connections.mysql)
    try:
        return tracking.live_job_counts(job_id).total
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
