"""A synthetic export ledger, the one generator of the dashboard's tests, the retention tests and the
benchmark: a run of days, their batches and their messages, written straight into MySQL as the
export leaves them (server-side ``INSERT ... SELECT`` over MariaDB's ``seq_*`` tables, a chunk of at
most ``CHUNK_ROWS`` rows per statement, so tens of millions of rows need no client round trips).

Settled days are ``completed`` (``failed`` when some of their messages are); the newest
``running_days`` are left running with a share still pending. Ids sort in generation order
(``gen-YYYYMMDD-000000001``), so every index is appended to, as after days of real exports. For a
bulk load into a ledger nothing else is using, ``rebuild_indexes=True`` drops message_tracking's
secondary indexes first and builds them again, sorted, at the end (exactly as ``SHOW CREATE TABLE``
lists them): what makes tens of millions of rows a matter of minutes.

The schema comes from the tracking hook (``ensure_schema``); this module only fills it. Run alone:
``python -m devstack.ledger_generator DATABASE DAYS ROWS_PER_DAY``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

BUCKET = "message-archive"
PREFIX = "messages"
CHUNK_ROWS = 500_000


@dataclass(frozen=True)
class LedgerShape:
    """What to generate: ``days`` days from ``first_day`` of ``messages_per_day`` each."""

    first_day: date
    days: int
    messages_per_day: int
    batch_size: int = 5000
    failed_every: int = 10_000  # one message in this many is failed (0: none, every day completed)
    running_days: int = 0  # the newest days are left running with this share still pending
    pending_share: float = 0.5

    @property
    def rows(self) -> int:
        return self.days * self.messages_per_day


def message_id_of(day: date, position: int) -> str:
    """The id the generator gives message ``position`` of ``day``."""
    return f"gen-{day:%Y%m%d}-{position:09d}"


def generate_ledger(
    conn: Any,
    shape: LedgerShape,
    progress: Callable[[int, int], None] | None = None,
    rebuild_indexes: bool = False,
) -> dict[str, int]:
    """Add ``shape``'s days to a ledger (tables created by the tracking hook); return row counts.

    :param rebuild_indexes: build message_tracking's secondary indexes once at the end instead of
        row by row (a bulk load: nothing else may use the ledger meanwhile).
    """
    batches_per_day = max(math.ceil(shape.messages_per_day / shape.batch_size), 1)
    with conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        keys = _secondary_keys(cursor) if rebuild_indexes else []
        if keys:
            cursor.execute("ALTER TABLE message_tracking " + ", ".join(f"DROP KEY `{name}`" for name, _ in keys))
        try:
            for index in range(shape.days):
                day = shape.first_day + timedelta(days=index)
                running = index >= shape.days - shape.running_days
                _generate_day(conn, cursor, shape, day, batches_per_day, running)
                if progress is not None and (index + 1) % 30 == 0:
                    progress(index + 1, shape.days)
        finally:
            if keys:
                cursor.execute("ALTER TABLE message_tracking " + ", ".join(f"ADD {key}" for _, key in keys))
        counts = {}
        for table in ("job_runs", "batch_progress", "message_tracking"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # fixed table names
            counts[table] = int(cursor.fetchone()[0])
    conn.commit()
    return counts


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


def _generate_day(conn: Any, cursor: Any, shape: LedgerShape, day: date, batches: int, running: bool) -> None:
    start = datetime.combine(day, time(0))
    total = shape.messages_per_day
    failed = 0 if not shape.failed_every else len(range(0, total, shape.failed_every))
    pending = int(total * shape.pending_share) if running else 0
    settled = start + timedelta(days=1, minutes=10)
    cursor.execute(
        "INSERT INTO job_runs (start_date, end_date, status, next_run_date, total_messages, completed_messages,"
        " failed_messages, source_count, archived_objects, extraction_completed_at, dag_run_id, created_at,"
        " updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            start,
            start + timedelta(days=1),
            "running" if running else ("failed" if failed else "completed"),
            None if running or failed else start + timedelta(days=2),
            total,
            0 if running else total - failed,
            0 if running else failed,
            None if running else total,
            None if running else total - failed,
            start + timedelta(days=1, minutes=3),
            f"scheduled__{day.isoformat()}T00:00:00+00:00",
            start + timedelta(days=1),
            settled,
        ),
    )
    job_id = cursor.lastrowid
    # batch counts as the export's refresh leaves them: failed positions are the multiples of failed_every
    cursor.execute(
        "INSERT INTO batch_progress (job_id, batch_number, status, total_messages, processed, failed)"
        " SELECT %(job_id)s, seq, IF(%(running)s, 'running', IF(f > 0, 'failed', 'completed')), n,"
        " IF(%(running)s, 0, n - f), IF(%(running)s, 0, f)"
        " FROM (SELECT seq, LEAST(%(size)s, %(total)s - seq * %(size)s) AS n,"
        "       IF(%(every)s = 0, 0, FLOOR((LEAST((seq + 1) * %(size)s, %(total)s) - 1) / %(every)s)"
        "                            - CEIL(seq * %(size)s / %(every)s) + 1) AS f"
        "       FROM seq_0_to_" + str(batches - 1) + ") b",
        {"job_id": job_id, "size": shape.batch_size, "total": total, "running": running, "every": shape.failed_every},
    )
    cursor.execute("SELECT MIN(batch_id), MAX(batch_id) FROM batch_progress WHERE job_id = %s", (job_id,))
    first_batch, last_batch = (int(value) for value in cursor.fetchone())
    if last_batch - first_batch + 1 != batches:
        raise RuntimeError(f"batch ids of job {job_id} are not contiguous; run the generator alone")
    conn.commit()
    # position p: failed when p % failed_every == 0, pending when in the last `pending` positions
    every = shape.failed_every
    for chunk_start in range(0, total, CHUNK_ROWS):
        chunk_end = min(total, chunk_start + CHUNK_ROWS)
        cursor.execute(
            "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, s3_path, attempts,"
            " last_error, last_attempted, created_at, updated_at)"
            " SELECT CONVERT(CONCAT(%(stem)s, LPAD(seq, 9, '0')) USING utf8mb4), %(job_id)s,"
            " %(first_batch)s + seq DIV %(batch_size)s,"
            " CASE WHEN seq >= %(total)s - %(pending)s THEN 'pending'"
            "      WHEN %(every)s > 0 AND MOD(seq, %(every)s) = 0 THEN 'failed' ELSE 'completed' END,"
            " %(start)s,"
            " CASE WHEN seq < %(total)s - %(pending)s AND NOT (%(every)s > 0 AND MOD(seq, %(every)s) = 0)"
            "      THEN CONCAT(%(uri)s, CONCAT(%(stem)s, LPAD(seq, 9, '0')), '.json') END,"
            " CASE WHEN seq >= %(total)s - %(pending)s THEN 0 WHEN %(every)s > 0 AND MOD(seq, %(every)s) = 0 THEN 5"
            "      ELSE 1 END,"
            " CASE WHEN seq < %(total)s - %(pending)s AND %(every)s > 0 AND MOD(seq, %(every)s) = 0"
            "      THEN 'message not found in Elasticsearch' END,"
            " CASE WHEN seq < %(total)s - %(pending)s THEN %(attempted)s END,"
            " %(created)s, %(settled)s"
            f" FROM seq_{chunk_start:d}_to_{chunk_end - 1:d}",
            {
                "stem": f"gen-{day:%Y%m%d}-",
                "job_id": job_id,
                "first_batch": first_batch,
                "batch_size": shape.batch_size,
                "total": total,
                "pending": pending,
                "every": every,
                "start": start,
                "uri": f"s3://{BUCKET}/{PREFIX}/dt={day.isoformat()}/",
                "attempted": start + timedelta(days=1, minutes=5),
                "created": start + timedelta(days=1),
                "settled": settled,
            },
        )
        conn.commit()


def main(argv: list[str]) -> int:
    import os
    import time as clock

    import MySQLdb

    from message_export.ledger.migrations import BASELINE_TABLES
    from message_export.resources import load_sql

    database, days, rows = argv[0], int(argv[1]), int(argv[2])
    conn = MySQLdb.connect(
        host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
        port=int(os.environ.get("MYSQL_PORT", "3306")),
        user=os.environ.get("MYSQL_USER", "root"),
        passwd=os.environ.get("MYSQL_PASSWORD", ""),
        db=database,
        charset="utf8mb4",
    )
    with conn.cursor() as cursor:
        for statement in BASELINE_TABLES:  # the next ensure_schema adopts the ledger and records its version
            cursor.execute(load_sql(f"schema/{statement}"))
    started = clock.perf_counter()
    shape = LedgerShape(first_day=date(2023, 1, 1), days=days, messages_per_day=rows, failed_every=0)
    counts = generate_ledger(conn, shape, rebuild_indexes=True)
    conn.close()
    print({**counts, "seconds": round(clock.perf_counter() - started, 1)})
    return 0


if __name__ == "__main__":
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))  # message_export
    sys.exit(main(sys.argv[1:]))
