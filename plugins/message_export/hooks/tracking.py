"""The MySQL ledger: jobs, batches and the status of every message."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any

from airflow.providers.mysql.hooks.mysql import MySqlHook
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from message_export.model import ArchivedMessage, ArchivedTotals, Batch, ClaimedMessage, Job, MessageOutcome
from message_export.resources import load_sql
from message_export.windows import Window

log = logging.getLogger(__name__)

SCHEMA_STATEMENTS = ("create_job_runs", "create_batch_progress", "create_message_tracking")
# Lost connection, server gone away, deadlock, lock wait timeout: safe to retry the statement.
TRANSIENT_MYSQL_ERRORS = frozenset({1205, 1213, 2006, 2013, 2055})
INSERT_CHUNK = 5000
# Columns added to message_tracking after its first release, with the statement that adds them.
ADDED_COLUMNS = {"add_message_checksums": frozenset({"body_bytes", "body_sha256"})}
DUPLICATE_COLUMN = 1060


class TrackingError(RuntimeError):
    """The ledger database cannot be used; the message says why and what to do."""


def _error_code(error: BaseException) -> int | None:
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _is_transient(error: BaseException) -> bool:
    return _error_code(error) in TRANSIENT_MYSQL_ERRORS


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _id_bytes(message_id: str) -> bytes:
    return message_id.encode("utf-8", "surrogatepass")


def _id_text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "surrogatepass") if isinstance(raw, (bytes, bytearray)) else raw


class MessageTrackingHook(MySqlHook):
    """Reads and writes the export ledger (``job_runs``, ``batch_progress``, ``message_tracking``).

    Statements come from ``include/sql``; values are always bind parameters. One connection is
    kept for the hook's lifetime; lost connections, deadlocks and lock wait timeouts are retried
    with jittered exponential backoff on a fresh connection.
    """

    hook_name = "MySQL (message export ledger)"

    def __init__(self, mysql_conn_id: str = "mysql_default", max_attempts: int = 6, **kwargs: Any) -> None:
        super().__init__(mysql_conn_id=mysql_conn_id, **kwargs)
        self._max_attempts = max_attempts
        self._live_conn: Any = None

    # -- connection ---------------------------------------------------------------------------

    def _describe_target(self) -> str:
        conn = self.connection
        where = f"{conn.login or ''}@{conn.host}:{conn.port or 3306}/{conn.schema or ''}"
        return f"MySQL connection '{self.mysql_conn_id}' ({where})"

    def _connect(self) -> Any:
        try:
            conn = self.get_conn()
        except Exception as error:
            code = _error_code(error)
            target = self._describe_target()
            if code in (1044, 1045, 1698):  # database / password / no-password access denied
                raise TrackingError(
                    f"{target}: access denied ({code}); check the connection's login and password and the user's "
                    "grants on the database"
                ) from None
            if code == 1049:
                raise TrackingError(
                    f"{target}: database does not exist; create it or fix the connection's schema"
                ) from None
            if code in (2002, 2003, 2005):
                raise TrackingError(
                    f"{target}: server unreachable ({error}); check host/port and that MySQL is running"
                ) from None
            raise
        conn.autocommit(False)
        with conn.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
        return conn

    def _live_connection(self) -> Any:
        if self._live_conn is None:
            self._live_conn = self._connect()
        return self._live_conn

    def _drop_connection(self) -> None:
        if self._live_conn is not None:
            try:
                self._live_conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._live_conn = None

    def close(self) -> None:
        """Close the hook's connection."""
        self._drop_connection()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._live_connection()
        try:
            with conn.cursor() as cursor:
                yield cursor
            conn.commit()
        except BaseException as error:
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass
            if _is_transient(error):
                self._drop_connection()
            raise

    def _run(self, work: Any) -> Any:
        """Run ``work(cursor)`` in a transaction, retrying transient failures."""
        for attempt in Retrying(
            retry=retry_if_exception(_is_transient),
            wait=wait_random_exponential(multiplier=0.2, max=10),
            stop=stop_after_attempt(self._max_attempts),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "MySQL transient error (attempt %s/%s), retrying: %s",
                state.attempt_number,
                self._max_attempts,
                state.outcome.exception() if state.outcome else "?",
            ),
        ):
            with attempt, self._transaction() as cursor:
                return work(cursor)
        return None  # pragma: no cover - Retrying either returns or raises

    def _execute(self, name: str, params: Any = None) -> int:
        sql = load_sql(name)
        return self._run(lambda cursor: cursor.execute(sql, params))

    def _fetch(self, name: str, params: Any = None) -> list[tuple]:
        sql = load_sql(name)

        def work(cursor: Any) -> list[tuple]:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

        return self._run(work)

    def _execute_many(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        sql = load_sql(name)
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            self._run(lambda cursor, chunk=chunk: cursor.executemany(sql, chunk))

    # -- schema and jobs ----------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the ledger tables if they do not exist; add columns an older ledger lacks."""
        for name in SCHEMA_STATEMENTS:
            self._execute(name)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        existing = {_id_text(row[0]).lower() for row in self._fetch("message_tracking_columns")}
        for statement, columns in ADDED_COLUMNS.items():
            if columns <= existing:
                continue
            if columns & existing:
                raise TrackingError(
                    f"{self._describe_target()}: message_tracking has only some of {sorted(columns)} "
                    f"(has {sorted(columns & existing)}); add the others as in include/sql/{statement}.sql"
                )
            try:
                self._execute(statement)
            except Exception as error:
                if _error_code(error) != DUPLICATE_COLUMN:  # another worker added them just now
                    raise
            log.info("message_tracking: added columns %s", ", ".join(sorted(columns)))

    def resumable_window(self) -> Window | None:
        """Return the earliest window whose extraction never completed."""
        rows = self._fetch("find_resumable_job")
        return Window(_aware(rows[0][1]), _aware(rows[0][2])) if rows else None

    def chain_next_start(self, first_start: date) -> datetime:
        """Return the first day after the contiguous chain of windows from ``first_start``."""
        first = datetime.combine(first_start, time(0))
        rows = self._fetch("find_chain_next_start", {"first_start": first})
        value = rows[0][0]
        if isinstance(value, (bytes, str)):
            value = datetime.fromisoformat(_id_text(value))
        return _aware(value)

    def open_job(self, window: Window, dag_run_id: str | None) -> Job:
        """Create or reopen the job row of ``window``."""
        params = {
            "start_date": _naive_utc(window.start),
            "end_date": _naive_utc(window.end),
            "dag_run_id": dag_run_id,
        }
        self._execute("open_job", params)
        return self.get_job(window)

    def get_job(self, window: Window) -> Job:
        rows = self._fetch("get_job", {"start_date": _naive_utc(window.start)})
        if not rows:
            raise TrackingError(f"no job_runs row for window {window}")
        job_id, start, end, status, extracted_at = rows[0]
        return Job(int(job_id), Window(_aware(start), _aware(end)), status, extracted_at is not None)

    def complete_extraction(self, job_id: int) -> None:
        self._execute("complete_extraction", {"job_id": job_id})

    def close_job(self, job_id: int, **values: Any) -> None:
        """Write a job's final status, counts and ``next_run_date``."""
        if values.get("next_run_date") is not None:
            values["next_run_date"] = _naive_utc(values["next_run_date"])
        self._execute("close_job", {"job_id": job_id, **values})

    def refresh_settled_job(self, job_id: int) -> None:
        self._execute("refresh_settled_job", {"job_id": job_id})

    def job_counts(self, job_id: int) -> dict[str, int]:
        """Return the number of the job's messages in each status."""
        counts = {"pending": 0, "in_progress": 0, "completed": 0, "failed": 0}
        for status, messages in self._fetch("job_status_counts", {"job_id": job_id}):
            counts[_id_text(status)] = int(messages)
        return counts

    def job_failures(self, job_id: int, limit: int = 10) -> list[tuple[str, int, str]]:
        """Return up to ``limit`` failed messages of the job: ``(message_id, attempts, last_error)``."""
        rows = self._fetch("job_failures", {"job_id": job_id, "limit": limit})
        return [(_id_text(mid), int(attempts), error or "") for mid, attempts, error in rows]

    # -- batches and messages -----------------------------------------------------------------

    def ensure_batches(self, job_id: int, batch_numbers: Sequence[int]) -> dict[int, int]:
        """Create the job's batches if missing; return ``batch_number -> batch_id``."""
        if batch_numbers:
            self._execute_many("ensure_batch", [(job_id, number) for number in batch_numbers])
        rows = self._fetch("job_batch_ids", {"job_id": job_id})
        return {int(number): int(batch_id) for number, batch_id in rows}

    def track_messages(self, job: Job, rows: Sequence[tuple[str, int]]) -> None:
        """Track ``(message_id, batch_id)`` rows as pending; already tracked ids are left as they are."""
        start = _naive_utc(job.window.start)
        self._execute_many(
            "track_messages",
            [(_id_bytes(mid), job.job_id, batch_id, start, "pending") for mid, batch_id in rows],
        )

    def reset_for_reprocess(self, job_id: int) -> int:
        """Set the job's completed and failed messages back to pending; return how many."""
        return self._execute("reset_for_reprocess", {"job_id": job_id})

    def refresh_batches(self, batch_ids: Sequence[int]) -> None:
        """Recompute the counts and status of ``batch_ids`` from their messages."""
        for batch_id in batch_ids:
            self._execute("refresh_batch_progress", {"batch_id": batch_id})

    def list_job_batches(self, job_id: int) -> list[int]:
        return [int(row[0]) for row in self._fetch("list_job_batches", {"job_id": job_id})]

    def get_batch(self, batch_id: int) -> Batch:
        rows = self._fetch("get_batch", {"batch_id": batch_id})
        if not rows:
            raise TrackingError(f"batch_id {batch_id} is not in batch_progress; was the job's extraction reset?")
        batch_id_, job_id, number, total = rows[0]
        return Batch(int(batch_id_), int(job_id), int(number), int(total))

    def _claimed(self, lease_token: str) -> list[ClaimedMessage]:
        rows = self._fetch("claimed_messages", {"lease_token": lease_token})
        return [
            ClaimedMessage(_id_text(mid), int(job_id), int(batch_id), _aware(start))
            for mid, job_id, batch_id, start in rows
        ]

    def claim_batch(
        self, batch_id: int, lease_token: str, lease_seconds: int, max_attempts: int
    ) -> list[ClaimedMessage]:
        """Lease the batch's unfinished messages to ``lease_token``; return them."""
        self._execute(
            "claim_batch",
            {
                "batch_id": batch_id,
                "lease_token": lease_token,
                "lease_seconds": lease_seconds,
                "max_attempts": max_attempts,
            },
        )
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
        self._execute(
            "claim_retryable",
            {
                "job_id": job_id,
                "lease_token": lease_token,
                "lease_seconds": lease_seconds,
                "max_attempts": max_attempts,
                "backoff_seconds": backoff_seconds,
                "max_backoff_seconds": max_backoff_seconds,
                "limit": limit,
            },
        )
        return self._claimed(lease_token)

    def next_retry_wait(self, max_attempts: int, backoff_seconds: float, max_backoff_seconds: float) -> float | None:
        """Return seconds until a failed message becomes due again, or ``None`` if none will."""
        rows = self._fetch(
            "next_retry_wait",
            {
                "max_attempts": max_attempts,
                "backoff_seconds": backoff_seconds,
                "max_backoff_seconds": max_backoff_seconds,
            },
        )
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def give_up_exhausted(self, max_attempts: int) -> int:
        """Mark messages with no attempts left that nobody holds as failed; return how many."""
        return self._execute("give_up_exhausted", {"max_attempts": max_attempts})

    def renew_lease(self, lease_token: str, lease_seconds: int) -> None:
        self._execute("renew_lease", {"lease_token": lease_token, "lease_seconds": lease_seconds})

    def record_results(self, lease_token: str, outcomes: Sequence[MessageOutcome]) -> None:
        """Record outcomes in bulk, fenced by ``lease_token``."""
        self._execute_many(
            "record_results",
            [
                (
                    _id_bytes(o.message.message_id),
                    o.message.job_id,
                    o.message.batch_id,
                    _naive_utc(o.message.window_start),
                    o.status,
                    o.s3_path,
                    o.error,
                    lease_token,
                    o.body_bytes,
                    o.body_sha256,
                )
                for o in outcomes
            ],
        )

    # -- the day manifest ---------------------------------------------------------------------

    def archived_totals(self, job_id: int) -> ArchivedTotals:
        """Return the count, total body bytes and rows without a checksum of the job's archived messages."""
        messages, body_bytes, without = self._fetch("archived_totals", {"job_id": job_id})[0]
        return ArchivedTotals(int(messages), int(body_bytes), int(without))

    def iter_archived(self, job_id: int, page_size: int = 10_000) -> Iterator[ArchivedMessage]:
        """Yield the job's archived messages in ``message_id`` (byte) order, one keyset page at a time."""
        after = b""
        while True:
            rows = self._fetch("archived_messages_page", {"job_id": job_id, "after": after, "limit": page_size})
            for message_id, s3_path, body_bytes, body_sha256 in rows:
                yield ArchivedMessage(
                    _id_text(message_id),
                    _id_text(s3_path),
                    None if body_bytes is None else int(body_bytes),
                    None if body_sha256 is None else bytes(body_sha256),
                )
            if len(rows) < page_size:
                return
            after = bytes(rows[-1][0])
