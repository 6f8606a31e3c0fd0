"""Exporting the batches: one mapped task per batch, then the retries of what failed."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk.exceptions import (
    AirflowFailException,
)

from message_export.config import ExportConfig
from message_export.export import ExportServices, ExportSummary, MessageExporter
from message_export.heap import freeze_startup_objects
from message_export.metrics import ExportMetrics
from message_export.pipeline.failures import explain_failures
from message_export.pipeline.run_context import configured, require_window

log = logging.getLogger(__name__)


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


@explain_failures
@freeze_startup_objects
def process_batch(
    batch_id: int,
    run_id: str,
    label: Callable[[str], None] | None = None,
    *,
    config: ExportConfig | None = None,
    services: ExportServices | None = None,
) -> dict[str, int]:
    """Export one batch's unfinished messages; return its counts.

    :param label: receives the batch's readable name for the UI (``batch 17 · 500 msgs``).
    """
    config, services = configured(config, services)
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


@explain_failures
@freeze_startup_objects
def retry_failed(
    window: Mapping[str, Any] | None,
    run_id: str,
    *,
    config: ExportConfig | None = None,
    services: ExportServices | None = None,
) -> dict[str, int]:
    """Retry failed (and abandoned) messages of this and earlier jobs, with backoff, within a time budget."""
    window = require_window(window, "retry_failed")
    config, services = configured(config, services)
    tracking = services.tracking
    retry = config.retry
    job_id = int(window["job_id"])
    left_staged = tracking.track_staged_ids(job_id)
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
