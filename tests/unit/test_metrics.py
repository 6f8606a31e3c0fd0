"""The metrics a step sends, recorded by a logger object with Airflow's ``Stats`` interface."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from message_export.export import ExportSummary
from message_export.metrics import ExportMetrics
from message_export.model import ReconciliationGaps


class RecordingLogger:
    """Keeps what it is sent: (kind, name, value, tags)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any, Any]] = []

    def incr(self, stat: str, count: int | None = None, rate: float | None = None, *, tags: Any = None) -> None:
        self.sent.append(("incr", stat, count, tags))

    def gauge(self, stat: str, value: float, rate: float | None = None, delta: bool | None = None, *, tags: Any = None):
        self.sent.append(("gauge", stat, value, tags))

    def timing(self, stat: str, dt: Any, *, tags: Any = None) -> None:
        self.sent.append(("timing", stat, dt, tags))


class BrokenLogger:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise OSError("metrics backend unreachable")

        return fail


def test_batch_sends_counts_bytes_and_duration_under_one_prefix():
    logger = RecordingLogger()
    summary = ExportSummary(claimed=50, completed=47, failed=3, bytes_written=12_345, seconds=2.5)
    ExportMetrics(logger).batch_exported(summary)
    assert logger.sent == [
        ("incr", "message_export.messages.archived", 47, {"stage": "batch"}),
        ("incr", "message_export.messages.failed", 3, {"stage": "batch"}),
        ("incr", "message_export.bytes.archived", 12_345, {"stage": "batch"}),
        ("timing", "message_export.batch.duration", timedelta(seconds=2.5), None),
    ]


def test_retries_count_every_attempt_and_their_outcomes():
    logger = RecordingLogger()
    ExportMetrics(logger).retries_done(ExportSummary(claimed=9, completed=7, failed=2, bytes_written=900))
    assert logger.sent == [
        ("incr", "message_export.messages.retried", 9, None),
        ("incr", "message_export.messages.archived", 7, {"stage": "retry"}),
        ("incr", "message_export.messages.failed", 2, {"stage": "retry"}),
        ("incr", "message_export.bytes.archived", 900, {"stage": "retry"}),
    ]


@pytest.mark.parametrize(
    ("status", "gaps", "mismatches"),
    [
        ("completed", ReconciliationGaps(0, 0), 0),
        ("failed", ReconciliationGaps(4, 0), 1),
        ("failed", ReconciliationGaps(0, 2), 1),
        ("failed", ReconciliationGaps(1, 1), 2),
    ],
)
def test_job_closing_sends_its_outcome_and_reconciliation_gaps(status, gaps, mismatches):
    logger = RecordingLogger()
    ExportMetrics(logger).job_closed(status, gaps)
    assert logger.sent == [
        ("incr", f"message_export.jobs.{status}", 1, None),
        ("gauge", "message_export.reconciliation.mismatches", mismatches, None),
        ("gauge", "message_export.reconciliation.untracked_messages", gaps.untracked, None),
        ("gauge", "message_export.reconciliation.missing_objects", gaps.missing_objects, None),
    ]


def test_extraction_and_chain_position():
    logger = RecordingLogger()
    metrics = ExportMetrics(logger)
    metrics.extraction_done(12_345, 4.25)
    metrics.chain_position(3)
    assert logger.sent == [
        ("incr", "message_export.extract.messages", 12_345, None),
        ("timing", "message_export.extract.duration", timedelta(seconds=4.25), None),
        ("gauge", "message_export.chain.days_behind", 3, None),
    ]


def test_ledger_purge_sends_rows_days_left_and_duration():
    logger = RecordingLogger()
    ExportMetrics(logger).ledger_purged(250_000, 2, 31.5)
    assert logger.sent == [
        ("incr", "message_export.ledger.purged_rows", 250_000, None),
        ("gauge", "message_export.ledger.expired_days_left", 2, None),
        ("timing", "message_export.ledger.purge.duration", timedelta(seconds=31.5), None),
    ]


def test_a_broken_backend_logs_one_warning_and_never_raises(caplog: pytest.LogCaptureFixture):
    metrics = ExportMetrics(BrokenLogger())
    with caplog.at_level(logging.WARNING, logger="message_export.metrics"):
        metrics.batch_exported(ExportSummary(claimed=1, completed=1, bytes_written=10, seconds=0.1))
        metrics.job_closed("completed", ReconciliationGaps(0, 0))
        metrics.chain_position(0)
    warnings = [r for r in caplog.records if r.name == "message_export.metrics"]
    assert len(warnings) == 1
    assert "message_export.messages.archived" in warnings[0].getMessage()
    assert "metrics backend unreachable" in warnings[0].getMessage()


def test_default_logger_is_airflows_stats():
    from airflow.sdk.observability.stats import Stats

    from message_export.metrics import airflow_stats

    assert airflow_stats() is Stats
