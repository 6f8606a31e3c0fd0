"""The dashboard's queries against a big generated ledger: a year of days, tens of millions of
tracked messages (``--quick``: a year of small days). Each answer the page asks for is timed as the
dashboard computes it (tracking hook → MySQL), repeated; EXPLAIN shows the index each statement uses.

Phase ``dashboard`` of ``make bench`` (alone: ``python -m bench --only dashboard``).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.services import connect, mysql_conn_json
from devstack.ledger_generator import LedgerShape, generate_ledger, message_id_of

CONN_ID = "dashboard_bench"
REPEATS = 5
# every answer the page asks for, first render included, stays under this on the year-long ledger
BUDGET_MS = 100.0
# the statements the dashboard runs, with representative parameters filled in by `_explain`
STATEMENTS = (
    "reads/ledger_span",
    "reads/jobs_between",
    "reads/job_of_day",
    "ledger/job_status_counts",
    "reads/job_batch_count",
    "reads/job_batches",
    "reads/batch_status_counts",
    "reads/job_failures_page",
    "reads/find_message",
    "reads/jobs_with_staged_ids",  # an id not in message_tracking: is it staged? (then per job, a primary key lookup)
    "ledger/find_chain_next_start",
)


def shape_for(profile: str) -> LedgerShape:
    """A year of days ending yesterday; the newest day still running."""
    per_day = 1_000 if profile == "quick" else 55_000  # full: 365 x 55,000 = 20.1M tracked messages
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return LedgerShape(
        first_day=yesterday - timedelta(days=364),
        days=365,
        messages_per_day=per_day,
        batch_size=500,
        failed_every=2_000,
        running_days=1,
    )


def _no_runs(run_ids: Any) -> dict[str, Any]:
    return {}


def _timed(work: Any) -> dict[str, float]:
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return {"median_ms": statistics.median(seconds) * 1000, "max_ms": max(seconds) * 1000}


def _explain(cursor: Any, shape: LedgerShape, job_id: int, first_batch: int) -> dict[str, list[tuple[Any, ...]]]:
    """Each statement's plan: ``(table, type, key, rows)`` per row of its EXPLAIN."""
    from message_export.resources import load_sql

    start = datetime.combine(shape.first_day, datetime.min.time())
    params = {
        "from_start": start,
        "to_start": start + timedelta(days=31),
        "start_date": start,
        "first_start": start,
        "job_id": job_id,
        "after": b"",
        "first_number": 0,
        "limit": 50,
        "first_batch_id": first_batch,
        "last_batch_id": first_batch + 49,
        "message_id": message_id_of(shape.first_day, 7).encode(),
    }
    plans = {}
    for name in STATEMENTS:
        cursor.execute("EXPLAIN " + load_sql(name), params)
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        plans[name] = [
            tuple(v.decode() if isinstance(v, bytes) else v for v in map(row.get, ("table", "type", "key", "rows")))
            for row in rows
        ]
    return plans


def measure(profile: str, mysql: dict[str, Any], database: str, say: Any = print) -> dict[str, Any]:
    """Generate the ledger in ``database`` (empty), time the dashboard's answers; return the figures."""
    from message_export.config import ExportConfig
    from message_export.dashboard.reader import DashboardReader
    from message_export.ledger import MessageTrackingHook

    shape = shape_for(profile)
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = mysql_conn_json(mysql, database)
    MessageTrackingHook(mysql_conn_id=CONN_ID).ensure_schema()
    conn = connect({**mysql, "database": database})
    say(f"dashboard: generating {shape.days} days x {shape.messages_per_day:,} messages ({shape.rows:,} rows)")
    started = time.perf_counter()
    counts = generate_ledger(conn, shape, progress=lambda done, total: say(f"dashboard: {done}/{total} days generated"))
    generate_seconds = time.perf_counter() - started
    with conn.cursor() as cursor:
        cursor.execute("ANALYZE TABLE job_runs, batch_progress, message_tracking")
        cursor.fetchall()
        cursor.execute("SELECT job_id FROM job_runs ORDER BY start_date DESC LIMIT 1 OFFSET 1")
        settled_job = int(cursor.fetchone()[0])
        cursor.execute("SELECT MIN(batch_id) FROM batch_progress WHERE job_id = %s", (settled_job,))
        first_batch = int(cursor.fetchone()[0])
        plans = _explain(cursor, shape, settled_job, first_batch)
    conn.close()

    reader = DashboardReader(
        ExportConfig.model_validate(
            {
                "start_date": shape.first_day.isoformat(),
                "connections": {"mysql": CONN_ID},
                "elasticsearch": {"message_index": "messages"},
                "s3": {"bucket": "message-archive"},
            }
        )
    )
    newest = shape.first_day + timedelta(days=shape.days - 1)
    settled = newest - timedelta(days=1)
    batches = -(-shape.messages_per_day // shape.batch_size)
    last_batch_page = max(-(-batches // 50), 1)
    # a keyset page starts after the last row of the page before it
    last_page_after = (last_batch_page - 1) * 50 - 1 if last_batch_page > 1 else None
    first_failures = (reader.day(settled, per_page=10) or {}).get("failures") or {}
    hit = message_id_of(shape.first_day + timedelta(days=100), shape.messages_per_day // 2)
    answers = {
        "days: newest page (31 days, running day counted live)": lambda: reader.days(1, 31),
        "days: oldest page (31 days)": lambda: reader.days(-(-shape.days // 31), 31),
        "days: the whole year on one page (366)": lambda: reader.days(1, 366),
        "day: running day (live counts, batch page 1, failures page 1)": lambda: reader.day(newest, per_page=50),
        "day: settled day, last batch page": lambda: reader.day(settled, per_page=50, batches_after=last_page_after),
        "day: settled day, failures page 2": lambda: reader.day(
            settled, per_page=10, failures_after=first_failures.get("next_after")
        ),
        # the ledger's side of the trends: Airflow's run records are read by the api-server from its own
        # metadata database (one indexed statement per 500 runs), not measured here
        "trends: 30 days": lambda: reader.trends(30, _no_runs),
        "trends: 365 days": lambda: reader.trends(365, _no_runs),
        "first render: days page 1 + 30-day trends": lambda: (reader.days(1, 31), reader.trends(30, _no_runs)),
        "message: archived id": lambda: reader.message(hit),
        "message: unknown id": lambda: reader.message("no-such-message"),
    }
    timings = {}
    for name, work in answers.items():
        work()  # warm: the first answer opens connections and loads SQL files
        timings[name] = _timed(work)
        say(f"dashboard: {name}: median {timings[name]['median_ms']:.1f} ms, max {timings[name]['max_ms']:.1f} ms")
    slowest = max(timings, key=lambda name: timings[name]["max_ms"])
    full_scans = sorted(
        name for name, plan in plans.items() for _, kind, _, rows in plan if kind == "ALL" and int(rows or 0) > 1000
    )
    return {
        "ledger": {**counts, "days": shape.days, "messages_per_day": shape.messages_per_day},
        "generate_seconds": generate_seconds,
        "repeats": REPEATS,
        "answers_ms": timings,
        "slowest": {"answer": slowest, **timings[slowest]},
        "budget_ms": BUDGET_MS,
        "plans": plans,
        "full_scans": full_scans,
    }
