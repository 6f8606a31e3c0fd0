"""The staged extraction against MariaDB: ids are appended to the job's staging table page by page,
then tracked in message_id order and cut into the plan's batches in that order."""

from __future__ import annotations

import random
from datetime import date

from message_export.batching import plan_batches
from message_export.hooks.tracking import MessageTrackingHook
from message_export.windows import Window
from tests.harness.stack import Stack

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
