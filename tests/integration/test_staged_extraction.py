"""The staged extraction against MariaDB: ids are added to the job's staging table page by page,
each batch holds a range of them in message_id order, and a batch tracks its ids when claimed."""

from __future__ import annotations

import random
import threading
import time
from datetime import date

import pytest

from message_export.batching import plan_batches
from message_export.ledger import MessageTrackingHook, TrackingError
from message_export.model import Job
from message_export.windows import Window
from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.messages import day_of_messages

# ids whose byte order differs from their arrival order, with multi-byte and 4-byte characters
IDS = [f"msg-{n:04d}" for n in range(230)] + ["é-accent", "🚀-rocket", "Z-upper", "a b", "x" * 512, "🚀" * 128]
LATE = 9  # ids that arrive after the count: they join the last batch


def test_staged_ids_are_tracked_once_by_the_batch_whose_range_holds_them(stack: Stack):
    arrival = list(IDS)
    random.Random(7).shuffle(arrival)
    hook = MessageTrackingHook("mysql_default")
    try:
        hook.ensure_schema()
        job = hook.open_job(Window.for_day(date(2024, 10, 1)), "staged-extraction")
        plan = plan_batches(len(arrival) - LATE, 50, 100)
        batch_ids = hook.ensure_batches(job.job_id, list(range(plan.batch_count)))
        hook.start_staging(job.job_id)
        pages = [arrival[:100], arrival[100:101], arrival[101:]]
        for number, page in enumerate(pages):
            hook.stage_ids(job.job_id, page)
            if number == 1:  # a page written twice, as a retried transaction would
                hook.stage_ids(job.job_id, page)
        assert hook.stage_batches(job.job_id, batch_ids, plan) == len(IDS)
        hook.refresh_batches(list(batch_ids.values()))
        assert stack.query("SELECT COUNT(*) FROM message_tracking WHERE job_id = %s", (job.job_id,)) == [(0,)]
        assert hook.live_job_counts(job.job_id).pending == len(IDS)
        records = hook.batch_records(job.job_id, 0, 100)
        assert [record.counts.pending for record in records] == [50, 50, 50, 50, len(IDS) - 200]
        assert {record.status for record in records} == {"pending"}
        by_rank = sorted(IDS, key=lambda mid: mid.encode())
        found = hook.find_message(by_rank[120])  # staged, in the third batch's range
        assert found is not None
        assert (found.status, found.batch_id, found.attempts, found.day) == (
            "pending",
            batch_ids[2],
            0,
            date(2024, 10, 1),
        )
        assert hook.find_message("never-extracted") is None

        first = batch_ids[0]
        assert hook.track_staged_batch(first) == 50
        assert hook.track_staged_batch(first) == 0  # a second claim finds its ids tracked
        assert hook.live_job_counts(job.job_id).pending == len(IDS)  # tracked or staged, each id once
        assert hook.track_staged_ids(job.job_id) == len(IDS) - 50
        assert hook.staged_count(job.job_id) == 0
    finally:
        hook.close()

    rows = stack.query("SELECT message_id, batch_id, status FROM message_tracking WHERE job_id = %s", (job.job_id,))
    assert len(rows) == len(IDS)
    assert {bytes(mid) for mid, _, _ in rows} == {mid.encode() for mid in IDS}
    assert {status for _, _, status in rows} == {"pending"}
    batch_of = {bytes(mid): batch_id for mid, batch_id, _ in rows}
    by_rank = sorted(batch_of)
    assert [batch_of[mid] for mid in by_rank] == [batch_ids[plan.batch_number(rank)] for rank in range(len(by_rank))]
    sizes = [sum(1 for b in batch_of.values() if b == batch_ids[n]) for n in range(plan.batch_count)]
    assert sizes[:-1] == [plan.batch_size] * (plan.batch_count - 1)
    assert sizes[-1] == len(IDS) - plan.batch_size * (plan.batch_count - 1)  # the late ids joined the last batch
    assert stack.query("SHOW TABLES LIKE 'message_tracking_staging_%%'") == []


def staged_job(hook: MessageTrackingHook, day: date, ids: list[str], batch_size: int) -> tuple[Job, dict[int, int]]:
    """A job of ``day`` whose ``ids`` are staged and given to its batches, as extraction leaves them."""
    hook.ensure_schema()
    job = hook.open_job(Window.for_day(day), f"staged-{day}")
    plan = plan_batches(len(ids), batch_size, 100)
    batch_ids = hook.ensure_batches(job.job_id, list(range(plan.batch_count)))
    hook.start_staging(job.job_id)
    hook.stage_ids(job.job_id, ids)
    hook.stage_batches(job.job_id, batch_ids, plan)
    return job, batch_ids


def test_a_batch_whose_staging_table_is_gone_fails_with_what_to_do(stack: Stack):
    hook = MessageTrackingHook("mysql_default")
    try:
        job, batch_ids = staged_job(hook, date(2024, 10, 2), ["a", "b", "c"], 50)
        stack.query(f"DROP TABLE {hook.staging_table(job.job_id)}")
        with pytest.raises(TrackingError, match=rf"batch_id {batch_ids[0]} of job {job.job_id} holds 3 staged ids"):
            hook.track_staged_batch(batch_ids[0])
        assert hook.staged_count(job.job_id) == 3  # still owed: nothing was marked tracked
    finally:
        hook.close()


def test_ensure_schema_tracks_what_a_stopped_job_still_held_before_dropping_its_table(stack: Stack):
    hook = MessageTrackingHook("mysql_default")
    try:
        job, batch_ids = staged_job(hook, date(2024, 10, 3), ["s-1", "s-2", "s-3", "s-4"], 2)
        hook.track_staged_batch(batch_ids[0])
        hook.close_job(
            job.job_id,
            status="failed",
            total=4,
            completed=0,
            failed=0,
            source_count=None,
            archived_objects=None,
            next_run_date=None,
            last_error="stopped",
        )
        hook.ensure_schema()
    finally:
        hook.close()
    rows = stack.query("SELECT message_id, batch_id FROM message_tracking WHERE job_id = %s", (job.job_id,))
    assert sorted((bytes(mid), batch) for mid, batch in rows) == [
        (b"s-1", batch_ids[0]),
        (b"s-2", batch_ids[0]),
        (b"s-3", batch_ids[1]),
        (b"s-4", batch_ids[1]),
    ]
    assert stack.query("SHOW TABLES LIKE %s", (hook.staging_table(job.job_id),)) == []


def test_ids_that_arrive_after_a_count_of_zero_get_batches_and_are_all_exported(stack: Stack):
    """The window is empty when extraction counts it; its messages land before the point in time opens
    (the server holds the PIT request while they are indexed): they are planned, tracked and exported."""
    from message_export import pipeline

    messages, related = day_of_messages(date(2024, 10, 1), 120)
    stack.write_config(batch_size=50)
    server = stack.services.es
    server.faults.stall(3.0, path_pattern=r"/_pit$", count=1)
    server.requests.clear()
    indexed = threading.Event()

    def index_once_counted() -> None:
        deadline = time.monotonic() + 60
        while not any(entry.path.endswith("/_count") for entry in server.requests.entries(settle=0)):
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        stack.index_messages(messages, related)
        indexed.set()

    indexer = threading.Thread(target=index_once_counted)
    indexer.start()
    try:
        window, batch_ids = prepare_window("2024-10-01")
    finally:
        indexer.join(timeout=60)
    assert indexed.is_set()
    counted = [entry for entry in server.requests.entries() if entry.path.endswith("/_count")]
    pit = [entry for entry in server.requests.entries() if entry.path.endswith("/_pit")]
    assert counted and pit and counted[0].finished <= pit[0].arrived  # the count came first, on an empty window
    assert len(batch_ids) == 3  # 120 ids in batches of 50, planned from what arrived
    job_id = window["job_id"]
    rows = stack.query("SELECT staged, total_messages FROM batch_progress WHERE job_id = %s", (job_id,))
    assert sorted(rows) == [(20, 20), (50, 50), (50, 50)]  # staged, not tracked until claimed
    for batch_id in batch_ids:
        pipeline.process_batch(batch_id, "late-arrivals")
    pipeline.retry_failed(window, "late-arrivals")
    assert pipeline.finalize(window)["status"] == "completed"
    stack.assert_invariants(set(messages), check_bodies=10)
