"""The ledger's MySQL connection and statement runner: one connection per hook, transient failures retried."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from airflow.providers.mysql.hooks.mysql import MySqlHook
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from message_export.ledger.errors import (
    ACCESS_DENIED,
    UNKNOWN_DATABASE,
    UNREACHABLE,
    TrackingError,
    TrackingUnavailableError,
    is_transient,
    mysql_error_code,
)
from message_export.resources import load_sql

log = logging.getLogger(__name__)
T = TypeVar("T")
INSERT_CHUNK = 5000


class LedgerConnection(MySqlHook):
    """Runs the ledger's statements (``include/sql``, always with bind parameters) in transactions.

    One connection is kept for the hook's lifetime; lost connections, deadlocks and lock wait
    timeouts are retried with jittered exponential backoff on a fresh connection.
    """

    def __init__(self, mysql_conn_id: str = "mysql_default", max_attempts: int = 6, **kwargs: Any) -> None:
        super().__init__(mysql_conn_id=mysql_conn_id, **kwargs)
        self._max_attempts = max_attempts
        self._live_conn: Any = None

    def describe_target(self) -> str:
        """Name the connection and where it points, for error messages (never the password)."""
        conn = self.connection
        where = f"{conn.login or ''}@{conn.host}:{conn.port or 3306}/{conn.schema or ''}"
        return f"MySQL connection '{self.mysql_conn_id}' ({where})"

    def _connect(self) -> Any:
        try:
            conn = self.get_conn()
        except Exception as error:
            code = mysql_error_code(error)
            target = self.describe_target()
            if code in ACCESS_DENIED:
                raise TrackingError(
                    f"{target}: access denied ({code}); check the connection's login and password and the user's "
                    "grants on the database"
                ) from None
            if code == UNKNOWN_DATABASE:
                raise TrackingError(
                    f"{target}: database does not exist; create it or fix the connection's schema"
                ) from None
            if code in UNREACHABLE:
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
            if is_transient(error):
                self._drop_connection()
            raise

    def run_transaction(self, work: Callable[[Any], T]) -> T:
        """Run ``work(cursor)`` in one transaction, retrying transient failures on a fresh connection."""
        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
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
        raise AssertionError("unreachable: Retrying either returns or raises")  # pragma: no cover

    def execute_statement(self, name: str, params: Any = None) -> int:
        """Run the statement ``include/sql/<name>.sql``; return the rows it affected."""
        sql = load_sql(name)
        return int(self.run_transaction(lambda cursor: cursor.execute(sql, params)))

    def fetch_rows(self, name: str, params: Any = None) -> list[tuple]:
        """Run the query ``include/sql/<name>.sql``; return its rows."""
        sql = load_sql(name)

        def work(cursor: Any) -> list[tuple]:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

        return self.run_transaction(work)

    def execute_rows(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``include/sql/<name>.sql`` for every row, ``INSERT_CHUNK`` rows per transaction."""
        sql = load_sql(name)
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            self.run_transaction(lambda cursor, chunk=chunk: cursor.executemany(sql, chunk))
