"""The ledger's write path: jobs, batches, claims and results, and retention of old days' message rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from message_export.ledger.connection import INSERT_CHUNK
from message_export.ledger.errors import TrackingError
from message_export.ledger.staging import LedgerStaging
from message_export.ledger.values import aware, id_bytes, id_text, naive_utc
from message_export.model import Batch, ClaimedMessage, Job, MessageOutcome
from message_export.resources import load_sql
from message_export.windows import Window

# the rows an INSERT ... ON DUPLICATE KEY UPDATE affects per existing row it changes (1: inserted, 0 or 1: unchanged)
UPSERT_UPDATED = 2


class _NotAllHeld(Exception):
    """Raised inside a batch object's recording to roll it back: the lease no longer holds all its messages."""


class LedgerWrites(LedgerStaging):
    """Jobs (one per day), their batches, and the lease-fenced status of every message."""

    # -- jobs -----------------------------------------------------------------------------------

    def resumable_window(self) -> Window | None:
        """Return the earliest window whose extraction never completed."""
        rows = self.fetch_rows("ledger/find_resumable_job")
        return Window(aware(rows[0][1]), aware(rows[0][2])) if rows else None

    def chain_next_start(self, first_start: date) -> datetime:
        """Return the first day after the contiguous chain of windows from ``first_start``."""
        first = datetime.combine(first_start, time(0))
        rows = self.fetch_rows("ledger/find_chain_next_start", {"first_start": first})
        value = rows[0][0]
        if isinstance(value, (bytes, str)):
            value = datetime.fromisoformat(id_text(value))
        return aware(value)

    def open_job(self, window: Window, dag_run_id: str | None) -> Job:
        """Create or reopen the job row of ``window``."""
        params = {"start_date": naive_utc(window.start), "end_date": naive_utc(window.end), "dag_run_id": dag_run_id}
        self.execute_statement("ledger/open_job", params)
        return self.get_job(window)

    def get_job(self, window: Window) -> Job:
        """Return the job row of ``window``."""
        rows = self.fetch_rows("ledger/get_job", {"start_date": naive_utc(window.start)})
        if not rows:
            raise TrackingError(f"no job_runs row for window {window}")
        job_id, start, end, status, extracted_at = rows[0]
        return Job(int(job_id), Window(aware(start), aware(end)), status, extracted_at is not None)

    def complete_extraction(self, job_id: int) -> None:
        """Record that the job's extraction finished."""
        self.execute_statement("ledger/complete_extraction", {"job_id": job_id})

    def close_job(self, job_id: int, **values: Any) -> None:
        """Write a job's final status, counts and ``next_run_date``."""
        if values.get("next_run_date") is not None:
            values["next_run_date"] = naive_utc(values["next_run_date"])
        self.execute_statement("ledger/close_job", {"job_id": job_id, **values})

    def unannounced_days(self, exclude_job_id: int, limit: int = 31) -> list[Job]:
        """Return completed days whose manifest and asset event are still due (completed late), oldest first."""
        rows = self.fetch_rows("ledger/unannounced_days", {"job_id": exclude_job_id, "limit": limit})
        return [Job(int(job_id), Window(aware(start), aware(end)), "completed", True) for job_id, start, end in rows]

    def mark_announced(self, job_id: int) -> bool:
        """Record that a late day's manifest and event were published; ``False`` if another run already did."""
        return self.execute_statement("ledger/mark_announced", {"job_id": job_id}) > 0

    def refresh_settled_job(self, job_id: int) -> None:
        """Recount a closed job whose messages a later retry settled."""
        self.execute_statement("ledger/refresh_settled_job", {"job_id": job_id})

    def job_counts(self, job_id: int) -> dict[str, int]:
        """Return the number of the job's tracked messages in each status."""
        counts = {"pending": 0, "in_progress": 0, "completed": 0, "failed": 0}
        for status, messages in self.fetch_rows("ledger/job_status_counts", {"job_id": job_id}):
            counts[id_text(status)] = int(messages)
        return counts

    def job_failures(self, job_id: int, limit: int = 10) -> list[tuple[str, int, str]]:
        """Return up to ``limit`` failed messages of the job: ``(message_id, attempts, last_error)``."""
        rows = self.fetch_rows("ledger/job_failures", {"job_id": job_id, "limit": limit})
        return [(id_text(mid), int(attempts), error or "") for mid, attempts, error in rows]

    # -- batches --------------------------------------------------------------------------------

    def ensure_batches(self, job_id: int, batch_numbers: Sequence[int]) -> dict[int, int]:
        """Create the job's batches if missing; return ``batch_number -> batch_id``."""
        if batch_numbers:
            self.execute_rows("ledger/ensure_batch", [(job_id, number) for number in batch_numbers])
        rows = self.fetch_rows("ledger/job_batch_ids", {"job_id": job_id})
        return {int(number): int(batch_id) for number, batch_id in rows}

    def reset_for_reprocess(self, job_id: int) -> int:
        """Set the job's completed and failed messages back to pending; return how many."""
        return self.execute_statement("ledger/reset_for_reprocess", {"job_id": job_id})

    def refresh_batches(self, batch_ids: Sequence[int]) -> None:
        """Recompute the counts and status of ``batch_ids`` from their messages."""
        for batch_id in batch_ids:
            self.execute_statement("ledger/refresh_batch_progress", {"batch_id": batch_id})

    def list_job_batches(self, job_id: int) -> list[int]:
        """Return the ids of the job's batches that have messages to process."""
        return [int(row[0]) for row in self.fetch_rows("ledger/list_job_batches", {"job_id": job_id})]

    def get_batch(self, batch_id: int) -> Batch:
        """Return batch ``batch_id``."""
        rows = self.fetch_rows("ledger/get_batch", {"batch_id": batch_id})
        if not rows:
            raise TrackingError(f"batch_id {batch_id} is not in batch_progress; was the job's extraction reset?")
        batch_id_, job_id, number, total = rows[0]
        return Batch(int(batch_id_), int(job_id), int(number), int(total))

    # -- claims and results -----------------------------------------------------------------------

    def _claimed(self, lease_token: str) -> list[ClaimedMessage]:
        rows = self.fetch_rows("ledger/claimed_messages", {"lease_token": lease_token})
        return [
            ClaimedMessage(id_text(mid), int(job_id), int(batch_id), aware(start))
            for mid, job_id, batch_id, start in rows
        ]

    def claim_batch(
        self, batch_id: int, lease_token: str, lease_seconds: int, max_attempts: int
    ) -> list[ClaimedMessage]:
        """Track the batch's staged ids, then lease its unfinished messages to ``lease_token``; return
        them."""
        self.track_staged_batch(batch_id)
        params = {
            "batch_id": batch_id,
            "lease_token": lease_token,
            "lease_seconds": lease_seconds,
            "max_attempts": max_attempts,
        }
        self.execute_statement("ledger/claim_batch", params)
        return self._claimed(lease_token)

    def claim_retryable(
        self,
        *,
        job_id: int,
        lease_token: str,
        lease_seconds: int,
        max_attempts: int,
        backoff_seconds: float,
        max_backoff_seconds: float,
        limit: int,
    ) -> list[ClaimedMessage]:
        """Lease up to ``limit`` messages due for another attempt (any job); return them."""
        params = {
            "job_id": job_id,
            "lease_token": lease_token,
            "lease_seconds": lease_seconds,
            "max_attempts": max_attempts,
            "backoff_seconds": backoff_seconds,
            "max_backoff_seconds": max_backoff_seconds,
            "limit": limit,
        }
        self.execute_statement("ledger/claim_retryable", params)
        return self._claimed(lease_token)

    def next_retry_wait(self, max_attempts: int, backoff_seconds: float, max_backoff_seconds: float) -> float | None:
        """Return seconds until a failed message becomes due again, or ``None`` if none will."""
        params = {
            "max_attempts": max_attempts,
            "backoff_seconds": backoff_seconds,
            "max_backoff_seconds": max_backoff_seconds,
        }
        rows = self.fetch_rows("ledger/next_retry_wait", params)
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def give_up_exhausted(self, max_attempts: int) -> int:
        """Mark messages with no attempts left that nobody holds as failed; return how many."""
        return self.execute_statement("ledger/give_up_exhausted", {"max_attempts": max_attempts})

    def renew_lease(self, lease_token: str, lease_seconds: int) -> None:
        """Extend the lease of every message ``lease_token`` holds."""
        self.execute_statement("ledger/renew_lease", {"lease_token": lease_token, "lease_seconds": lease_seconds})

    def record_results(self, lease_token: str, outcomes: Sequence[MessageOutcome]) -> None:
        """Record outcomes in bulk, fenced by ``lease_token``."""
        self.execute_rows("ledger/record_results", self._result_rows(lease_token, outcomes))

    def record_whole_object(self, lease_token: str, outcomes: Sequence[MessageOutcome]) -> bool:
        """Record the outcomes of one batch object's messages in one transaction, only if ``lease_token`` still
        holds every one of them; return whether it did (``False``: nothing was recorded).

        The fenced upsert changes exactly the rows the lease holds, and MySQL counts
        :data:`UPSERT_UPDATED` affected rows for each of them (whatever the connection's ``CLIENT_FOUND_ROWS``
        flag): a count short of that for every message means another worker took some over, and the
        transaction is rolled back.
        """
        record = load_sql("ledger/record_results")
        rows = self._result_rows(lease_token, outcomes)

        def work(cursor: Any) -> bool:
            affected = 0
            for start in range(0, len(rows), INSERT_CHUNK):
                affected += cursor.executemany(record, rows[start : start + INSERT_CHUNK])
            if affected != UPSERT_UPDATED * len(rows):
                raise _NotAllHeld
            return True

        if not rows:
            return False
        try:
            return self.run_transaction(work)
        except _NotAllHeld:
            return False

    @staticmethod
    def _result_rows(lease_token: str, outcomes: Sequence[MessageOutcome]) -> list[tuple[Any, ...]]:
        return [
            (
                id_bytes(o.message.message_id),
                o.message.job_id,
                o.message.batch_id,
                naive_utc(o.message.window_start),
                o.status,
                o.s3_path,
                o.error,
                lease_token,
                o.body_bytes,
                o.body_sha256,
                o.archive_offset,
                o.archive_length,
            )
            for o in outcomes
        ]

    # -- retention: the message rows of old completed days ---------------------------------------

    def expired_days(self, cutoff: datetime, limit: int = 1000) -> list[tuple[int, date]]:
        """Return ``(job_id, day)`` of completed days, oldest first, whose message rows may be removed:
        the day ended and its export last finished before ``cutoff``, and every message is archived."""
        rows = self.fetch_rows("ledger/expired_days", {"cutoff": naive_utc(cutoff), "limit": limit})
        return [(int(job_id), start.date()) for job_id, start in rows]

    def purge_chunk(self, job_id: int, after: bytes, limit: int) -> tuple[int | None, bytes | None]:
        """Remove up to ``limit`` archived messages of a purgeable day, those after ``after``.

        Two short transactions: a plain read of the next ids, then the day's job row share-locked
        and the rows deleted by primary key. :return: rows removed (``None``: the day was reopened
        meanwhile, nothing removed) and the last id of the chunk (``None``: no row was left).
        """
        params = {"job_id": job_id, "after": after, "limit": limit}
        ids = [bytes(row[0]) for row in self.fetch_rows("ledger/purge_chunk_ids", params)]
        if not ids:
            return 0, None
        check, delete = load_sql("ledger/lock_purgeable_job"), load_sql("ledger/delete_purged_messages")

        def work(cursor: Any) -> int:
            cursor.execute(check, {"job_id": job_id})
            row = cursor.fetchone()
            if not row or not row[0]:
                return -1
            return int(cursor.execute(delete, {"job_id": job_id, "message_ids": tuple(ids)}))

        removed = self.run_transaction(work)
        return (None, ids[-1]) if removed < 0 else (removed, ids[-1])

    def mark_purged(self, job_id: int) -> None:
        """Record that the day's message rows are gone; its counts stay in ``job_runs``."""
        self.execute_statement("ledger/mark_ledger_purged", {"job_id": job_id})
