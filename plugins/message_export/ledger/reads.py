"""The ledger as the day manifest, the dashboard and notifications read it: records, never writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import Any

from message_export.ledger.errors import NO_SUCH_TABLE, MessageNotArchived, mysql_error_code
from message_export.ledger.records import (
    BatchRecord,
    DayRecord,
    FailedMessage,
    LedgerSpan,
    StatusCounts,
    TrackedMessage,
)
from message_export.ledger.values import aware, aware_or_none, id_bytes, id_text
from message_export.ledger.writes import LedgerWrites
from message_export.model import ArchivedMessage, ArchivedTotals


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0))


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


class LedgerReads(LedgerWrites):
    """Read-only views of the ledger: a day's archived messages, and days, batches and messages as records."""

    # -- the day manifest -----------------------------------------------------------------------

    def archived_totals(self, job_id: int) -> ArchivedTotals:
        """Return the count, total body bytes and rows without a checksum of the job's archived messages."""
        messages, body_bytes, without = self.fetch_rows("reads/archived_totals", {"job_id": job_id})[0]
        return ArchivedTotals(int(messages), int(body_bytes), int(without))

    def iter_archived(self, job_id: int, page_size: int = 10_000) -> Iterator[ArchivedMessage]:
        """Yield the job's archived messages in ``message_id`` (byte) order, one keyset page at a time."""
        after = b""
        while True:
            params = {"job_id": job_id, "after": after, "limit": page_size}
            rows = self.fetch_rows("reads/archived_messages_page", params)
            for message_id, s3_path, body_bytes, body_sha256, offset, length in rows:
                yield ArchivedMessage(
                    id_text(message_id),
                    id_text(s3_path),
                    _optional_int(body_bytes),
                    None if body_sha256 is None else bytes(body_sha256),
                    _optional_int(offset),
                    _optional_int(length),
                )
            if len(rows) < page_size:
                return
            after = bytes(rows[-1][0])

    def object_references(self, job_id: int) -> dict[str, int]:
        """Return every ``s3_path`` the job's rows point at, with how many completed messages it holds."""
        rows = self.fetch_rows("reads/job_object_references", {"job_id": job_id})
        return {id_text(s3_path): int(completed) for s3_path, completed in rows}

    def message_location(self, message_id: str) -> tuple[str, ArchivedMessage | None] | None:
        """Return a tracked message's status and, once it was archived, where: its object and, in the batch
        layout, its member's byte range (one Range GET reads it). ``None``: the id is not tracked."""
        rows = self.fetch_rows("reads/message_location", {"message_id": id_bytes(message_id)})
        if not rows:
            return None
        mid, s3_path, body_bytes, body_sha256, offset, length, status = rows[0]
        if s3_path is None:
            return id_text(status), None
        archived = ArchivedMessage(
            id_text(mid),
            id_text(s3_path),
            _optional_int(body_bytes),
            None if body_sha256 is None else bytes(body_sha256),
            _optional_int(offset),
            _optional_int(length),
        )
        return id_text(status), archived

    def archived_message(self, message_id: str) -> ArchivedMessage:
        """Return where ``message_id`` is archived; raise :class:`MessageNotArchived` saying why it is not."""
        found = self.message_location(message_id)
        if found is None:
            raise MessageNotArchived(
                f"message {message_id!r} is not tracked in the ledger: never extracted, or its day's rows were removed "
                "by retention (the day's manifest lists it)"
            )
        status, archived = found
        if archived is None:
            raise MessageNotArchived(f"message {message_id!r} is tracked but not archived yet (status {status})")
        return archived

    # -- days -----------------------------------------------------------------------------------

    def ledger_span(self, first_day: date, end_day: date) -> LedgerSpan:
        """Return the first exported day and the job counts of the days in ``[first_day, end_day)``."""
        params = {"from_start": _midnight(first_day), "to_start": _midnight(end_day)}
        first, days, completed, failed, running = self.fetch_rows("reads/ledger_span", params)[0]
        return LedgerSpan(
            first_day=first.date() if first is not None else None,
            days=int(days),
            completed_days=int(completed),
            failed_days=int(failed),
            running_days=int(running),
        )

    def days_between(self, first_day: date, end_day: date) -> list[DayRecord]:
        """Return the job rows of the days in ``[first_day, end_day)``, newest first."""
        params = {"from_start": _midnight(first_day), "to_start": _midnight(end_day)}
        return [self._day_record(row) for row in self.fetch_rows("reads/jobs_between", params)]

    def day_record(self, day: date) -> DayRecord | None:
        """Return the job row of ``day``, or ``None`` if the day was never exported."""
        rows = self.fetch_rows("reads/job_of_day", {"start_date": _midnight(day)})
        return self._day_record(rows[0]) if rows else None

    def run_record(self, dag_run_id: str) -> DayRecord | None:
        """Return the job row the Airflow run ``dag_run_id`` last worked on, or ``None``."""
        rows = self.fetch_rows("reads/job_of_run", {"dag_run_id": dag_run_id})
        return self._day_record(rows[0]) if rows else None

    def live_job_counts(self, job_id: int) -> StatusCounts:
        """Return the job's messages per status as they stand now (staged ids are pending)."""
        counts = self.job_counts(job_id)
        counts["pending"] += self.staged_count(job_id)
        return StatusCounts.from_rows(counts)

    @staticmethod
    def _day_record(row: Sequence[Any]) -> DayRecord:
        (
            job_id,
            start,
            _end,
            status,
            total,
            completed,
            failed,
            source_count,
            archived_objects,
            extracted_at,
            dag_run_id,
            last_error,
            updated_at,
            purged_at,
        ) = row
        completed, failed = int(completed), int(failed)
        return DayRecord(
            job_id=int(job_id),
            day=start.date(),
            status=id_text(status),
            counts=StatusCounts(completed=completed, failed=failed, pending=max(int(total) - completed - failed, 0)),
            source_count=_optional_int(source_count),
            archived_objects=_optional_int(archived_objects),
            extraction_completed_at=aware_or_none(extracted_at),
            dag_run_id=id_text(dag_run_id) if dag_run_id is not None else None,
            last_error=last_error,
            updated_at=aware(updated_at),
            ledger_purged_at=aware_or_none(purged_at),
        )

    # -- batches and messages -------------------------------------------------------------------

    def batch_count(self, job_id: int) -> int:
        """Return how many batches the job has."""
        return int(self.fetch_rows("reads/job_batch_count", {"job_id": job_id})[0][0])

    def batch_records(self, job_id: int, first_number: int, limit: int, live: bool = True) -> list[BatchRecord]:
        """Return up to ``limit`` of the job's batches from batch number ``first_number`` on (a keyset
        page) with live message counts, or (``live=False``, for a day whose message rows retention
        removed) the counts ``batch_progress`` last recorded."""
        params = {"job_id": job_id, "first_number": first_number, "limit": limit}
        rows = self.fetch_rows("reads/job_batches", params)
        if not rows:
            return []
        if not live:
            return [
                BatchRecord(
                    batch_id=int(batch_id),
                    batch_number=int(number),
                    status=id_text(status),
                    counts=StatusCounts(
                        completed=int(processed),
                        failed=int(failed),
                        pending=max(int(total) - int(processed) - int(failed), 0),
                    ),
                    updated_at=aware(updated_at),
                )
                for batch_id, number, status, total, processed, failed, updated_at, _staged in rows
            ]
        batch_ids = [int(row[0]) for row in rows]
        # ids a batch holds staged are pending: no worker has claimed the batch yet
        counted: dict[int, dict[str, int]] = {int(row[0]): {"pending": int(row[7])} for row in rows}
        for batch_id, status, messages in self.fetch_rows(
            "reads/batch_status_counts", {"first_batch_id": min(batch_ids), "last_batch_id": max(batch_ids)}
        ):
            if (counts := counted.get(int(batch_id))) is not None:
                counts[id_text(status)] = counts.get(id_text(status), 0) + int(messages)
        return [
            BatchRecord(
                batch_id=int(batch_id),
                batch_number=int(number),
                status=id_text(status),
                counts=StatusCounts.from_rows(counted[int(batch_id)]),
                updated_at=aware(updated_at),
            )
            for batch_id, number, status, _total, _processed, _failed, updated_at, _staged in rows
        ]

    def failed_messages(self, job_id: int, after: bytes, limit: int) -> list[FailedMessage]:
        """Return up to ``limit`` of the job's failed messages whose ids sort (byte by byte) after
        ``after``, in message id order: a keyset page (``b""``: the first page)."""
        params = {"job_id": job_id, "after": after, "limit": limit}
        return [
            FailedMessage(
                message_id=id_text(mid),
                batch_id=int(batch_id),
                attempts=int(attempts),
                reason=error or "",
                last_attempted=aware_or_none(attempted),
            )
            for mid, batch_id, attempts, error, attempted in self.fetch_rows("reads/job_failures_page", params)
        ]

    def find_message(self, message_id: str) -> TrackedMessage | None:
        """Return where ``message_id`` stands (a staged id is pending in the batch that holds it), or
        ``None`` if no export ever extracted it."""
        rows = self.fetch_rows("reads/find_message", {"message_id": id_bytes(message_id)})
        if not rows:
            return self._find_staged_message(message_id)
        mid, status, s3_path, attempts, error, attempted, start, batch_id, dag_run_id = rows[0]
        return TrackedMessage(
            message_id=id_text(mid),
            status=id_text(status),
            day=start.date(),
            batch_id=int(batch_id),
            attempts=int(attempts),
            s3_path=s3_path,
            reason=error,
            last_attempted=aware_or_none(attempted),
            dag_run_id=id_text(dag_run_id) if dag_run_id is not None else None,
        )

    def _find_staged_message(self, message_id: str) -> TrackedMessage | None:
        for (job_id,) in self.fetch_rows("reads/jobs_with_staged_ids"):
            sql = self.staging_sql("reads/find_staged_message", int(job_id))
            params = {"job_id": int(job_id), "message_id": id_bytes(message_id)}

            def work(cursor: Any, sql: str = sql, params: dict[str, Any] = params) -> list[tuple]:
                try:
                    cursor.execute(sql, params)
                except Exception as error:
                    if mysql_error_code(error) == NO_SUCH_TABLE:  # finalize dropped it just now
                        return []
                    raise
                return list(cursor.fetchall())

            found = self.run_transaction(work)
            if found:
                mid, batch_id, start, dag_run_id = found[0]
                return TrackedMessage(
                    message_id=id_text(mid),
                    status="pending",
                    day=start.date(),
                    batch_id=int(batch_id),
                    attempts=0,
                    s3_path=None,
                    reason=None,
                    last_attempted=None,
                    dag_run_id=id_text(dag_run_id) if dag_run_id is not None else None,
                )
        return None
