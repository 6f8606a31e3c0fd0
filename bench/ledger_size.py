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

import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.services import connect, connection_to, sql
from devstack.ledger_generator import LedgerShape, generate_ledger

TARGET_FIRST_DAY = datetime(2030, 1, 1, tzinfo=UTC)
HISTORY_FIRST_DAY = datetime(2023, 1, 1, tzinfo=UTC)
# InnoDB's history list length at which the purge of the deleted rows counts as done (a busy server
# never reaches 0: the bench's own small transactions keep adding a few).
INNODB_PURGED_HISTORY = 20


SMALL = "small ledger"  # the label of the ledger every point is measured against, in the same rounds
CONN_IDS = ("bench_ledger_small", "bench_ledger_big")


def _measure_job(
    tracking: Any,
    config: Any,
    start: datetime,
    job_messages: int,
    batch_size: int,
    samples: dict[str, list[float]],
) -> int:
    """Stage a fresh job of ``job_messages`` ids, time a run's statements on it in the order a run
    makes them; return its id."""
    from message_export.model import MessageOutcome

    job_id, batch_ids = stage_job(tracking, start, [uuid.uuid4().hex for _ in range(job_messages)], batch_size)
    for batch_id in batch_ids[1:]:  # the other mapped tasks' claims
        tracking.track_staged_batch(batch_id)
    batch_id, lease, uri = batch_ids[0], uuid.uuid4().hex, "s3://message-archive/messages/dt=2030-01-01/"
    attempts, retry = config.max_attempts, config.retry

    @contextmanager
    def timed(statement: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        samples.setdefault(statement, []).append(time.perf_counter() - started)

    with timed("claim_batch"):
        claimed = tracking.claim_batch(batch_id, lease, config.lease_seconds, attempts)
    with timed("record_results"):
        tracking.record_results(lease, [MessageOutcome.archived(m, f"{uri}{m.message_id}.json") for m in claimed])
    with timed("refresh_batch"):
        tracking.refresh_batches([batch_id])
    with timed("give_up_exhausted"):
        tracking.give_up_exhausted(attempts)
    with timed("claim_retryable"):
        tracking.claim_retryable(
            job_id=job_id,
            lease_token=uuid.uuid4().hex,
            lease_seconds=config.lease_seconds,
            max_attempts=attempts,
            backoff_seconds=retry.backoff_seconds,
            max_backoff_seconds=retry.max_backoff_seconds,
            limit=config.fetch_chunk_size,
        )
    with timed("next_retry_wait"):
        tracking.next_retry_wait(attempts, retry.backoff_seconds, retry.max_backoff_seconds)
    with timed("job_counts"):
        tracking.job_counts(job_id)
    with timed("job_failures"):
        tracking.job_failures(job_id, limit=10)
    closed = {"completed": 0, "failed": 0, "archived_objects": 0, "next_run_date": None}
    with timed("close_job"):
        tracking.close_job(
            job_id, status="failed", total=job_messages, source_count=job_messages, last_error="benchmark job", **closed
        )
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


def _settle(mysql: dict[str, Any], job_id: int) -> None:
    """Mark a measured job's messages archived and the job completed, like the history around it, so
    its unfinished messages do not pile up into what the next measurement's retry statements read."""
    archived = "UPDATE message_tracking SET status = 'completed', lease_token = NULL, lease_expires_at = NULL"
    sql(mysql, archived + " WHERE job_id = %s", (job_id,))
    sql(mysql, "UPDATE job_runs SET status = 'completed', failed_messages = 0 WHERE job_id = %s", (job_id,))


def _tracked_rows(mysql: dict[str, Any]) -> int:
    return int(sql(mysql, "SELECT COUNT(*) FROM message_tracking")[0][0])


def _measure_point(
    small: dict[str, Any],
    big: dict[str, Any],
    label: str,
    first_day: datetime,
    job_messages: int,
    batch_size: int,
    repeats: int,
) -> dict[str, Any]:
    """The median seconds of each statement on ``repeats`` fresh jobs in ``big``, the ledgers taking
    turns job by job (the order flips every round) with the same statements on ``small``."""
    from message_export.config import load_config
    from message_export.ledger import MessageTrackingHook

    config = load_config()
    databases = {SMALL: small, label: big}
    samples: dict[str, dict[str, list[float]]] = {SMALL: {}, label: {}}
    with connection_to(small, "bench_ledger_small"), connection_to(big, "bench_ledger_big"):
        hooks = {
            which: MessageTrackingHook(mysql_conn_id=conn) for which, conn in zip(databases, CONN_IDS, strict=True)
        }
        try:
            for tracking in hooks.values():
                tracking.ensure_schema()
            for repeat in range(repeats):
                start = first_day + timedelta(days=repeat)
                for which in list(hooks) if repeat % 2 == 0 else reversed(list(hooks)):
                    job_id = _measure_job(hooks[which], config, start, job_messages, batch_size, samples[which])
                    _settle(databases[which], job_id)
        finally:
            for tracking in hooks.values():
                tracking.close()
    medians = {which: {name: statistics.median(values) for name, values in samples[which].items()} for which in hooks}
    return {
        "label": label,
        "ledger_rows": _tracked_rows(big),
        "job_messages": job_messages,
        "repeats": repeats,
        "seconds": medians[label],
        "small_ledger_rows": _tracked_rows(small),
        "small_seconds": medians[SMALL],
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
    once retention has removed the expired days, each point against the small ledger ``small_mysql``.

    History days are completed days long past the retention (2023 on); the measured jobs are days of
    their own far ahead (2030 on), so retention keeps them.
    """
    points: list[dict[str, Any]] = []

    def measure(label: str, **extra: Any) -> None:
        first_day = TARGET_FIRST_DAY + timedelta(days=repeats * len(points))
        point = _measure_point(small_mysql, mysql, label, first_day, job_messages, batch_size, repeats)
        points.append({**point, **extra})

    measure("empty ledger")
    generated_days = 0
    for days, rows_per_day in sizes:
        first_day = HISTORY_FIRST_DAY + timedelta(days=generated_days)
        shape = LedgerShape(
            first_day=first_day, days=days, messages_per_day=rows_per_day, batch_size=5000, failed_every=0
        )
        started = time.perf_counter()
        with closing(connect(mysql)) as db:
            generate_ledger(db, shape, rebuild_indexes=True)
        measure("no retention", generated={"rows": shape.rows, "days": days, "seconds": time.perf_counter() - started})
        generated_days += days
    with connection_to(mysql):
        purge = _purge(mysql)
    purge["innodb_purge_wait"] = _wait_for_innodb_purge(mysql)
    measure("after retention")
    return {"points": points, "purge": purge}


def _wait_for_innodb_purge(mysql: dict[str, Any], limit_seconds: float = 900) -> dict[str, Any]:
    """Wait until InnoDB has cleaned up the rows retention deleted (its history list is down to
    ``INNODB_PURGED_HISTORY``), as it has in the hours between two daily runs; return how long that
    took and the list's length before and after.

    The history list counts transactions, not rows: each purge chunk is one transaction of up to
    ``chunk_rows`` deleted rows, so even a short list can hold millions of rows InnoDB's purge thread
    has yet to clean up, and measuring while it works measures the purge thread, not the ledger.
    """
    started, lengths = time.perf_counter(), []
    while True:
        rows = sql(mysql, "SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
        lengths.append(int(rows[0][1]) if rows else 0)
        if lengths[-1] <= INNODB_PURGED_HISTORY or time.perf_counter() - started > limit_seconds:
            break
        time.sleep(1)
    return {"seconds": time.perf_counter() - started, "history_before": lengths[0], "history_after": lengths[-1]}
