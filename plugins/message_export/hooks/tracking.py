"""The MySQL ledger: jobs, batches and the status of every message."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar

from airflow.providers.mysql.hooks.mysql import MySqlHook
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from message_export.batching import BatchPlan
from message_export.ledger_reads import (
    BatchRecord,
    DayRecord,
    FailedMessage,
    LedgerSpan,
    MessageWhereabouts,
    StatusCounts,
)
from message_export.model import ArchivedMessage, ArchivedTotals, Batch, ClaimedMessage, Job, MessageOutcome
from message_export.resources import load_sql
from message_export.windows import Window

log = logging.getLogger(__name__)

SCHEMA_STATEMENTS = ("create_job_runs", "create_batch_progress", "create_message_tracking")
# Lost connection, server gone away, deadlock, lock wait timeout: safe to retry the statement.
TRANSIENT_MYSQL_ERRORS = frozenset({1205, 1213, 2006, 2013, 2055})
INSERT_CHUNK = 5000
# Columns added after a table's first release: the statement that adds them -> (the statement that
# lists the table's columns, the columns it adds).
ADDED_COLUMNS = {
    "add_message_checksums": ("message_tracking_columns", frozenset({"body_bytes", "body_sha256"})),
    "add_ledger_purged_at": ("job_runs_columns", frozenset({"ledger_purged_at"})),
    "add_batch_staging": ("batch_progress_columns", frozenset({"first_staged_id", "end_staged_id", "staged"})),
}
DUPLICATE_COLUMN = 1060
# Index changes to the ledger's tables after their first release, applied in this order by
# ensure_schema (after the added columns): (statement, table, index, whether the index exists
# afterwards). A replacement is added before the indexes it replaces are dropped, so the statements
# that use them always have one to use.
INDEX_CHANGES = (
    ("add_status_lease_index", "message_tracking", "ix_message_tracking_status", True),
    ("drop_retry_index", "message_tracking", "ix_message_tracking_retry", False),
    ("drop_lease_index", "message_tracking", "ix_message_tracking_lease", False),
    ("add_batch_staged_index", "batch_progress", "ix_batch_progress_staged", True),
)
# Another worker made the same change just now: the index is already there, or already gone.
INDEX_ALREADY_CHANGED = frozenset({1061, 1091})
NO_SUCH_TABLE = 1146
# above every id (VARBINARY(512) compares byte by byte, and no id has 513 bytes): the end of the
# last batch's range
ABOVE_EVERY_ID = b"\xff" * 513


class TrackingError(RuntimeError):
    """The ledger database cannot be used; the message says why and what to do."""

    retryable: ClassVar[bool] = False


class TrackingUnavailableError(TrackingError):
    """The ledger database could not be reached; a later attempt may succeed."""

    retryable = True


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
                raise TrackingUnavailableError(
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
        """Create the ledger tables if they do not exist, bring an older ledger's columns and indexes
        up to date, and drop staging tables nothing will use again."""
        for name in SCHEMA_STATEMENTS:
            self._execute(name)
        self._add_missing_columns()
        self._update_indexes()
        self._drop_abandoned_staging()

    def _add_missing_columns(self) -> None:
        for statement, (listing, columns) in ADDED_COLUMNS.items():
            existing = {_id_text(row[0]).lower() for row in self._fetch(listing)}
            table = listing.removesuffix("_columns")
            if columns <= existing:
                continue
            if columns & existing:
                raise TrackingError(
                    f"{self._describe_target()}: {table} has only some of {sorted(columns)} "
                    f"(has {sorted(columns & existing)}); add the others as in include/sql/{statement}.sql"
                )
            try:
                self._execute(statement)
            except Exception as error:
                if _error_code(error) != DUPLICATE_COLUMN:  # another worker added them just now
                    raise
            log.info("%s: added columns %s", table, ", ".join(sorted(columns)))

    def _update_indexes(self) -> None:
        existing = {(_id_text(table), _id_text(index)) for table, index in self._fetch("ledger_indexes")}
        for statement, table, index, present in INDEX_CHANGES:
            if ((table, index) in existing) == present:
                continue
            try:
                self._execute(statement)
            except Exception as error:
                if _error_code(error) not in INDEX_ALREADY_CHANGED:
                    raise
            log.info("%s: %s index %s", table, "added" if present else "dropped", index)

    def _drop_abandoned_staging(self) -> None:
        # A job that is not running has no extraction or batch that could still use its staging
        # table (finalize tracks what is left and drops it; a worker that died in between leaves it
        # behind). Ids its batches still hold are tracked first, so none is lost with the table.
        prefix = "message_tracking_staging_"
        staged = {
            int(text[len(prefix) :])
            for (name,) in self._fetch("list_staging_tables")
            if (text := _id_text(name)).startswith(prefix) and text[len(prefix) :].isdigit()
        }
        if not staged:
            return
        running = {int(job_id) for (job_id,) in self._fetch("running_jobs")}
        for job_id in sorted(staged - running):
            tracked = self.track_staged_job(job_id)
            self.drop_staging(job_id)
            log.info(
                "dropped the staging table of job %s, which is not running (%d ids its batches still held "
                "tracked first)",
                job_id,
                tracked,
            )

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

    # -- staged extraction: ids stream into a table of their own, then enter the ledger in order --

    @staticmethod
    def staging_table(job_id: int) -> str:
        """The name of job ``job_id``'s staging table."""
        # the only interpolated identifier: built from the integer job id, nothing else
        return f"message_tracking_staging_{int(job_id):d}"

    @classmethod
    def _staging_sql(cls, name: str, job_id: int) -> str:
        return load_sql(name).replace("{table}", cls.staging_table(job_id))

    def start_staging(self, job_id: int) -> None:
        """Create the job's empty staging table (dropping one an earlier attempt left); until
        ``stage_batches`` runs, none of the job's batches holds staged ids."""
        drop, create = self._staging_sql("drop_staged_ids", job_id), self._staging_sql("create_staged_ids", job_id)
        unstage = load_sql("unstage_job_batches")

        def work(cursor: Any) -> None:
            cursor.execute(unstage, {"job_id": job_id})
            cursor.execute(drop)
            cursor.execute(create)

        self._run(work)

    def stage_ids(self, job_id: int, message_ids: Sequence[str]) -> None:
        """Add ``message_ids`` to the job's staging table (an id already there is a no-op), one
        statement per ``INSERT_CHUNK`` ids."""
        sql = self._staging_sql("stage_ids", job_id)
        for start in range(0, len(message_ids), INSERT_CHUNK):
            page = json.dumps([_id_bytes(mid).hex() for mid in message_ids[start : start + INSERT_CHUNK]])
            self._run(lambda cursor, page=page: cursor.execute(sql, {"ids": page}))

    def stage_batches(self, job_id: int, batch_ids: dict[int, int], plan: BatchPlan) -> int:
        """Give each batch of ``plan`` (``batch_number -> batch_id``) its range of the job's staged ids
        in message_id order: ``plan.batch_size`` each, the last batch the rest (ids beyond the planned
        total too), and batches no id is left for none. Each batch tracks its range when first
        claimed. Return how many ids are staged."""
        boundary = self._staging_sql("staged_boundary", job_id)
        rest = self._staging_sql("staged_from", job_id)

        def fetch(cursor: Any, sql: str, params: dict[str, Any]) -> Any:
            cursor.execute(sql, params)
            row = cursor.fetchone()
            return row[0] if row else None

        rows: list[tuple[bytes | None, bytes | None, int, int]] = []
        first: bytes | None = b""  # every id is >= the empty string
        for number in range(plan.batch_count):
            if first is None:  # no id left for this batch
                rows.append((None, None, 0, batch_ids[number]))
                continue
            after = None
            if number < plan.batch_count - 1:
                params = {"first_id": first, "size": plan.batch_size}
                after = self._run(lambda cursor, params=params: fetch(cursor, boundary, params))
            if after is None:
                count = self._run(lambda cursor, first=first: fetch(cursor, rest, {"first_id": first}))
                rows.append((first, None, int(count), batch_ids[number]))
                first = None
            else:
                rows.append((first, bytes(after), plan.batch_size, batch_ids[number]))
                first = bytes(after)
        self._execute_many("stage_batches", rows)
        return sum(row[2] for row in rows)

    def track_staged_batch(self, batch_id: int) -> int:
        """Track the ids batch ``batch_id`` still holds staged as pending, in message_id order (ids
        already tracked keep their rows); a no-op once they are.

        :return: rows the statement reported (inserted ids count once, existing ones not at all).
        """
        select, start_of = load_sql("staged_batch"), load_sql("job_start_date")
        done = load_sql("batch_tracked")

        def work(cursor: Any) -> int:
            cursor.execute(select, {"batch_id": batch_id})
            row = cursor.fetchone()
            if row is None or not row[2]:
                return 0
            first, end, staged, job_id = bytes(row[0]), row[1], int(row[2]), int(row[3])
            cursor.execute(start_of, {"job_id": job_id})
            (start_date,) = cursor.fetchone()
            params = {
                "job_id": job_id,
                "batch_id": batch_id,
                "start_date": start_date,
                "first_id": first,
                "end_id": ABOVE_EVERY_ID if end is None else bytes(end),
            }
            try:
                tracked = cursor.execute(self._staging_sql("track_staged_batch", job_id), params)
            except Exception as error:
                if _error_code(error) != NO_SUCH_TABLE:
                    raise
                raise TrackingError(
                    f"batch_id {batch_id} of job {job_id} holds {staged} staged ids, but "
                    f"{self.staging_table(job_id)} is gone from {self._describe_target()}; run the "
                    "window's extraction again (trigger the DAG with its start_date) to stage them anew"
                ) from None
            cursor.execute(done, {"batch_id": batch_id})
            return int(tracked)

        return int(self._run(work))

    def track_staged_job(self, job_id: int) -> int:
        """Track every id the job's batches still hold staged; return how many rows were added."""
        return sum(
            self.track_staged_batch(int(batch_id))
            for (batch_id,) in self._fetch("staged_job_batches", {"job_id": job_id})
        )

    def drop_staging(self, job_id: int) -> None:
        """Drop the job's staging table (once no batch holds staged ids)."""
        self._run(lambda cursor: cursor.execute(self._staging_sql("drop_staged_ids", job_id)))

    def staged_count(self, job_id: int) -> int:
        """How many of the job's ids are staged and not tracked yet (pending, unclaimed)."""
        return int(self._fetch("job_staged_count", {"job_id": job_id})[0][0])

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
        """Track the batch's staged ids, then lease its unfinished messages to ``lease_token``; return
        them."""
        self.track_staged_batch(batch_id)
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

    # -- retention: the message rows of old completed days ---------------------------------------

    def expired_days(self, cutoff: datetime, limit: int = 1000) -> list[tuple[int, date]]:
        """Return ``(job_id, day)`` of completed days, oldest first, whose message rows may be removed:
        the day ended and its export last finished before ``cutoff``, and every message is archived."""
        rows = self._fetch("expired_days", {"cutoff": _naive_utc(cutoff), "limit": limit})
        return [(int(job_id), start.date()) for job_id, start in rows]

    def purge_chunk(self, job_id: int, after: bytes, limit: int) -> tuple[int | None, bytes | None]:
        """Remove up to ``limit`` archived messages of a purgeable day, those after ``after``.

        Two short transactions: a plain read of the next ids, then the day's job row share-locked
        and the rows deleted by primary key. :return: rows removed (``None``: the day was reopened
        meanwhile, nothing removed) and the last id of the chunk (``None``: no row was left).
        """
        params = {"job_id": job_id, "after": after, "limit": limit}
        ids = [bytes(row[0]) for row in self._fetch("purge_chunk_ids", params)]
        if not ids:
            return 0, None
        check, delete = load_sql("lock_purgeable_job"), load_sql("delete_purged_messages")

        def work(cursor: Any) -> int:
            cursor.execute(check, {"job_id": job_id})
            row = cursor.fetchone()
            if not row or not row[0]:
                return -1
            return int(cursor.execute(delete, {"job_id": job_id, "message_ids": tuple(ids)}))

        removed = self._run(work)
        return (None, ids[-1]) if removed < 0 else (removed, ids[-1])

    def mark_purged(self, job_id: int) -> None:
        """Record that the day's message rows are gone; its counts stay in ``job_runs``."""
        self._execute("mark_ledger_purged", {"job_id": job_id})

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

    # -- read-only views of the ledger (the dashboard) -----------------------------------------

    def ledger_span(self, first_day: date, end_day: date) -> LedgerSpan:
        """Return the first exported day and the job counts of the days in ``[first_day, end_day)``."""
        rows = self._fetch(
            "dashboard_ledger_span",
            {"from_start": datetime.combine(first_day, time(0)), "to_start": datetime.combine(end_day, time(0))},
        )
        first, days, completed, failed, running = rows[0]
        return LedgerSpan(
            first_day=first.date() if first is not None else None,
            days=int(days),
            completed_days=int(completed),
            failed_days=int(failed),
            running_days=int(running),
        )

    def days_between(self, first_day: date, end_day: date) -> list[DayRecord]:
        """Return the job rows of the days in ``[first_day, end_day)``, newest first."""
        rows = self._fetch(
            "dashboard_jobs_between",
            {"from_start": datetime.combine(first_day, time(0)), "to_start": datetime.combine(end_day, time(0))},
        )
        return [self._day_record(row) for row in rows]

    def day_record(self, day: date) -> DayRecord | None:
        """Return the job row of ``day``, or ``None`` if the day was never exported."""
        rows = self._fetch("dashboard_job_of_day", {"start_date": datetime.combine(day, time(0))})
        return self._day_record(rows[0]) if rows else None

    def run_record(self, dag_run_id: str) -> DayRecord | None:
        """Return the job row the Airflow run ``dag_run_id`` last worked on, or ``None``."""
        rows = self._fetch("job_of_run", {"dag_run_id": dag_run_id})
        return self._day_record(rows[0]) if rows else None

    def live_job_counts(self, job_id: int) -> StatusCounts:
        """Return the job's messages per status as they stand now (staged ids are pending)."""
        counts = self.job_counts(job_id)
        counts["pending"] += self.staged_count(job_id)
        return StatusCounts.from_rows(counts)

    def batch_count(self, job_id: int) -> int:
        return int(self._fetch("dashboard_job_batch_count", {"job_id": job_id})[0][0])

    def batch_records(self, job_id: int, offset: int, limit: int, live: bool = True) -> list[BatchRecord]:
        """Return one page of the job's batches with live message counts, or (``live=False``, for a day
        whose message rows retention removed) the counts ``batch_progress`` last recorded."""
        rows = self._fetch("dashboard_job_batches", {"job_id": job_id, "offset": offset, "limit": limit})
        if not rows:
            return []
        if not live:
            return [
                BatchRecord(
                    batch_id=int(batch_id),
                    batch_number=int(number),
                    status=_id_text(status),
                    counts=StatusCounts(
                        completed=int(processed),
                        failed=int(failed),
                        pending=max(int(total) - int(processed) - int(failed), 0),
                    ),
                    updated_at=_aware(updated_at),
                )
                for batch_id, number, status, total, processed, failed, updated_at, _staged in rows
            ]
        batch_ids = [int(row[0]) for row in rows]
        # ids a batch holds staged are pending: no worker has claimed the batch yet
        counted: dict[int, dict[str, int]] = {int(row[0]): {"pending": int(row[7])} for row in rows}
        for batch_id, status, messages in self._fetch(
            "dashboard_batch_status_counts",
            {"first_batch_id": min(batch_ids), "last_batch_id": max(batch_ids)},
        ):
            if (counts := counted.get(int(batch_id))) is not None:
                counts[_id_text(status)] = counts.get(_id_text(status), 0) + int(messages)
        return [
            BatchRecord(
                batch_id=int(batch_id),
                batch_number=int(number),
                status=_id_text(status),
                counts=StatusCounts.from_rows(counted[int(batch_id)]),
                updated_at=_aware(updated_at),
            )
            for batch_id, number, status, _total, _processed, _failed, updated_at, _staged in rows
        ]

    def failed_messages(self, job_id: int, offset: int, limit: int) -> list[FailedMessage]:
        """Return one page of the job's failed messages, in message id order."""
        rows = self._fetch("dashboard_job_failures_page", {"job_id": job_id, "offset": offset, "limit": limit})
        return [
            FailedMessage(
                message_id=_id_text(mid),
                batch_id=int(batch_id),
                attempts=int(attempts),
                reason=error or "",
                last_attempted=_aware(attempted) if attempted is not None else None,
            )
            for mid, batch_id, attempts, error, attempted in rows
        ]

    def find_message(self, message_id: str) -> MessageWhereabouts | None:
        """Return where ``message_id`` stands (a staged id is pending in the batch that holds it), or
        ``None`` if no export ever extracted it."""
        rows = self._fetch("dashboard_find_message", {"message_id": _id_bytes(message_id)})
        if not rows:
            return self._find_staged_message(message_id)
        mid, status, s3_path, attempts, error, attempted, start, batch_id, dag_run_id = rows[0]
        return MessageWhereabouts(
            message_id=_id_text(mid),
            status=_id_text(status),
            day=start.date(),
            batch_id=int(batch_id),
            attempts=int(attempts),
            s3_path=s3_path,
            reason=error,
            last_attempted=_aware(attempted) if attempted is not None else None,
            dag_run_id=_id_text(dag_run_id) if dag_run_id is not None else None,
        )

    def _find_staged_message(self, message_id: str) -> MessageWhereabouts | None:
        for (job_id,) in self._fetch("jobs_with_staged_ids"):
            sql = self._staging_sql("dashboard_find_staged_message", int(job_id))
            params = {"job_id": int(job_id), "message_id": _id_bytes(message_id)}

            def work(cursor: Any, sql: str = sql, params: dict[str, Any] = params) -> list[tuple]:
                try:
                    cursor.execute(sql, params)
                except Exception as error:
                    if _error_code(error) == NO_SUCH_TABLE:  # finalize dropped it just now
                        return []
                    raise
                return list(cursor.fetchall())

            found = self._run(work)
            if found:
                mid, batch_id, start, dag_run_id = found[0]
                return MessageWhereabouts(
                    message_id=_id_text(mid),
                    status="pending",
                    day=start.date(),
                    batch_id=int(batch_id),
                    attempts=0,
                    s3_path=None,
                    reason=None,
                    last_attempted=None,
                    dag_run_id=_id_text(dag_run_id) if dag_run_id is not None else None,
                )
        return None

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
            status=_id_text(status),
            counts=StatusCounts(completed=completed, failed=failed, pending=max(int(total) - completed - failed, 0)),
            source_count=None if source_count is None else int(source_count),
            archived_objects=None if archived_objects is None else int(archived_objects),
            extraction_completed_at=_aware(extracted_at) if extracted_at is not None else None,
            dag_run_id=_id_text(dag_run_id) if dag_run_id is not None else None,
            last_error=last_error,
            updated_at=_aware(updated_at),
            ledger_purged_at=_aware(purged_at) if purged_at is not None else None,
        )
