"""How the ledger's per-run statements grow with the ledger's size, and what retention does to them.

First on an empty ledger, then at each size of history (completed earlier days in
``message_tracking``, made by :mod:`devstack.ledger_generator`, the generator the dashboard's
tests use too), then once ledger retention (``pipeline.purge_ledger``, timed) has removed the
expired days: each time a fresh job of ``job_messages`` ids (random, as Elasticsearch's are) is
staged as the extraction stages them and every batch but the first tracks its ids, then the
statements a run makes are timed through the product's own hook:

- the claim of the first batch (``claim_batch``: tracking its staged ids, leasing them, reading the
  claimed rows), recording its results (``record_results``) and its ``refresh_batches``;
- ``retry_failed``'s: ``give_up_exhausted``, ``claim_retryable``, ``next_retry_wait``;
- ``finalize``'s: ``job_counts``, ``job_failures``, ``close_job``.

Each is the median of ``repeats`` fresh jobs. Every point takes turns, job by job, with the same
statements on a small ledger (a database of its own on the same server), so each point is compared
with a small ledger measured at the same moment: on a shared machine the load drifts between
points, and a ratio of two figures measured minutes apart says more about the load than the ledger.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import MySQLdb

from devstack.ledger_generator import LedgerShape, generate_ledger

TARGET_FIRST_DAY = datetime(2030, 1, 1, tzinfo=UTC)
HISTORY_FIRST_DAY = datetime(2023, 1, 1, tzinfo=UTC)
# InnoDB's history list length at which the purge of the deleted rows counts as done (a busy server
# never reaches 0: the bench's own small transactions keep adding a few).
INNODB_PURGED_HISTORY = 20


SMALL = "small ledger"
"""Label of the small ledger every point is measured against, in the same rounds."""


def measure_statements(
    ledgers: dict[str, str],
    job_messages: int,
    batch_size: int,
    first_day: datetime,
    repeats: int,
    settle: Callable[[str, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Time a run's ledger statements on ``repeats`` fresh jobs in each ledger; return, per label of
    ``ledgers`` (label -> Airflow connection id), the median seconds of each statement.

    The ledgers take turns job by job (the order flips every round), so a load that drifts on a shared
    machine weighs on every ledger alike and their figures compare side by side.

    :param settle: called with each measured job's ledger label and id afterwards, so its unfinished
        messages do not pile up into what the next measurement's retry statements have to read.
    """
    from message_export.config import load_config
    from message_export.ledger import MessageTrackingHook

    config = load_config()
    hooks = {label: MessageTrackingHook(mysql_conn_id=conn_id) for label, conn_id in ledgers.items()}
    samples: dict[str, dict[str, list[float]]] = {label: {} for label in ledgers}
    try:
        for tracking in hooks.values():
            tracking.ensure_schema()
        labels = list(ledgers)
        for repeat in range(repeats):
            start = first_day + timedelta(days=repeat)
            for label in labels if repeat % 2 == 0 else reversed(labels):
                job_id = _measure_job(hooks[label], config, start, job_messages, batch_size, samples[label])
                if settle is not None:
                    settle(label, job_id)
    finally:
        for tracking in hooks.values():
            tracking.close()
    return {
        label: {
            "job_messages": job_messages,
            "repeats": repeats,
            "seconds": {name: statistics.median(values) for name, values in samples[label].items()},
        }
        for label in ledgers
    }


def _measure_job(
    tracking: Any,
    config: Any,
    start: datetime,
    job_messages: int,
    batch_size: int,
    samples: dict[str, list[float]],
) -> int:
    """Stage a fresh job of ``job_messages`` ids, time a run's statements on it; return its id."""
    job_id, batch_ids = stage_job(tracking, start, [uuid.uuid4().hex for _ in range(job_messages)], batch_size)
    for batch_id in batch_ids[1:]:  # the other mapped tasks' claims
        tracking.track_staged_batch(batch_id)
    for name, step in _steps(tracking, config, job_id, batch_ids[0], job_messages):
        started = time.perf_counter()
        step()
        samples.setdefault(name, []).append(time.perf_counter() - started)
    tracking.track_staged_ids(job_id)  # none left: drops the staging table
    return job_id


def stage_job(tracking: Any, start: datetime, ids: list[str], batch_size: int) -> tuple[int, list[int]]:
    """Open the job of the day starting at ``start`` and stage ``ids`` in batches of ``batch_size``, as
    the extraction does (through the ledger hook); return the job id and its batch ids in order."""
    from message_export.batching import BatchPlan
    from message_export.windows import Window

    job = tracking.open_job(Window(start, start + timedelta(days=1)), "bench-ledger")
    plan = BatchPlan(len(ids), batch_size, max(1, -(-len(ids) // batch_size)))
    batch_ids = tracking.ensure_batches(job.job_id, list(range(plan.batch_count)))
    tracking.start_staging(job.job_id)
    tracking.stage_ids(job.job_id, ids)
    tracking.stage_batches(job.job_id, batch_ids, plan)
    tracking.complete_extraction(job.job_id)
    return job.job_id, [batch_ids[number] for number in range(plan.batch_count)]


def _steps(
    tracking: Any, config: Any, job_id: int, batch_id: int, job_messages: int
) -> list[tuple[str, Callable[[], Any]]]:
    """The statements a run makes, in the order a run makes them."""
    from message_export.model import MessageOutcome

    lease = uuid.uuid4().hex
    claimed: list[Any] = []

    def record_results() -> None:
        uri = "s3://message-archive/messages/dt=2030-01-01/"
        tracking.record_results(lease, [MessageOutcome.archived(m, f"{uri}{m.message_id}.json") for m in claimed])

    return [
        (
            "claim_batch",
            lambda: claimed.extend(tracking.claim_batch(batch_id, lease, config.lease_seconds, config.max_attempts)),
        ),
        ("record_results", record_results),
        ("refresh_batch", lambda: tracking.refresh_batches([batch_id])),
        ("give_up_exhausted", lambda: tracking.give_up_exhausted(config.max_attempts)),
        (
            "claim_retryable",
            lambda: tracking.claim_retryable(
                job_id=job_id,
                lease_token=uuid.uuid4().hex,
                lease_seconds=config.lease_seconds,
                max_attempts=config.max_attempts,
                backoff_seconds=config.retry.backoff_seconds,
                max_backoff_seconds=config.retry.max_backoff_seconds,
                limit=config.fetch_chunk_size,
            ),
        ),
        (
            "next_retry_wait",
            lambda: tracking.next_retry_wait(
                config.max_attempts, config.retry.backoff_seconds, config.retry.max_backoff_seconds
            ),
        ),
        ("job_counts", lambda: tracking.job_counts(job_id)),
        ("job_failures", lambda: tracking.job_failures(job_id, limit=10)),
        (
            "close_job",
            lambda: tracking.close_job(
                job_id,
                status="failed",
                total=job_messages,
                completed=0,
                failed=0,
                source_count=job_messages,
                archived_objects=0,
                next_run_date=None,
                last_error="benchmark job",
            ),
        ),
    ]


def _settle(mysql: dict[str, Any], job_id: int) -> None:
    """Mark a measured job's messages archived and the job completed, like the history around it."""
    db = connect(mysql)
    try:
        with db.cursor() as cursor:
            cursor.execute(
                "UPDATE message_tracking SET status = 'completed', lease_token = NULL, lease_expires_at = NULL"
                " WHERE job_id = %s",
                (job_id,),
            )
            cursor.execute("UPDATE job_runs SET status = 'completed', failed_messages = 0 WHERE job_id = %s", (job_id,))
        db.commit()
    finally:
        db.close()


def _tracked_rows(mysql: dict[str, Any]) -> int:
    db = connect(mysql)
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM message_tracking")
            return int(cursor.fetchone()[0])
    finally:
        db.close()


def _measure_point(
    small: dict[str, Any],
    big: dict[str, Any],
    label: str,
    target_day: datetime,
    job_messages: int,
    batch_size: int,
    repeats: int,
) -> dict[str, Any]:
    """The statements on ``big``, in alternating rounds with the same statements on ``small``."""
    ledgers = {SMALL: "bench_ledger_small", label: "bench_ledger_big"}
    databases = {SMALL: small, label: big}
    with connection_to(small, ledgers[SMALL]), connection_to(big, ledgers[label]):
        figures = measure_statements(
            ledgers,
            job_messages,
            batch_size,
            target_day,
            repeats,
            settle=lambda which, job_id: _settle(databases[which], job_id),
        )
    return {
        "label": label,
        "ledger_rows": _tracked_rows(big),
        **figures[label],
        "small_ledger_rows": _tracked_rows(small),
        "small_seconds": figures[SMALL]["seconds"],
    }


def _purge(mysql: dict[str, Any]) -> dict[str, Any]:
    """Ledger retention as the ``purge_ledger`` step runs it (the config's keep_days and chunk size,
    no time budget, so one purge removes every expired day), timed."""
    from message_export import pipeline
    from message_export.config import load_config

    config = load_config()
    retention = config.retention.model_copy(update={"time_budget_seconds": 86_400})
    config = config.model_copy(update={"retention": retention})
    before = _tracked_rows(mysql)
    started = time.perf_counter()
    result = pipeline.purge_ledger(now=datetime.now(UTC), config=config)
    seconds = time.perf_counter() - started
    return {
        **result,
        "wall_seconds": seconds,
        "rows_per_second": result["rows"] / seconds if seconds else None,
        "rows_before": before,
        "rows_after": _tracked_rows(mysql),
        "keep_days": retention.keep_days,
        "chunk_rows": retention.chunk_rows,
    }


def run_ledger_sizes(
    mysql: dict[str, Any],
    sizes: list[tuple[int, int]],
    job_messages: int,
    batch_size: int,
    repeats: int,
    small_mysql: dict[str, Any],
) -> dict[str, Any]:
    """A run's statements as history grows to each ``(days, rows_per_day)`` step (no retention), then
    once retention has removed the expired days; every point in alternating rounds with the same
    statements on a small ledger (``small_mysql``, a database of its own on the same server), so each
    point compares with the small ledger measured at the same moment.

    History days are completed days long past the retention (2023 on); the measured jobs are days of
    their own far ahead, so retention keeps them.
    """
    from message_export.ledger import MessageTrackingHook

    points = []
    target_day = TARGET_FIRST_DAY
    first_day = HISTORY_FIRST_DAY
    generated_days = 0
    with connection_to(mysql):
        MessageTrackingHook(mysql_conn_id="mysql_default").ensure_schema()
    points.append(_measure_point(small_mysql, mysql, "empty ledger", target_day, job_messages, batch_size, repeats))
    target_day += timedelta(days=repeats)
    for days, rows_per_day in sizes:
        shape = LedgerShape(
            first_day=first_day + timedelta(days=generated_days),
            days=days,
            messages_per_day=rows_per_day,
            batch_size=5000,
            failed_every=0,
        )
        db = connect(mysql)
        try:
            started = time.perf_counter()
            generate_ledger(db, shape, rebuild_indexes=True)
            made = {"rows": shape.rows, "days": days, "seconds": time.perf_counter() - started}
        finally:
            db.close()
        generated_days += days
        point = _measure_point(small_mysql, mysql, "no retention", target_day, job_messages, batch_size, repeats)
        points.append({**point, "generated": made})
        target_day += timedelta(days=repeats)
    with connection_to(mysql):
        purge = _purge(mysql)
    purge["innodb_purge_wait"] = _wait_for_innodb_purge(mysql)
    points.append(_measure_point(small_mysql, mysql, "after retention", target_day, job_messages, batch_size, repeats))
    return {"points": points, "purge": purge}


def _wait_for_innodb_purge(mysql: dict[str, Any], limit_seconds: float = 900) -> dict[str, Any]:
    """Wait until InnoDB has cleaned up the rows retention deleted (its history list is down to
    ``INNODB_PURGED_HISTORY``), as it has in the hours between two daily runs; return how long that
    took and the list's length before and after.

    The history list counts transactions, not rows: each purge chunk is one transaction of up to
    ``chunk_rows`` deleted rows, so even a short list can hold millions of rows InnoDB's purge thread
    has yet to clean up, and measuring while it works measures the purge thread, not the ledger.
    """
    started = time.perf_counter()
    db = connect(mysql)
    lengths: list[int] = []
    try:
        with db.cursor() as cursor:
            while True:
                cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
                row = cursor.fetchone()
                lengths.append(int(row[1]) if row else 0)
                if lengths[-1] <= INNODB_PURGED_HISTORY or time.perf_counter() - started > limit_seconds:
                    break
                time.sleep(1)
    finally:
        db.close()
    return {"seconds": time.perf_counter() - started, "history_before": lengths[0], "history_after": lengths[-1]}


@contextmanager
def connection_to(mysql: dict[str, Any], conn_id: str = "mysql_default") -> Iterator[None]:
    """Point ``AIRFLOW_CONN_<CONN_ID>`` (what the product's hook reads) at ``mysql`` meanwhile."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    previous = os.environ.get(variable)
    base = previous or os.environ.get("AIRFLOW_CONN_MYSQL_DEFAULT")
    values = json.loads(base) if base else {"conn_type": "mysql"}
    values.update(
        host=mysql["host"],
        port=int(mysql["port"]),
        login=mysql["user"],
        password=mysql["password"],
        schema=mysql["database"],
    )
    os.environ[variable] = json.dumps(values)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous


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
