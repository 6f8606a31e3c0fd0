"""The dashboard's answers, read from the ledger through the tracking hook and shaped for JSON."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from message_export.config import ExportConfig, load_config
from message_export.dashboard.calendar import ONE_DAY, check_per_page, day_page, last_due_day
from message_export.dashboard.cursors import failure_id_after, failures_cursor, first_batch_number
from message_export.dashboard.trends import RunTimes, trend_days, trend_points
from message_export.gzip_members import http_range
from message_export.hooks.archive import MessageArchiveHook
from message_export.ledger.hook import MessageTrackingHook
from message_export.ledger.records import BatchRecord, DayRecord, FailedMessage, StatusCounts
from message_export.model import ArchivedMessage
from message_export.names import DAG_ID

MAX_ROWS_PER_PAGE = 500
RUNNING = "running"
NOT_EXPORTED = "not_exported"


def run_grid_path(dag_run_id: str | None) -> str | None:
    """The Airflow UI path of a run in the grid view."""
    return None if dag_run_id is None else f"/dags/{DAG_ID}/runs/{quote(dag_run_id, safe='')}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _counts(counts: StatusCounts) -> dict[str, int]:
    return {
        "completed": counts.completed,
        "failed": counts.failed,
        # leased messages are still on their way: the progress bar shows them as pending
        "pending": counts.pending + counts.in_progress,
        "total": counts.total,
    }


def _day_json(day: date, record: DayRecord | None) -> dict[str, Any]:
    if record is None:
        return {"day": day.isoformat(), "status": NOT_EXPORTED, "counts": _counts(StatusCounts())}
    return {
        "day": day.isoformat(),
        "status": record.status,
        "counts": _counts(record.counts),
        "elasticsearch_count": record.source_count,
        "archived_objects": record.archived_objects,
        "extraction_completed_at": _iso(record.extraction_completed_at),
        "dag_run_id": record.dag_run_id,
        "run_url": run_grid_path(record.dag_run_id),
        "problem": record.last_error,
        "updated_at": _iso(record.updated_at),
        # retention removed the day's message rows: the counts are those recorded at completion
        "ledger_purged_at": _iso(record.ledger_purged_at),
    }


def _batch_json(batch: BatchRecord) -> dict[str, Any]:
    return {
        "batch_number": batch.batch_number,
        "batch_id": batch.batch_id,
        "status": batch.status,
        "counts": _counts(batch.counts),
        "updated_at": _iso(batch.updated_at),
    }


def _failure_json(failure: FailedMessage) -> dict[str, Any]:
    return {
        "message_id": failure.message_id,
        "batch_id": failure.batch_id,
        "attempts": failure.attempts,
        "reason": failure.reason,
        "last_attempted": _iso(failure.last_attempted),
    }


@dataclass(frozen=True)
class DashboardReader:
    """Answers the dashboard's questions; one tracking hook connection per answer."""

    config: ExportConfig

    @classmethod
    def from_config_file(cls) -> DashboardReader:
        return cls(load_config())

    @contextmanager
    def _ledger(self) -> Iterator[MessageTrackingHook]:
        hook = MessageTrackingHook(self.config.connections.mysql, max_attempts=2)
        try:
            yield hook
        finally:
            hook.close()

    def days(self, page: int, per_page: int, now: datetime | None = None) -> dict[str, Any]:
        """One page of the calendar of days, newest first, with the days due but not exported."""
        now = now or datetime.now(UTC)
        last_day = last_due_day(now)
        with self._ledger() as ledger:
            span = ledger.ledger_span(self.config.start_date, last_day + ONE_DAY)
            # days exported on request before the configured start date are shown too
            first_day = min(self.config.start_date, span.first_day or self.config.start_date)
            if first_day != self.config.start_date:
                span = ledger.ledger_span(first_day, last_day + ONE_DAY)
            shown = day_page(first_day, last_day, page, per_page)
            records = {record.day: record for record in ledger.days_between(shown.first, shown.end)}
            for day, record in list(records.items()):
                if record.status == RUNNING:
                    records[day] = _with_counts(record, ledger.live_job_counts(record.job_id))
            chain_next = ledger.chain_next_start(self.config.start_date).date()
        behind = max((last_day - chain_next).days + 1, 0)
        return {
            "dag_id": DAG_ID,
            "configured_start_date": self.config.start_date.isoformat(),
            "last_due_day": last_day.isoformat(),
            "summary": {
                "due_days": shown.total_days,
                "exported_days": span.days,
                "completed_days": span.completed_days,
                "failed_days": span.failed_days,
                "running_days": span.running_days,
                "not_exported_days": max(shown.total_days - span.days, 0),
                "chain_next_day": chain_next.isoformat(),
                "chain_days_behind": behind,
            },
            "page": shown.page,
            "per_page": shown.per_page,
            "pages": shown.pages,
            "days": [_day_json(day, records.get(day)) for day in shown.days()],
        }

    def day(
        self,
        day: date,
        *,
        per_page: int = 50,
        batches_after: int | None = None,
        failures_after: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any] | None:
        """One day: its figures, one keyset page of its batches and one of its failed messages.

        ``batches_after`` is the batch number the previous batches page ended with, ``failures_after``
        the ``next_after`` cursor of the previous failures page; leave them out for the first pages.
        """
        check_per_page(per_page, MAX_ROWS_PER_PAGE)
        first_number, after_id = first_batch_number(batches_after), failure_id_after(failures_after)
        now = now or datetime.now(UTC)
        with self._ledger() as ledger:
            record = ledger.day_record(day)
            if record is None:
                due = self.config.start_date <= day <= last_due_day(now)
                return {**_day_json(day, None), "due": due, "batches": None, "failures": None} if due else None
            # a purged day has no message rows left: its figures are the ones recorded when it completed
            live = record.ledger_purged_at is None
            counts = ledger.live_job_counts(record.job_id) if live else record.counts
            batch_total = ledger.batch_count(record.job_id)
            # one row more than the page says whether another page follows
            batches = ledger.batch_records(record.job_id, first_number, per_page + 1, live=live)
            failures = ledger.failed_messages(record.job_id, after_id, per_page + 1) if live else []
        batches, more_batches = batches[:per_page], len(batches) > per_page
        failures, more_failures = failures[:per_page], len(failures) > per_page
        return {
            **_day_json(day, _with_counts(record, counts)),
            "due": True,
            "batches": {
                "after": batches_after,
                "next_after": batches[-1].batch_number if more_batches else None,
                "per_page": per_page,
                "total": batch_total,
                "items": [_batch_json(batch) for batch in batches],
            },
            "failures": {
                "after": failures_after or None,
                "next_after": failures_cursor(failures[-1].message_id) if more_failures else None,
                "per_page": per_page,
                "total": counts.failed,
                "items": [_failure_json(failure) for failure in failures],
            },
        }

    def trends(
        self,
        days: int,
        run_times: Callable[[Collection[str]], Mapping[str, RunTimes]],
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """A point per day for the last ``days`` due days: the ledger's figures (live for running days)
        and, through ``run_times``, Airflow's record of each day's last run."""
        now = now or datetime.now(UTC)
        first, last = trend_days(self.config.start_date, last_due_day(now), days)
        with self._ledger() as ledger:
            records = ledger.days_between(first, last + ONE_DAY)
            records = [
                _with_counts(record, ledger.live_job_counts(record.job_id)) if record.status == RUNNING else record
                for record in records
            ]
        times = run_times([record.dag_run_id for record in records if record.dag_run_id])
        return {
            "dag_id": DAG_ID,
            "days": days,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "points": trend_points(first, last, records, times, now),
        }

    def _retention_note(self) -> str:
        keep = self.config.retention.keep_days
        if keep is None:
            return ""
        return (
            f", or its day completed more than {keep} days ago and retention removed the day's message rows "
            "(the day's manifest in the archive still lists it)"
        )

    def document(self, message_id: str) -> bytes:
        """The archived JSON document of ``message_id``, read as the fetch command reads it: one ledger
        lookup, one (Range) GET, checked against the SHA-256 the ledger recorded."""
        with self._ledger() as ledger:
            archived = ledger.archived_message(message_id)
        archive = MessageArchiveHook(self.config.connections.aws, read_timeout=self.config.s3.read_timeout)
        return archive.read_archived(archived)

    def message(self, message_id: str) -> dict[str, Any]:
        """Where ``message_id`` is archived (its object and, in the batch layout, its byte range), or why not."""
        with self._ledger() as ledger:
            found = ledger.find_message(message_id)
            location = ledger.message_location(message_id) if found is not None and found.s3_path else None
        if found is None:
            return {
                "message_id": message_id,
                "found": False,
                "answer": "not tracked: no export has extracted a message with exactly this id "
                "(ids are compared byte for byte: case, spaces and Unicode form matter)" + self._retention_note(),
            }
        if found.status == "completed" and found.s3_path:
            answer = f"archived at {found.s3_path}"
        elif found.status == "failed":
            answer = f"not archived: failed after {found.attempts} attempts: {found.reason or 'no reason recorded'}"
        else:
            answer = f"not archived yet: {found.status.replace('_', ' ')} (attempts so far: {found.attempts})"
        return {
            "message_id": found.message_id,
            "found": True,
            "status": found.status,
            "day": found.day.isoformat(),
            "batch_id": found.batch_id,
            "attempts": found.attempts,
            "s3_uri": found.s3_path,
            "reason": found.reason,
            "last_attempted": _iso(found.last_attempted),
            "dag_run_id": found.dag_run_id,
            "run_url": run_grid_path(found.dag_run_id),
            "answer": answer,
            "where": _where_json(location[1]) if location is not None and location[1] is not None else None,
        }


def _where_json(archived: ArchivedMessage) -> dict[str, Any]:
    """The object and bytes that hold an archived message's document, and the command that reads it."""
    in_batch = archived.archive_offset is not None and archived.archive_length is not None
    return {
        "s3_uri": archived.s3_path,
        "layout": "batch" if in_batch else "message",
        "offset": archived.archive_offset,
        "length": archived.archive_length,
        "range": http_range(archived.archive_offset, archived.archive_length) if in_batch else None,  # type: ignore[arg-type]
        "size": archived.body_bytes,
        "sha256": None if archived.body_sha256 is None else archived.body_sha256.hex(),
        "fetch_command": f"python -m message_export.fetch {shlex.quote(archived.message_id)}",
    }


def _with_counts(record: DayRecord, counts: StatusCounts) -> DayRecord:
    return replace(record, counts=counts)
