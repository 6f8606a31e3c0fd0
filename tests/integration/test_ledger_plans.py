"""The statements that look for unfinished messages read ix_message_tracking_status's ranges, never the
whole ledger: on a ledger of some tens of thousands of rows MariaDB's optimizer would rather scan the
table, whose cost then grows with the ledger instead of with the unfinished messages."""

from __future__ import annotations

import json
from datetime import date

import pytest

from message_export.hooks.tracking import MessageTrackingHook
from message_export.resources import load_sql
from message_export.windows import Window
from tests.harness.stack import Stack

COMPLETED = 60_000
UNFINISHED = 10_000
PARAMS = {
    "job_id": 1,
    "lease_token": "0" * 32,
    "lease_seconds": 600,
    "max_attempts": 5,
    "backoff_seconds": 30.0,
    "max_backoff_seconds": 900.0,
    "limit": 100,
}


@pytest.fixture
def settled_ledger(stack: Stack) -> Stack:
    """A ledger of COMPLETED archived messages of an earlier day and UNFINISHED pending ones of today."""
    hook = MessageTrackingHook("mysql_default")
    try:
        hook.ensure_schema()
        for day, count, prefix in ((date(2024, 9, 30), COMPLETED, "old"), (date(2024, 10, 1), UNFINISHED, "new")):
            job = hook.open_job(Window.for_day(day), f"plans-{prefix}")
            batch = hook.ensure_batches(job.job_id, [0])[0]
            hook.track_messages(job, [(f"{prefix}-{n:06d}", batch) for n in range(count)])
            hook.complete_extraction(job.job_id)
    finally:
        hook.close()
    stack.query("UPDATE message_tracking SET status = 'completed' WHERE message_id LIKE 'old-%%'")
    stack.query("ANALYZE TABLE message_tracking")  # statistics as fresh as they get
    return stack


@pytest.mark.parametrize("statement", ["give_up_exhausted", "claim_retryable", "next_retry_wait"])
def test_unfinished_message_statements_read_the_status_index(settled_ledger: Stack, statement: str):
    plan = settled_ledger.query("EXPLAIN " + load_sql(statement), PARAMS)
    table = [row for row in plan if row[2] == "message_tracking"]
    assert table, plan
    access, key = table[0][3], table[0][5]
    assert (access, key) in {("range", "ix_message_tracking_status"), ("ref", "ix_message_tracking_status")}, plan


def test_giving_up_reads_the_unfinished_rows_only(settled_ledger: Stack):
    """Run (with ANALYZE) on the whole ledger: no message has used its attempts, so nothing changes,
    and the statement touched the unfinished messages' index entries, not the archive's rows."""
    (analyzed,) = settled_ledger.query("ANALYZE FORMAT=JSON " + load_sql("give_up_exhausted"), PARAMS)[0]
    block = json.loads(analyzed)["query_block"]
    table = block.get("buffer", block)["table"]
    assert table["key"] == "ix_message_tracking_status"
    assert table["r_rows"] == UNFINISHED
    assert settled_ledger.query("SELECT COUNT(*) FROM message_tracking WHERE status = 'failed'") == [(0,)]
