"""A synthetic export ledger for the dashboard's tests and bench: a run of days, their batches and
their messages, written straight into MySQL (server-side ``INSERT ... SELECT`` over MariaDB's
``seq_*`` tables, so tens of millions of rows need no client round trips).

The schema comes from the tracking hook (``ensure_schema``); this module only fills it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

BUCKET = "message-archive"
PREFIX = "messages"


@dataclass(frozen=True)
class LedgerShape:
    """What to generate: ``days`` settled days from ``first_day`` of ``messages_per_day`` each."""

    first_day: date
    days: int
    messages_per_day: int
    batch_size: int = 5000
    failed_every: int = 10_000  # one message in this many is failed (0: none)
    running_days: int = 0  # the newest days are left running with this share still pending
    pending_share: float = 0.5

    @property
    def rows(self) -> int:
        return self.days * self.messages_per_day


def message_id_of(day: date, position: int) -> str:
    """The id the generator gives message ``position`` of ``day``."""
    return f"gen-{day:%Y%m%d}-{position:09d}"


def generate_ledger(conn: Any, shape: LedgerShape, progress: Any = None) -> dict[str, int]:
    """Fill an empty ledger (tables created by the tracking hook) with ``shape``; return row counts."""
    batches_per_day = max(math.ceil(shape.messages_per_day / shape.batch_size), 1)
    with conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        for index in range(shape.days):
            day = shape.first_day + timedelta(days=index)
            running = index >= shape.days - shape.running_days
            _generate_day(cursor, shape, day, batches_per_day, running)
            conn.commit()
            if progress is not None and (index + 1) % 30 == 0:
                progress(index + 1, shape.days)
        counts = {}
        for table in ("job_runs", "batch_progress", "message_tracking"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # fixed table names
            counts[table] = int(cursor.fetchone()[0])
    conn.commit()
    return counts


def _generate_day(cursor: Any, shape: LedgerShape, day: date, batches: int, running: bool) -> None:
    start = datetime.combine(day, time(0))
    total = shape.messages_per_day
    failed = 0 if not shape.failed_every else len(range(0, total, shape.failed_every))
    pending = int(total * shape.pending_share) if running else 0
    cursor.execute(
        "INSERT INTO job_runs (start_date, end_date, status, next_run_date, total_messages, completed_messages,"
        " failed_messages, source_count, archived_objects, extraction_completed_at, dag_run_id, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
        ),
    )
    job_id = cursor.lastrowid
    cursor.execute(
        "INSERT INTO batch_progress (job_id, batch_number, status, total_messages, processed, failed)"
        " SELECT %s, seq, %s, LEAST(%s, %s - seq * %s), 0, 0 FROM seq_0_to_" + str(batches - 1),
        (job_id, "running" if running else "completed", shape.batch_size, total, shape.batch_size),
    )
    cursor.execute("SELECT MIN(batch_id) FROM batch_progress WHERE job_id = %s", (job_id,))
    first_batch = int(cursor.fetchone()[0])
    # position p: failed when p % failed_every == 0, pending when in the last `pending` positions
    every = shape.failed_every or (total + 1)
    cursor.execute(
        "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, s3_path, attempts,"
        " last_error, last_attempted)"
        " SELECT CONVERT(CONCAT(%(stem)s, LPAD(seq, 9, '0')) USING utf8mb4), %(job_id)s,"
        " %(first_batch)s + seq DIV %(batch_size)s,"
        " CASE WHEN seq >= %(total)s - %(pending)s THEN 'pending'"
        "      WHEN MOD(seq, %(every)s) = 0 THEN 'failed' ELSE 'completed' END,"
        " %(start)s,"
        " CASE WHEN seq < %(total)s - %(pending)s AND MOD(seq, %(every)s) <> 0"
        "      THEN CONCAT(%(uri)s, CONCAT(%(stem)s, LPAD(seq, 9, '0')), '.json') END,"
        " CASE WHEN seq >= %(total)s - %(pending)s THEN 0 WHEN MOD(seq, %(every)s) = 0 THEN 5 ELSE 1 END,"
        " CASE WHEN seq < %(total)s - %(pending)s AND MOD(seq, %(every)s) = 0"
        "      THEN 'message not found in Elasticsearch' END,"
        " CASE WHEN seq < %(total)s - %(pending)s THEN %(attempted)s END"
        " FROM seq_0_to_" + str(total - 1),
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
        },
    )
