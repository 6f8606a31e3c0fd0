"""The steps of the ``message_export`` DAG, one function per task.

Each step takes plain values (a window dict from XCom, a batch id, run facts) so it can run under
Airflow or from a benchmark alike; only ids, counts and dates cross between steps.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)

from message_export.batching import plan_batches
from message_export.config import ConfigError, ExportConfig, load_config
from message_export.export import ExportServices, ExportSummary, MessageExporter
from message_export.heap import settled_heap
from message_export.hooks.archive import ArchiveError
from message_export.hooks.search import SearchError
from message_export.hooks.tracking import TrackingError
from message_export.keys import day_prefix
from message_export.metrics import ExportMetrics
from message_export.model import Job, ReconciliationGaps
from message_export.publish import DayFigures, publish_day
from message_export.read_ahead import read_ahead
from message_export.resources import DeploymentError
from message_export.windows import (
    Window,
    WindowError,
    as_utc,
    choose_window,
    days_behind,
    interval_window,
    requested_window,
    run_bound,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_CONN_ID = re.compile(r"conn_id `([^`]*)`")


def explained(step: Callable[..., T]) -> Callable[..., T]:
    """Turn known failures into one line that names the problem, the value and the fix.

    A deployment or configuration error, a missing connection, index or bucket, or wrong credentials
    fail the task without retries (retrying cannot help); a failure whose type is retryable (an
    unreachable service, partial results) fails it for Airflow to retry.
    """

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return step(*args, **kwargs)
        except (DeploymentError, ConfigError, WindowError, ArchiveError) as error:
            raise AirflowFailException(str(error)) from None
        except AirflowNotFoundException as error:
            match = _CONN_ID.search(str(error))
            conn_id = match[1] if match else str(error)
            raise AirflowFailException(
                f"Airflow connection '{conn_id}' is not defined; create it (Admin → Connections) or set "
                f"AIRFLOW_CONN_{conn_id.upper()}, or change 'connections' in the config file"
            ) from None
        except (SearchError, TrackingError) as error:
            if error.retryable:
                raise AirflowException(str(error)) from None
            raise AirflowFailException(str(error)) from None

    return wrapper


@dataclass(frozen=True)
class RunFacts:
    """What a step needs to know about the Airflow run it belongs to."""

    run_id: str
    run_type: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    params: Mapping[str, Any]

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> RunFacts:
        dag_run = context["dag_run"]
        run_type = getattr(dag_run, "run_type", "manual")
        return cls(
            run_id=str(dag_run.run_id),
            run_type=str(getattr(run_type, "value", run_type)),
            logical_date=context.get("logical_date"),
            data_interval_start=context.get("data_interval_start"),
            data_interval_end=context.get("data_interval_end"),
            params=dict(context.get("params") or {}),
        )


def _window_payload(job: Job, reprocess: bool, bound: datetime) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "start_date": job.window.start.isoformat(),
        "end_date": job.window.end.isoformat(),
        "reprocess": reprocess,
        "bound": bound.isoformat(),
    }


def _window_of(payload: Mapping[str, Any]) -> Window:
    return Window(datetime.fromisoformat(payload["start_date"]), datetime.fromisoformat(payload["end_date"]))


def _services(config: ExportConfig) -> ExportServices:
    return ExportServices.from_config(config)


@explained
def ensure_schema() -> None:
    """Create the ledger tables if missing."""
    config = load_config()
    tracking = _services(config).tracking
    tracking.ensure_schema()
    log.info(
        "ledger schema ready (job_runs, batch_progress, message_tracking) via connection '%s'", config.connections.mysql
    )


@explained
def resolve_window(run: RunFacts, now: datetime | None = None) -> dict[str, Any] | None:
    """Pick the run's window, open or resume its job row; ``None`` when nothing is due."""
    config = load_config()
    tracking = _services(config).tracking
    now = as_utc(now or datetime.now(UTC))
    requested = requested_window(run.params.get("start_date"), run.params.get("end_date"))
    reprocess = bool(run.params.get("reprocess", False))
    if reprocess and requested is None:
        raise WindowError("param reprocess=true needs start_date: name the window to re-export")
    backfill = None
    if run.run_type == "backfill" and run.data_interval_start and run.data_interval_end:
        backfill = interval_window(run.data_interval_start, run.data_interval_end)
    bound = run_bound(
        run_type=run.run_type,
        data_interval_end=run.data_interval_end,
        logical_date=run.logical_date,
        now=now,
    )
    needs_chain = requested is None and backfill is None
    chain_next_start = tracking.chain_next_start(config.start_date) if needs_chain else now
    decision = choose_window(
        requested=requested,
        backfill_interval=backfill,
        resumable=tracking.resumable_window() if needs_chain else None,
        chain_next_start=chain_next_start,
        bound=bound,
    )
    log.info("run %s (%s): %s", run.run_id, run.run_type, decision.reason)
    if decision.window is None:
        ExportMetrics().chain_position(days_behind(chain_next_start, now))
        return None
    if requested is not None and requested.end > now:
        raise WindowError(f"window {requested} has not ended yet (now {now:%Y-%m-%d %H:%M} UTC); pick an earlier day")
    job = tracking.open_job(decision.window, run.run_id)
    log.info("job %s opened for window %s (reprocess=%s)", job.job_id, job.window, reprocess)
    return _window_payload(job, reprocess, bound)


def next_window_due(window: Mapping[str, Any]) -> bool:
    """Tell whether the window after this one is already due (the chain is behind)."""
    following = _window_of(window).following()
    due = following.end <= datetime.fromisoformat(window["bound"])
    log.info("next window %s %s", following, "is already due: triggering a catch-up run" if due else "is not due yet")
    return due


@explained
@settled_heap
def extract(window: Mapping[str, Any]) -> list[int]:
    """Stage every id of the window in the ledger, cut into batches; return the batch ids.

    A batch's ids enter ``message_tracking`` (as pending) when the batch is first claimed, so a
    million ledger rows are written by the mapped tasks in parallel, not here; until then the
    batch's ``staged`` count is pending in every count of the ledger.
    """
    config = load_config()
    services = _services(config)
    search, tracking = services.search, services.tracking
    es_cfg = config.elasticsearch
    job = tracking.get_job(_window_of(window))
    search.check_indices([es_cfg.message_index, *es_cfg.related.values()])
    services.archive.check_bucket(config.s3.bucket, config.s3.prefix)
    started = time.monotonic()
    total = search.count_window(es_cfg.message_index, es_cfg.timestamp_field, job.window)
    plan = plan_batches(total, config.batch_size, config.max_batches)
    log.info(
        "window %s: %d messages in '%s'; %d batches of up to %d",
        job.window,
        total,
        es_cfg.message_index,
        plan.batch_count,
        plan.batch_size,
    )
    batch_ids = tracking.ensure_batches(job.job_id, list(range(plan.batch_count)))
    # Ids go to a staging table of the job (keyed by message_id, a small table of its own): each
    # batch then holds a range of it in message_id order and tracks those ids when first claimed.
    tracking.start_staging(job.job_id)
    position = 0
    next_report = 100_000
    pages = search.iter_window_ids(
        es_cfg.message_index,
        es_cfg.timestamp_field,
        job.window,
        page_size=es_cfg.page_size,
        keep_alive=es_cfg.pit_keep_alive,
    )
    # the next page is read from Elasticsearch while this one is written to MySQL
    for page in read_ahead(pages, depth=2):
        tracking.stage_ids(job.job_id, page)
        position += len(page)
        if position >= next_report:
            log.info(
                "extracted %d / %d ids (%.0f ids/s)", position, total, position / max(time.monotonic() - started, 1e-6)
            )
            next_report += 100_000
    streamed = time.monotonic() - started
    if position and not plan.batch_count:
        # the count found nothing but ids arrived since: plan batches for what arrived
        plan = plan_batches(position, config.batch_size, config.max_batches)
        batch_ids = tracking.ensure_batches(job.job_id, list(range(plan.batch_count)))
        log.info("%d ids arrived after a count of 0: %d batches planned for them", position, plan.batch_count)
    staged = tracking.stage_batches(job.job_id, batch_ids, plan)
    log.info(
        "%d ids read and staged in %.1fs, %d batches given their ranges in %.1fs (%d ids staged); each batch "
        "tracks its own when claimed",
        position,
        streamed,
        plan.batch_count,
        time.monotonic() - started - streamed,
        staged,
    )
    already_tracked = sum(tracking.job_counts(job.job_id).values())
    if already_tracked:
        # An earlier extraction of this window tracked ids already: track the rest now, so no count
        # of the ledger holds an id both as tracked and as staged.
        tracked = tracking.track_staged_job(job.job_id)
        log.info(
            "%d ids of the window were tracked by an earlier extraction: the %d others tracked now in %.1fs",
            already_tracked,
            tracked,
            time.monotonic() - started - streamed,
        )
    if window.get("reprocess"):
        reset = tracking.reset_for_reprocess(job.job_id)
        log.info("reprocess: %d already exported messages set back to pending", reset)
    tracking.refresh_batches(list(batch_ids.values()))
    tracking.complete_extraction(job.job_id)
    batches = tracking.list_job_batches(job.job_id)
    seconds = time.monotonic() - started
    log.info(
        "extraction of window %s done: %d ids read in %.1fs and staged, %d batches to process",
        job.window,
        position,
        seconds,
        len(batches),
    )
    ExportMetrics().extraction_done(position, seconds)
    return batches


def _run_metadata(run_id: str, job_id: int | str, batch: str) -> dict[str, str]:
    return {
        "job-id": str(job_id),
        "batch": batch,
        "dag-run-id": run_id[:200],
        "exported-at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _summary_line(what: str, summary: ExportSummary) -> str:
    rate = summary.completed / summary.seconds if summary.seconds else 0.0
    return (
        f"{what}: {summary.completed} archived, {summary.failed} failed of {summary.claimed} claimed "
        f"in {summary.seconds:.1f}s ({rate:.0f} msg/s, {summary.bytes_written / 1e6:.1f} MB)"
    )


@explained
@settled_heap
def process_batch(batch_id: int, run_id: str, label: Callable[[str], None] | None = None) -> dict[str, int]:
    """Export one batch's unfinished messages; return its counts.

    :param label: receives the batch's readable name for the UI (``batch 17 · 500 msgs``).
    """
    config = load_config()
    services = _services(config)
    batch = services.tracking.get_batch(batch_id)
    if label is not None:
        label(batch.label)
    lease = uuid.uuid4().hex
    claimed = services.tracking.claim_batch(batch_id, lease, config.lease_seconds, config.max_attempts)
    exporter = MessageExporter(config, services, _run_metadata(run_id, batch.job_id, str(batch.batch_number)))
    summary = exporter.export(claimed, lease)
    services.tracking.refresh_batches([batch_id])
    what = f"{batch.label} (batch_id {batch_id}, job {batch.job_id})"
    log.info(_summary_line(what, summary))
    summary.log_failures(log, what)
    ExportMetrics().batch_exported(summary)
    if summary.failed:
        raise AirflowFailException(
            f"{what}: {summary.failed} of {summary.claimed} messages failed "
            f"(first: {summary.failures[0][0]!r}: {summary.failures[0][1]}); retry_failed will retry them"
        )
    return {"batch_id": batch_id, "completed": summary.completed, "failed": summary.failed}


def _require_window(window: Mapping[str, Any] | None, step: str) -> Mapping[str, Any]:
    """``retry_failed`` and ``finalize`` run whatever happened upstream; without a window (the schema
    or window step failed) there is nothing of this run to retry or close."""
    if window is None:
        raise AirflowSkipException(
            f"{step}: no window was resolved for this run (ensure_schema or resolve_window failed; "
            "their log says why), so there is nothing to do"
        )
    return window


@explained
@settled_heap
def retry_failed(window: Mapping[str, Any] | None, run_id: str) -> dict[str, int]:
    """Retry failed (and abandoned) messages of this and earlier jobs, with backoff, within a time budget."""
    window = _require_window(window, "retry_failed")
    config = load_config()
    services = _services(config)
    tracking = services.tracking
    retry = config.retry
    job_id = int(window["job_id"])
    left_staged = tracking.track_staged_job(job_id)
    if left_staged:
        log.warning("%d ids of batches no task claimed are tracked now, to be retried here", left_staged)
    deadline = time.monotonic() + retry.time_budget_seconds
    exporter = MessageExporter(config, services, _run_metadata(run_id, job_id, "retry"))
    total = ExportSummary()
    touched_batches: set[int] = set()
    touched_jobs: set[int] = set()
    rounds = 0
    while True:
        given_up = tracking.give_up_exhausted(config.max_attempts)
        if given_up:
            log.warning("%d messages abandoned by dead workers had no attempts left: marked failed", given_up)
        lease = uuid.uuid4().hex
        claimed = tracking.claim_retryable(
            job_id=job_id,
            lease_token=lease,
            lease_seconds=config.lease_seconds,
            max_attempts=config.max_attempts,
            backoff_seconds=retry.backoff_seconds,
            max_backoff_seconds=retry.max_backoff_seconds,
            limit=config.fetch_chunk_size,
        )
        if claimed:
            rounds += 1
            summary = exporter.export(claimed, lease)
            log.info(_summary_line(f"retry round {rounds}", summary))
            summary.log_failures(log, f"retry round {rounds}")
            total.claimed += summary.claimed
            total.completed += summary.completed
            total.failed += summary.failed
            total.bytes_written += summary.bytes_written
            touched_batches.update(m.batch_id for m in claimed)
            touched_jobs.update(m.job_id for m in claimed)
            continue
        wait = tracking.next_retry_wait(config.max_attempts, retry.backoff_seconds, retry.max_backoff_seconds)
        if wait is None:
            break
        if time.monotonic() + wait > deadline:
            log.info("next retry due in %.0fs, beyond this task's budget: left for a later run", wait)
            break
        log.info("waiting %.1fs for the next retry backoff to elapse", wait)
        time.sleep(max(wait, 0.05))
    tracking.refresh_batches(sorted(touched_batches))
    for other in sorted(touched_jobs - {job_id}):
        tracking.refresh_settled_job(other)
    log.info(
        "retry_failed: %d attempts, %d recovered, %d still failed, across %d jobs",
        total.claimed,
        total.completed,
        total.failed,
        len(touched_jobs),
    )
    ExportMetrics().retries_done(total)
    return {"attempted": total.claimed, "recovered": total.completed, "failed": total.failed}


def _reconciliation_figure(problems: list[str], measure: Callable[[], int]) -> int | None:
    """A count for reconciliation; when it cannot be taken, the job still closes (as failed), and why."""
    try:
        return measure()
    except (SearchError, ArchiveError) as error:
        problems.append(f"reconciliation count unavailable: {error}")
        return None


def _record_chain_position(metrics: ExportMetrics, config: ExportConfig, services: ExportServices) -> None:
    """Send how many due days have no job yet; a ledger that cannot be read here costs the metric only."""
    try:
        behind = days_behind(services.tracking.chain_next_start(config.start_date), datetime.now(UTC))
    except TrackingError as error:
        log.warning("chain position not measured for the days-behind metric: %s", error)
        return
    metrics.chain_position(behind)


@explained
@settled_heap
def finalize(
    window: Mapping[str, Any] | None, announce: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Close the job row and reconcile it; fail when messages of the job are not archived.

    A completed day gets its manifest written, and its summary handed to ``announce`` (the DAG puts
    it in the archive asset's event); a failed day gets neither.
    """
    window = _require_window(window, "finalize")
    config = load_config()
    services = _services(config)
    tracking = services.tracking
    job = tracking.get_job(_window_of(window))
    left_staged = tracking.track_staged_job(job.job_id)
    if left_staged:
        log.warning("%d ids of batches nothing claimed are tracked now (pending)", left_staged)
    counts = tracking.job_counts(job.job_id)
    total = sum(counts.values())
    unfinished = counts["pending"] + counts["in_progress"]
    problems: list[str] = []
    if not job.extraction_completed:
        problems.append("extraction did not complete")
    source_count = _reconciliation_figure(
        problems,
        lambda: services.search.count_window(
            config.elasticsearch.message_index, config.elasticsearch.timestamp_field, job.window
        ),
    )
    archived_objects = _reconciliation_figure(
        problems, lambda: services.archive.count_objects(config.s3.bucket, day_prefix(config.s3.prefix, job.window.day))
    )
    if counts["failed"]:
        failures = tracking.job_failures(job.job_id, limit=10)
        listed = "; ".join(f"{mid!r} ({attempts} attempts): {err}" for mid, attempts, err in failures)
        problems.append(f"{counts['failed']} messages failed: {listed}")
    if unfinished:
        problems.append(f"{unfinished} messages not processed (pending/in_progress)")
    gaps = ReconciliationGaps.measure(
        tracked=total,
        completed=counts["completed"],
        source_count=source_count,
        archived_objects=archived_objects,
        extracted=job.extraction_completed,
    )
    if gaps.untracked:
        problems.append(f"Elasticsearch reports {source_count} messages in the window but only {total} are tracked")
    if gaps.missing_objects:
        problems.append(
            f"{counts['completed']} messages completed but only {archived_objects} objects under the window's prefix"
        )
    published: dict[str, Any] | None = None
    if not problems:
        figures = DayFigures(total, counts["completed"], counts["failed"], source_count, archived_objects)
        try:
            published = publish_day(config, services, job, figures)
        except ArchiveError as error:
            problems.append(f"manifest not written: {error}")
    status = "failed" if problems else "completed"
    tracking.close_job(
        job.job_id,
        status=status,
        total=total,
        completed=counts["completed"],
        failed=counts["failed"],
        source_count=source_count,
        archived_objects=archived_objects,
        next_run_date=job.window.next_run_date if status == "completed" else None,
        last_error="; ".join(problems)[:2000] or None,
    )
    tracking.drop_staging(job.job_id)  # every id it held is tracked
    metrics = ExportMetrics()
    metrics.job_closed(status, gaps)
    _record_chain_position(metrics, config, services)
    log.info(
        "job %s window %s %s: %d messages, %d archived, %d failed, %d unfinished; Elasticsearch count %s, objects %s",
        job.job_id,
        job.window,
        status.upper(),
        total,
        counts["completed"],
        counts["failed"],
        unfinished,
        source_count,
        archived_objects,
    )
    if problems:
        raise AirflowFailException(f"job {job.job_id} window {job.window} failed: " + "; ".join(problems))
    published = published or {}
    if announce is not None:
        announce({**published, "reprocess": bool(window.get("reprocess", False))})
    return {
        "job_id": job.job_id,
        "status": status,
        "total": total,
        "completed": counts["completed"],
        "manifest": published.get("manifest"),
    }


@explained
@settled_heap
def purge_ledger(now: datetime | None = None) -> dict[str, Any]:
    """Remove the ``message_tracking`` rows of completed days older than the retention, in short chunks.

    ``job_runs`` (each day's figures) and ``batch_progress`` stay. Retention is wall-clock time, so a
    backfill of old days purges like any run. Stops after the time budget; the rest waits for the
    next run.
    """
    config = load_config()
    retention = config.retention
    if not retention.enabled:
        log.info("ledger retention is off (retention.keep_days not set): message_tracking keeps every day")
        return {"days": 0, "rows": 0, "chunks": 0, "seconds": 0.0}
    assert retention.keep_days is not None
    tracking = _services(config).tracking
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
