"""The export's metrics, sent through Airflow's own metrics logger.

Airflow builds that logger from its ``[metrics]`` options (StatsD, Datadog's DogStatsD or
OpenTelemetry; off by default): this module only names the figures the steps already have. Every
name starts with ``message_export.``. No metric's meaning depends on its tags: plain StatsD drops
tags, and then a counter split by ``stage`` still adds up to the right total. Sending a metric
never fails a step: the first error logs one warning, later ones are ignored.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from message_export.export import ExportSummary
    from message_export.model import ReconciliationGaps

log = logging.getLogger(__name__)

PREFIX = "message_export"


class MetricsLogger(Protocol):
    """The part of Airflow's ``Stats`` the export uses."""

    def incr(self, stat: str, count: int | None = None, rate: float | None = None, *, tags: Any = None) -> None: ...

    def gauge(
        self, stat: str, value: float, rate: float | None = None, delta: bool | None = None, *, tags: Any = None
    ) -> None: ...

    def timing(self, stat: str, dt: Any, *, tags: Any = None) -> None: ...


def airflow_stats() -> MetricsLogger:
    """Return Airflow's metrics logger (the one its ``[metrics]`` options configure)."""
    from airflow.sdk.observability.stats import Stats

    return Stats  # type: ignore[return-value]


class ExportMetrics:
    """Sends one step's figures; never raises."""

    def __init__(self, logger: MetricsLogger | None = None) -> None:
        self._logger = logger
        self._warned = False

    def batch_exported(self, summary: ExportSummary) -> None:
        """Record one ``process_batch`` pass."""
        self._messages(summary, "batch")
        self._send("timing", "batch.duration", timedelta(seconds=summary.seconds))

    def retries_done(self, summary: ExportSummary) -> None:
        """Record ``retry_failed``: every attempt it made, and what came of them."""
        self._send("incr", "messages.retried", summary.claimed)
        self._messages(summary, "retry")

    def extraction_done(self, messages: int, seconds: float) -> None:
        """Record ``extract``: ids tracked and how long the extraction took."""
        self._send("incr", "extract.messages", messages)
        self._send("timing", "extract.duration", timedelta(seconds=seconds))

    def job_closed(self, status: str, gaps: ReconciliationGaps) -> None:
        """Record ``finalize``: the job's outcome (``completed`` or ``failed``) and its reconciliation."""
        self._send("incr", f"jobs.{status}", 1)
        self._send("gauge", "reconciliation.mismatches", gaps.mismatches)
        self._send("gauge", "reconciliation.untracked_messages", gaps.untracked)
        self._send("gauge", "reconciliation.missing_objects", gaps.missing_objects)

    def chain_position(self, days_behind: int) -> None:
        """Record how many due days the chain of jobs has not reached."""
        self._send("gauge", "chain.days_behind", days_behind)

    def ledger_purged(self, rows: int, expired_days_left: int, seconds: float) -> None:
        """Record ``purge_ledger``: rows removed, expired days its time budget left, how long it took."""
        self._send("incr", "ledger.purged_rows", rows)
        self._send("gauge", "ledger.expired_days_left", expired_days_left)
        self._send("timing", "ledger.purge.duration", timedelta(seconds=seconds))

    def _messages(self, summary: ExportSummary, stage: str) -> None:
        tags = {"stage": stage}
        self._send("incr", "messages.archived", summary.completed, tags)
        self._send("incr", "messages.failed", summary.failed, tags)
        self._send("incr", "bytes.archived", summary.bytes_written, tags)

    def _send(self, kind: str, name: str, value: Any, tags: dict[str, str] | None = None) -> None:
        stat = f"{PREFIX}.{name}"
        try:
            if self._logger is None:
                self._logger = airflow_stats()
            getattr(self._logger, kind)(stat, value, tags=tags)
        except Exception as error:  # noqa: BLE001 - metrics must never fail the export
            if not self._warned:
                self._warned = True
                log.warning(
                    "metric %s not sent (%s: %s); the export goes on, further metric errors of this step are "
                    "not logged; check Airflow's [metrics] options",
                    stat,
                    type(error).__name__,
                    error,
                )
