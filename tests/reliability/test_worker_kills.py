"""Hard kills, zombies and stale workers: a batch always ends archived exactly once."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_LAYOUTS
from tests.reliability.conftest import ledger_session, wait_until

BATCH = 50  # the test config's batch_size


def seed_and_extract(stack: Stack, count: int = 100) -> tuple[set[str], list[int]]:
    messages, related = day_of_messages(date(2024, 10, 1), count)
    stack.index_messages(messages, related)
    _window, batch_ids = prepare_window("2024-10-01")
    return set(messages), batch_ids


def batch_rows(stack: Stack, batch_id: int) -> dict[str, dict]:
    return {m: r for m, r in stack.tracking().items() if r["batch_id"] == batch_id}


def puts(stack: Stack, outcome: str = "forwarded") -> int:
    return stack.services.s3_proxy.faults.counters().by_method.get("PUT", {}).get(outcome, 0)


def batch_puts(stack: Stack) -> int:
    """The PUTs one batch makes: one per message, or one object for the whole batch."""
    return 1 if stack.layout == "batch" else BATCH


def assert_batch_done(stack: Stack, batch_id: int, *, max_attempts: int) -> None:
    rows = batch_rows(stack, batch_id)
    assert len(rows) == BATCH
    assert {r["status"] for r in rows.values()} == {"completed"}
    assert all(1 <= r["attempts"] <= max_attempts for r in rows.values())
    progress = stack.query(
        "SELECT status, total_messages, processed, failed FROM batch_progress WHERE batch_id = %s", (batch_id,)
    )
    assert progress == [("completed", BATCH, BATCH, 0)]


# the kill points are the ledger's and S3's, not the search engine's: Elasticsearch serves all of them (an
# OpenSearch batch's fetches are test_scheduled_run_exports_first_window_and_closes_job[opensearch]'s)
@BOTH_LAYOUTS
@pytest.mark.parametrize("kill_point", ["after_claim", "during_puts", "after_puts_before_ledger_update"])
def test_sigkilled_batch_is_finished_by_its_retry(stack: Stack, services, start_worker, kill_point, report):
    ids, batch_ids = seed_and_extract(stack)
    batch_id = batch_ids[0]
    proxy = stack.services.s3_proxy.faults
    # the batch layout's one PUT is slow enough to be killed in flight
    proxy.add_latency(fixed_ms=1500 if stack.layout == "batch" and kill_point == "during_puts" else 40)
    blocker = None
    worker = start_worker(batch_id)
    wait_until(lambda: any(r["status"] == "in_progress" for r in batch_rows(stack, batch_id).values()), what="claim")
    if kill_point == "during_puts":
        if stack.layout == "batch":
            wait_until(lambda: puts(stack, "requests") >= 1, what="the batch object's PUT under way")
        else:
            wait_until(lambda: puts(stack) >= 10, what="some PUTs")
    elif kill_point == "after_puts_before_ledger_update":
        # hold the batch's rows so the worker's bulk update waits, then kill it once every PUT landed
        blocker = ledger_session(services)
        blocker.cursor().execute("SELECT message_id FROM message_tracking WHERE batch_id = %s FOR UPDATE", (batch_id,))
        wait_until(lambda: puts(stack) >= batch_puts(stack), what="all PUTs")
        assert {r["status"] for r in batch_rows(stack, batch_id).values()} == {"in_progress"}
    worker.kill()
    if blocker is not None:
        blocker.rollback()
        blocker.close()
    assert {r["status"] for r in batch_rows(stack, batch_id).values()} != {"completed"}
    proxy.clear()
    retry = start_worker(batch_id).finish()  # Airflow's task retry: same batch, new process
    assert retry["failed"] == 0, retry
    assert_batch_done(stack, batch_id, max_attempts=2)
    batch_ids_in_s3 = {m for m in ids if m in batch_rows(stack, batch_id)}
    figures = stack.archive_figures(batch_ids_in_s3)
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    for mid in batch_ids_in_s3:
        assert json.loads(stack.archived_body(mid)) == stack.expected_document(mid)
    report.update(figures, faults_injected=f"SIGKILL {kill_point}", layout=stack.layout)


def test_batch_killed_while_tracking_its_staged_ids_is_tracked_whole_by_its_retry(
    stack: Stack, services, start_worker, report
):
    """The first claim tracks the batch's staged ids in one transaction: a worker killed in the middle
    of that statement leaves the ids staged (none half-tracked), and the retry tracks them all."""
    ids, batch_ids = seed_and_extract(stack)
    batch_id = batch_ids[0]
    ((job_id, first, end, staged),) = stack.query(
        "SELECT job_id, first_staged_id, end_staged_id, staged FROM batch_progress WHERE batch_id = %s", (batch_id,)
    )
    assert staged == BATCH and batch_rows(stack, batch_id) == {}
    staging = f"message_tracking_staging_{job_id}"
    # the batch's middle id in message_id order (the order the claim inserts them in), written by
    # another session and not committed: the claim's insert waits on it halfway through
    ((middle,),) = stack.query(
        f"SELECT message_id FROM {staging} WHERE message_id >= %s AND message_id < %s"
        " ORDER BY message_id LIMIT 1 OFFSET %s",
        (first, end, BATCH // 2),  # the first of two batches: its range ends where the second's begins
    )
    blocker = ledger_session(services)
    try:
        blocker.cursor().execute(
            "INSERT INTO message_tracking (message_id, job_id, batch_id, start_date) VALUES (%s, %s, %s, '2024-10-01')",
            (middle, job_id, batch_id),
        )
        worker = start_worker(batch_id)
        # the ledger's user sees its own sessions' statements (no PROCESS privilege needed)
        waiting = (
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
            " WHERE COMMAND = 'Query' AND INFO LIKE 'INSERT INTO message_tracking (message_id%%SELECT%%'"
        )
        wait_until(lambda: stack.query(waiting)[0][0] >= 1, what="the claim's insert waiting halfway")
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    assert batch_rows(stack, batch_id) == {}  # rolled back whole: nothing half-tracked
    assert stack.query("SELECT staged FROM batch_progress WHERE batch_id = %s", (batch_id,)) == [(BATCH,)]
    retry = start_worker(batch_id).finish()
    assert retry["failed"] == 0, retry
    assert_batch_done(stack, batch_id, max_attempts=1)
    mine = {m for m in ids if m in batch_rows(stack, batch_id)}
    assert len(mine) == BATCH
    figures = stack.archive_figures(mine)
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    report.update(figures, faults_injected="SIGKILL while its first claim tracked the batch's staged ids")


@BOTH_LAYOUTS
def test_zombie_and_replacement_running_together_are_harmless(stack: Stack, start_worker, report):
    ids, batch_ids = seed_and_extract(stack)
    batch_id = batch_ids[0]
    stack.services.s3_proxy.faults.add_latency(fixed_ms=10, jitter_ms=10)
    zombie, replacement = start_worker(batch_id, "zombie"), start_worker(batch_id, "replacement")
    results = [zombie.finish(), replacement.finish()]
    assert all("error" not in r for r in results), results
    assert_batch_done(stack, batch_id, max_attempts=2)
    mine = {m for m in ids if m in batch_rows(stack, batch_id)}
    figures = stack.archive_figures(mine)
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    report.update(figures, faults_injected="same batch run twice concurrently", layout=stack.layout)


@BOTH_LAYOUTS
def test_stale_worker_that_wakes_up_cannot_overwrite_newer_state(stack: Stack, start_worker, report):
    ids, batch_ids = seed_and_extract(stack)
    batch_id = batch_ids[0]
    proxy = stack.services.s3_proxy.faults
    proxy.add_latency(fixed_ms=30)
    stale = start_worker(batch_id, "stale")
    # the batch layout's one PUT is paused in flight; the message layout's after its first PUT landed
    started = "requests" if stack.layout == "batch" else "forwarded"
    wait_until(lambda: puts(stack, started) >= 1, what="the stale worker's first PUT")
    stale.pause()  # e.g. a long GC pause or a network partition: Airflow declares it a zombie
    proxy.clear()
    fresh = start_worker(batch_id, "fresh").finish()
    assert fresh["failed"] == 0, fresh
    before = batch_rows(stack, batch_id)
    # from now on every PUT fails: the stale worker will try to record failures
    proxy.add_error(403, methods=["PUT"])
    stale.resume()
    stale.finish()
    after = batch_rows(stack, batch_id)
    assert after == before  # fenced: completed rows untouched
    assert_batch_done(stack, batch_id, max_attempts=2)
    figures = stack.archive_figures({m for m in ids if m in after})
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    report.update(figures, faults_injected="stale worker paused, replaced, resumed into S3 errors", layout=stack.layout)
