"""The run's last steps: reconcile and close the day, then ledger retention."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import (
    AirflowFailException,
)

from message_export.config import ExportConfig, load_config
from message_export.export import ExportServices
from message_export.heap import freeze_startup_objects
from message_export.hooks.archive import ArchiveError
from message_export.hooks.search_errors import SearchError
from message_export.layouts import ArchiveLayout, DayObjects, archive_layout
from message_export.ledger.errors import TrackingError
from message_export.metrics import ExportMetrics
from message_export.model import Job
from message_export.pipeline.failures import explain_failures
from message_export.pipeline.run_context import configured, require_window, window_of
from message_export.publish import DayFigures, publish_day
from message_export.reconciliation import DayMeasurements, judge_day
from message_export.windows import (
    as_utc,
    days_behind,
)

log = logging.getLogger(__name__)


def _reconciliation_figure(unmeasured: list[str], measure: Callable[[], int]) -> int | None:
    """A count for reconciliation; when it cannot be taken, the job still closes (as failed), and why."""
    try:
        return measure()
    except (SearchError, ArchiveError) as error:
        unmeasured.append(f"reconciliation count unavailable: {error}")
        return None


def _record_chain_position(metrics: ExportMetrics, config: ExportConfig, services: ExportServices) -> None:
    """Send how many due days have no job yet; a ledger that cannot be read here costs the metric only."""
    try:
        behind = days_behind(services.tracking.chain_next_start(config.start_date), datetime.now(UTC))
    except TrackingError as error:
        log.warning("chain position not measured for the days-behind metric: %s", error)
        return
    metrics.chain_position(behind)


def _day_figures(figures: DayMeasurements, objects: DayObjects | None) -> DayFigures:
    """What the day's manifest and asset event say of a completed day."""
    counts = figures.counts
    return DayFigures(
        figures.tracked,
        counts["completed"],
        counts["failed"],
        figures.source_count,
        figures.archived_objects,
        dict(objects.figures) if objects is not None else {},
    )


def _measure_day(
    config: ExportConfig, services: ExportServices, job: Job, layout: ArchiveLayout
) -> tuple[DayMeasurements, DayObjects | None]:
    """Take the figures finalize judges the day by: the ledger's counts, the source's, the archive's."""
    tracking = services.tracking
    counts = tracking.job_counts(job.job_id)
    unmeasured: list[str] = []
    settings = config.elasticsearch
    source_count = _reconciliation_figure(
        unmeasured, lambda: services.search.count_window(settings.message_index, settings.timestamp_field, job.window)
    )
    objects: DayObjects | None = None
    try:
        objects = layout.measure_day(job)
    except ArchiveError as error:
        unmeasured.append(f"reconciliation count unavailable: {error}")
    if objects is not None and objects.unreferenced:
        log.warning(
            "%s: %d batch objects under the day's prefix are referenced by no ledger row (left by a dead or "
            "fenced-out writer, or replaced by a re-run); removed once the day completes",
            job.window.day,
            len(objects.unreferenced),
        )
    return DayMeasurements(
        counts=counts,
        extraction_completed=job.extraction_completed,
        source_count=source_count,
        archived_objects=None if objects is None else objects.archived_objects,
        failures=tracking.job_failures(job.job_id, limit=10) if counts["failed"] else (),
        unmeasured=tuple(unmeasured),
    ), objects


@explain_failures
@freeze_startup_objects
def finalize(
    window: Mapping[str, Any] | None,
    on_completed_day: Callable[[dict[str, Any]], None] | None = None,
    *,
    config: ExportConfig | None = None,
    services: ExportServices | None = None,
) -> dict[str, Any]:
    """Close the job row and reconcile it; fail when messages of the job are not archived.

    A completed day gets its manifest written, and its summary handed to ``on_completed_day`` (the
    DAG puts it in the archive asset's event); a failed day gets neither.
    """
    window = require_window(window, "finalize")
    config, services = configured(config, services)
    tracking = services.tracking
    job = tracking.get_job(window_of(window))
    left_staged = tracking.track_staged_ids(job.job_id)  # every id the staging table held is tracked
    if left_staged:
        log.warning("%d ids of batches nothing claimed are tracked now (pending)", left_staged)
    layout = archive_layout(config, services)
    figures, objects = _measure_day(config, services, job, layout)
    verdict = judge_day(figures)
    counts = figures.counts
    published: dict[str, Any] | None = None
    if verdict.status == "completed":
        day = _day_figures(figures, objects)
        try:
            published = publish_day(config, services, job, day)
        except ArchiveError as error:
            verdict = verdict.with_problem(f"manifest not written: {error}")
    if verdict.status == "completed" and objects is not None:
        try:
            layout.tidy_day(job, objects)
        except ArchiveError as error:  # the day is archived; the leftovers wait for its next run
            log.warning("%s: unreferenced batch objects not removed: %s", job.window.day, error)
    status = verdict.status
    tracking.close_job(
        job.job_id,
        status=status,
        total=figures.tracked,
        completed=counts["completed"],
        failed=counts["failed"],
        source_count=figures.source_count,
        archived_objects=figures.archived_objects,
        next_run_date=job.window.next_run_date if status == "completed" else None,
        last_error="; ".join(verdict.problems)[:2000] or None,
    )
    metrics = ExportMetrics()
    metrics.job_closed(status, verdict.gaps)
    _record_chain_position(metrics, config, services)
    log.info(
        "job %s window %s %s: %d messages, %d archived, %d failed, %d unfinished; Elasticsearch count %s, objects %s",
        job.job_id,
        job.window,
        status.upper(),
        figures.tracked,
        counts["completed"],
        counts["failed"],
        figures.unfinished,
        figures.source_count,
        figures.archived_objects,
    )
    if verdict.problems:
        raise AirflowFailException(f"job {job.job_id} window {job.window} failed: " + "; ".join(verdict.problems))
    published = published or {}
    if on_completed_day is not None:
        on_completed_day({**published, "reprocess": bool(window.get("reprocess", False))})
    return {
        "job_id": job.job_id,
        "status": status,
        "total": figures.tracked,
        "completed": counts["completed"],
        "manifest": published.get("manifest"),
    }


@explain_failures
@freeze_startup_objects
def announce_late_days(
    window: Mapping[str, Any] | None,
    announce: Callable[[dict[str, Any]], None],
    *,
    config: ExportConfig | None = None,
    services: ExportServices | None = None,
) -> dict[str, Any]:
    """Publish the days a retry completed after their own run had closed them as failed: each gets its
    manifest and, through ``announce``, its asset event — once per completion, from the run that
    completed it (or the first run after it whose task got this far).
    """
    window = require_window(window, "announce_late_days")  # no window: retry_failed did not run either
    config, services = configured(config, services)
    tracking = services.tracking
    own_job = int(window["job_id"])
    layout = archive_layout(config, services)
    announced: list[str] = []
    for job in tracking.unannounced_days(own_job):
        figures, objects = _measure_day(config, services, job, layout)
        verdict = judge_day(figures)
        if verdict.problems:
            log.warning("%s completed late but is not announced: %s", job.window.day, "; ".join(verdict.problems))
            continue
        day = _day_figures(figures, objects)
        published = publish_day(config, services, job, day)
        if objects is not None:
            layout.tidy_day(job, objects)
        if tracking.mark_announced(job.job_id):
            announce({**published, "reprocess": False, "completed_late": True})
            announced.append(job.window.day.isoformat())
    if announced:
        log.info("announced %d days completed late: %s", len(announced), ", ".join(announced))
    return {"announced": announced}


@explain_failures
@freeze_startup_objects
def purge_ledger(
    now: datetime | None = None, *, config: ExportConfig | None = None, services: ExportServices | None = None
) -> dict[str, Any]:
    """Remove the ``message_tracking`` rows of completed days older than the retention, in short chunks.

    ``job_runs`` (each day's figures) and ``batch_progress`` stay. Retention is wall-clock time, so a
    backfill of old days purges like any run. Stops after the time budget; the rest waits for the
    next run.
    """
    config = config or load_config()
    retention = config.retention
    if not retention.enabled:
        log.info("ledger retention is off (retention.keep_days not set): message_tracking keeps every day")
        return {"days": 0, "rows": 0, "chunks": 0, "seconds": 0.0}
    assert retention.keep_days is not None
    _, services = configured(config, services)
    tracking = services.tracking
    now = as_utc(now or datetime.now(UTC))
    cutoff = now - timedelta(days=retention.keep_days)
    started = time.monotonic()
    deadline = started + retention.time_budget_seconds
    purged: list[tuple[date, int]] = []
    chunks = 0
    expired = tracking.expired_days(cutoff)
    for job_id, day in expired:
        if time.monotonic() >= deadline:
            break
        removed_of_day, after, finished = 0, b"", False
        while time.monotonic() < deadline:
            removed, last = tracking.purge_chunk(job_id, after, retention.chunk_rows)
            if removed is None:
                log.info("%s was reopened while being purged: kept (%d rows removed before)", day, removed_of_day)
                break
            if last is None:
                finished = True
                break
            chunks += 1
            removed_of_day += removed
            after = last
        if finished:
            tracking.mark_purged(job_id)
        if removed_of_day or finished:
            purged.append((day, removed_of_day))
    seconds = time.monotonic() - started
    rows = sum(removed for _, removed in purged)
    left = len(expired) - len(purged)
    log.info(
        "ledger retention (keep %d days, cutoff %s): removed %d message_tracking rows of %d days in %d chunks "
        "in %.1fs%s%s",
        retention.keep_days,
        f"{cutoff:%Y-%m-%d %H:%M} UTC",
        rows,
        len(purged),
        chunks,
        seconds,
        "; " + ", ".join(f"{day} {removed}" for day, removed in purged[:31]) if purged else "",
        f"; {left} expired days left for the next run (time budget {retention.time_budget_seconds:.0f}s)"
        if left > 0
        else "",
    )
    ExportMetrics().ledger_purged(rows, left, seconds)
    return {"days": len(purged), "rows": rows, "chunks": chunks, "seconds": round(seconds, 3)}
