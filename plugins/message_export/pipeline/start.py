"""The run's first steps: the ledger's schema, then the window the run exports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from message_export.config import ExportConfig
from message_export.export import ExportServices
from message_export.metrics import ExportMetrics
from message_export.pipeline.failures import explain_failures
from message_export.pipeline.run_context import DagRunInfo, configured, window_of, window_payload
from message_export.windows import (
    WindowError,
    as_utc,
    choose_window,
    days_behind,
    interval_window,
    requested_window,
    run_bound,
)

log = logging.getLogger(__name__)


@explain_failures
def ensure_schema(*, config: ExportConfig | None = None, services: ExportServices | None = None) -> None:
    """Create the ledger, or migrate it to this package's schema version."""
    config, services = configured(config, services)
    version = services.tracking.ensure_schema()
    log.info(
        "ledger schema ready (job_runs, batch_progress, message_tracking at version %s) via connection '%s'",
        version,
        config.connections.mysql,
    )


@explain_failures
def resolve_window(
    run: DagRunInfo,
    now: datetime | None = None,
    *,
    config: ExportConfig | None = None,
    services: ExportServices | None = None,
) -> dict[str, Any] | None:
    """Pick the run's window, open or resume its job row; ``None`` when nothing is due."""
    config, services = configured(config, services)
    tracking = services.tracking
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
    return window_payload(job, reprocess, bound)


def next_window_due(window: Mapping[str, Any]) -> bool:
    """Tell whether the window after this one is already due (the chain is behind)."""
    following = window_of(window).following()
    due = following.end <= datetime.fromisoformat(window["bound"])
    log.info("next window %s %s", following, "is already due: triggering a catch-up run" if due else "is not due yet")
    return due
