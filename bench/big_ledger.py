"""A big, realistic export ledger generated in bulk, for benchmarks that need one.

``generate_ledger(mysql, days=10, rows_per_day=1_000_000)`` fills a database with ``days``
finished one-day jobs of ``rows_per_day`` messages each, as the export leaves them: a completed
``job_runs`` row per day, its ``batch_progress`` rows, and ``message_tracking`` rows that are
mostly ``completed`` (with their ``s3_path``), a few ``failed`` after their attempts ran out. The
schema is the product's own (``include/sql``); rows are written with ``INSERT ... SELECT`` over
MariaDB's ``seq_<from>_to_<to>`` sequence tables inside the server, one statement per chunk. Into an
empty ledger the secondary indexes are dropped first and built again, sorted, at the end (exactly
as ``SHOW CREATE TABLE`` listed them), which is what makes 10M rows a matter of minutes.

Ids sort in generation order (``big-YYYYMMDD-000000001``), so every index is appended to, as it
would be after days of real exports, and generation does not depend on the buffer pool size.

Reusable by any benchmark (query costs against ledger size, a dashboard's reads, retention):
call it on a database of your own, or run ``python -m bench.big_ledger DATABASE DAYS ROWS``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import MySQLdb

DEFAULT_FIRST_DAY = datetime(2023, 1, 1, tzinfo=UTC)
BATCH_SIZE = 5000
FAILED_EVERY = 1000
"""One message in this many is left ``failed`` (attempts used up)."""
CHUNK_ROWS = 500_000


@dataclass(frozen=True)
class GeneratedLedger:
    days: int
    rows_per_day: int
    first_day: datetime
    job_ids: list[int]
    seconds: float

    @property
    def rows(self) -> int:
        return self.days * self.rows_per_day

    def describe(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "rows_per_day": self.rows_per_day,
            "rows": self.rows,
            "first_day": self.first_day.date().isoformat(),
            "seconds": self.seconds,
            "rows_per_second": self.rows / self.seconds if self.seconds else None,
        }


def connect(mysql: dict[str, Any]) -> Any:
    """Open a connection from ``{"host", "port", "user", "password", "database"}``."""
    return MySQLdb.connect(
        host=mysql["host"],
        port=int(mysql["port"]),
        user=mysql["user"],
        passwd=mysql["password"],
        db=mysql["database"],
        charset="utf8mb4",
    )


def generate_ledger(
    mysql: dict[str, Any],
    days: int,
    rows_per_day: int,
    first_day: datetime = DEFAULT_FIRST_DAY,
    batch_size: int = BATCH_SIZE,
) -> GeneratedLedger:
    """Add ``days`` finished jobs of ``rows_per_day`` messages, from ``first_day`` on, to the ledger."""
    from message_export.hooks.tracking import SCHEMA_STATEMENTS
    from message_export.resources import load_sql

    started = time.perf_counter()
    db = connect(mysql)
    job_ids: list[int] = []
    try:
        with db.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
            for statement in SCHEMA_STATEMENTS:
                cursor.execute(load_sql(statement))
            cursor.execute("SELECT EXISTS (SELECT 1 FROM message_tracking)")
            (not_empty,) = cursor.fetchone()
            keys = [] if not_empty else _secondary_keys(cursor)
            if keys:
                cursor.execute("ALTER TABLE message_tracking " + ", ".join(f"DROP KEY `{name}`" for name, _ in keys))
        db.commit()
        try:
            for offset in range(days):
                job_ids.append(_generate_day(db, first_day + timedelta(days=offset), rows_per_day, batch_size))
        finally:
            if keys:
                with db.cursor() as cursor:
                    cursor.execute("ALTER TABLE message_tracking " + ", ".join(f"ADD {key}" for _, key in keys))
    finally:
        db.close()
    return GeneratedLedger(days, rows_per_day, first_day, job_ids, time.perf_counter() - started)


def _secondary_keys(cursor: Any) -> list[tuple[str, str]]:
    """``(name, definition)`` of message_tracking's secondary indexes, as the schema made them."""
    cursor.execute("SHOW CREATE TABLE message_tracking")
    (_, ddl) = cursor.fetchone()
    keys = []
    for line in ddl.splitlines():
        line = line.strip().rstrip(",")
        if line.startswith("KEY `"):
            keys.append((line.split("`")[1], line))
    return keys


def _generate_day(db: Any, day: datetime, rows: int, batch_size: int) -> int:
    start = day.replace(tzinfo=None)
    batches = max(1, -(-rows // batch_size))
    with db.cursor() as cursor:
        cursor.execute(
            "INSERT INTO job_runs (start_date, end_date, status, next_run_date, total_messages, completed_messages,"
            " failed_messages, source_count, archived_objects, extraction_completed_at, dag_run_id)"
            " VALUES (%s, %s, 'failed', %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                start,
                start + timedelta(days=1),
                None,
                rows,
                rows - rows // FAILED_EVERY,
                rows // FAILED_EVERY,
                rows,
                rows - rows // FAILED_EVERY,
                start + timedelta(days=1, hours=1),
                f"big_ledger__{day:%Y%m%d}",
            ),
        )
        job_id = int(cursor.lastrowid)
        cursor.executemany(
            "INSERT INTO batch_progress (job_id, batch_number, status, total_messages, processed, failed)"
            " VALUES (%s, %s, 'failed', %s, %s, %s)",
            [
                (job_id, number, batch_size, batch_size - batch_size // FAILED_EVERY, batch_size // FAILED_EVERY)
                for number in range(batches)
            ],
        )
        cursor.execute("SELECT batch_number, batch_id FROM batch_progress WHERE job_id = %s", (job_id,))
        batch_ids = dict(cursor.fetchall())
        first_batch_id = batch_ids[0]
        if sorted(batch_ids.values()) != list(range(first_batch_id, first_batch_id + batches)):
            raise RuntimeError(f"batch ids of job {job_id} are not contiguous; run the generator alone")
    db.commit()
    for chunk_start in range(0, rows, CHUNK_ROWS):
        chunk_end = min(rows, chunk_start + CHUNK_ROWS)
        with db.cursor() as cursor:
            # seq_<a>_to_<b> is MariaDB's built-in sequence table: one row per integer of [a, b].
            sequence = f"seq_{int(chunk_start):d}_to_{int(chunk_end) - 1:d}"
            cursor.execute(
                "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, s3_path, attempts,"
                " last_error, last_attempted, created_at, updated_at)"
                " SELECT CONCAT(%(prefix)s, LPAD(seq, 9, '0')), %(job_id)s, %(first_batch)s + seq DIV %(batch_size)s,"
                " IF(seq %% %(failed_every)s = 7, 'failed', 'completed'), %(start)s,"
                " IF(seq %% %(failed_every)s = 7, NULL,"
                "    CONCAT('s3://message-archive/messages/dt=', %(day)s, '/',"
                "           %(prefix)s, LPAD(seq, 9, '0'), '.json')),"
                " IF(seq %% %(failed_every)s = 7, 5, 1),"
                " IF(seq %% %(failed_every)s = 7, 'S3 503 SlowDown: Please reduce your request rate.', NULL),"
                " %(start)s + INTERVAL 1 DAY + INTERVAL seq * 3 MICROSECOND,"
                " %(start)s + INTERVAL 1 DAY, %(start)s + INTERVAL 1 DAY"
                f" FROM (SELECT seq FROM {sequence}) s",
                {
                    "prefix": f"big-{day:%Y%m%d}-",
                    "job_id": job_id,
                    "first_batch": first_batch_id,
                    "batch_size": batch_size,
                    "failed_every": FAILED_EVERY,
                    "start": start,
                    "day": f"{day:%Y-%m-%d}",
                },
            )
        db.commit()
    return job_id


def main(argv: list[str]) -> int:
    import os

    database, days, rows = argv[0], int(argv[1]), int(argv[2])
    mysql = {
        "host": os.environ.get("MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("MYSQL_PORT", "3306")),
        "user": os.environ.get("MYSQL_USER", "root"),
        "password": os.environ.get("MYSQL_PASSWORD", ""),
        "database": database,
    }
    ledger = generate_ledger(mysql, days, rows)
    print(ledger.describe())
    return 0


if __name__ == "__main__":
    from bench.environment import put_repo_on_path

    put_repo_on_path()
    sys.exit(main(sys.argv[1:]))
