"""How the ledger's per-run statements grow with the ledger's size.

On a database of its own, at each size (rows already in ``message_tracking`` from earlier days,
made with :mod:`bench.big_ledger`), a fresh job of ``job_messages`` pending messages is tracked,
then the statements a run makes are timed through the product's own hook:

- the claim of a batch (``claim_batch`` + reading the claimed rows) and its ``refresh_batches``;
- ``retry_failed``'s: ``give_up_exhausted``, ``claim_retryable``, ``next_retry_wait``;
- ``finalize``'s: ``job_counts``, ``job_failures``, ``close_job``.

Each is the median of ``repeats`` fresh jobs, so the figures are comparable across sizes.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.big_ledger import connect, generate_ledger

TARGET_FIRST_DAY = datetime(2030, 1, 1, tzinfo=UTC)


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def measure_statements(
    job_messages: int,
    batch_size: int,
    first_day: datetime,
    repeats: int,
    settle: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Time a run's ledger statements on ``repeats`` fresh jobs; return the median seconds of each.

    :param settle: called with each measured job's id afterwards, so its unfinished messages do not
        pile up into what the next measurement's retry statements have to read.
    """
    from message_export.config import load_config
    from message_export.hooks.tracking import MessageTrackingHook
    from message_export.windows import Window

    config = load_config()
    tracking = MessageTrackingHook(config.connections.mysql)
    samples: dict[str, list[float]] = {}
    claimed_counts: dict[str, int] = {}
    try:
        tracking.ensure_schema()
        for repeat in range(repeats):
            start = first_day + timedelta(days=repeat)
            job = tracking.open_job(Window(start, start + timedelta(days=1)), "bench-ledger-size")
            batches = max(1, -(-job_messages // batch_size))
            batch_ids = tracking.ensure_batches(job.job_id, list(range(batches)))
            prefix = f"size-{start:%Y%m%d}-{uuid.uuid4().hex[:6]}-"
            tracking.track_messages(
                job, [(f"{prefix}{n:07d}", batch_ids[n // batch_size]) for n in range(job_messages)]
            )
            tracking.complete_extraction(job.job_id)
            steps = _steps(tracking, config, job.job_id, batch_ids[0], job_messages)
            for name, step in steps:
                seconds, result = _timed(step)
                samples.setdefault(name, []).append(seconds)
                if isinstance(result, list) and name.startswith("claim"):
                    claimed_counts[name] = len(result)
            if settle is not None:
                settle(job.job_id)
    finally:
        tracking.close()
    return {
        "job_messages": job_messages,
        "repeats": repeats,
        "claimed": claimed_counts,
        "seconds": {name: statistics.median(values) for name, values in samples.items()},
    }


def _steps(
    tracking: Any, config: Any, job_id: int, batch_id: int, job_messages: int
) -> list[tuple[str, Callable[[], Any]]]:
    """The statements a run makes, in the order a run makes them."""
    lease = uuid.uuid4().hex
    return [
        (
            "claim_batch",
            lambda: tracking.claim_batch(batch_id, lease, config.lease_seconds, config.max_attempts),
        ),
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
    """Mark a measured job's messages archived, like the history around it."""
    db = connect(mysql)
    try:
        with db.cursor() as cursor:
            cursor.execute(
                "UPDATE message_tracking SET status = 'completed', lease_token = NULL, lease_expires_at = NULL"
                " WHERE job_id = %s",
                (job_id,),
            )
        db.commit()
    finally:
        db.close()


def run_ledger_sizes(
    mysql: dict[str, Any], sizes: list[tuple[int, int]], job_messages: int, batch_size: int, repeats: int
) -> dict[str, Any]:
    """Grow the ledger to each ``(days, rows_per_day)`` step in turn and measure at each size."""
    points = []
    days_so_far = 0
    rows_so_far = 0
    target_day = TARGET_FIRST_DAY
    for days, rows_per_day in [(0, 0), *sizes]:
        generated = None
        if days:
            ledger = generate_ledger(
                mysql, days, rows_per_day, first_day=datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=days_so_far)
            )
            generated = ledger.describe()
            days_so_far += days
            rows_so_far += ledger.rows
        figures = measure_statements(
            job_messages, batch_size, target_day, repeats, settle=lambda job_id: _settle(mysql, job_id)
        )
        target_day += timedelta(days=repeats)
        points.append({"ledger_rows": rows_so_far, "generated": generated, **figures})
    return {"points": points}
