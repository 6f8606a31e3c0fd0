"""The staged extraction against MariaDB: ids are appended to the job's staging table page by page,
then tracked in message_id order and cut into the plan's batches in that order."""

from __future__ import annotations

import random
import threading
import time
from datetime import date

from message_export.batching import plan_batches
from message_export.hooks.tracking import MessageTrackingHook
from message_export.windows import Window
from tests.harness.data import day_of_messages
from tests.harness.stack import Stack, prepare_window

# ids whose byte order differs from their arrival order, with multi-byte and 4-byte characters
IDS = [f"msg-{n:04d}" for n in range(230)] + ["é-accent", "🚀-rocket", "Z-upper", "a b", "x" * 512, "🚀" * 128]
LATE = 9  # ids that arrive after the count: they join the last batch


def test_staged_ids_are_tracked_once_in_message_id_order_and_cut_into_the_plans_batches(stack: Stack):
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
        position = 0
        for number, page in enumerate(pages):
            hook.stage_ids(job.job_id, position, page)
            if number == 1:  # a page written twice, as a retried transaction would
                hook.stage_ids(job.job_id, position, page)
            position += len(page)
        hook.track_staged(job, plan)
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
    rows = stack.query("SELECT batch_id, COUNT(*) FROM message_tracking WHERE job_id = %s GROUP BY batch_id", (job_id,))
    assert sorted(count for _, count in rows) == [20, 50, 50]
    for batch_id in batch_ids:
        pipeline.process_batch(batch_id, "late-arrivals")
    pipeline.retry_failed(window, "late-arrivals")
    assert pipeline.finalize(window)["status"] == "completed"
    stack.assert_invariants(set(messages), check_bodies=10)
