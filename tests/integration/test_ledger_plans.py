"""The statements that look for unfinished messages read ix_message_tracking_status's ranges, never the
whole ledger: on a ledger of some tens of thousands of rows MariaDB's optimizer would rather scan the
table, whose cost then grows with the ledger instead of with the unfinished messages. Likewise the
jobs that still hold staged ids are found without reading every batch of the ledger's history."""

from __future__ import annotations

import json
from datetime import date

import pytest

from message_export.ledger.hook import MessageTrackingHook
from message_export.resources import load_sql
from message_export.windows import Window
from tests.fixtures.export_stack import Stack
from tests.fixtures.ledger_rows import track_pending

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
            track_pending(hook, job, [(f"{prefix}-{n:06d}", batch) for n in range(count)])
            hook.complete_extraction(job.job_id)
    finally:
        hook.close()
    stack.query("UPDATE message_tracking SET status = 'completed' WHERE message_id LIKE 'old-%%'")
    stack.query("ANALYZE TABLE message_tracking")  # statistics as fresh as they get
    return stack


@pytest.mark.parametrize("statement", ["ledger/give_up_exhausted", "ledger/claim_retryable", "ledger/next_retry_wait"])
def test_unfinished_message_statements_read_the_status_index(settled_ledger: Stack, statement: str):
    plan = settled_ledger.query("EXPLAIN " + load_sql(statement), PARAMS)
    table = [row for row in plan if row[2] == "message_tracking"]
    assert table, plan
    access, key = table[0][3], table[0][5]
    assert (access, key) in {("range", "ix_message_tracking_status"), ("ref", "ix_message_tracking_status")}, plan


def test_giving_up_reads_the_unfinished_rows_only(settled_ledger: Stack):
    """Run (with ANALYZE) on the whole ledger: no message has used its attempts, so nothing changes,
    and the statement touched the unfinished messages' index entries, not the archive's rows."""
    (analyzed,) = settled_ledger.query("ANALYZE FORMAT=JSON " + load_sql("ledger/give_up_exhausted"), PARAMS)[0]
    table = _table_of(json.loads(analyzed)["query_block"])
    assert table["key"] == "ix_message_tracking_status"
    assert table["r_rows"] == UNFINISHED
    assert settled_ledger.query("SELECT COUNT(*) FROM message_tracking WHERE status = 'failed'") == [(0,)]


SETTLED_BATCHES = 20_000
STAGED_BATCHES = 3


def test_the_jobs_with_staged_ids_are_found_without_reading_the_settled_batches(stack: Stack):
    """A year and more of settled batches and one job's batches still holding staged ids: the
    dashboard's look-up of an unknown id reads the staged batches' index entries only."""
    MessageTrackingHook("mysql_default").ensure_schema()
    stack.query(
        "INSERT INTO batch_progress (job_id, batch_number, status, total_messages, processed) "
        "SELECT seq DIV 100 + 1, seq MOD 100, 'completed', 5000, 5000 FROM seq_0_to_%s",
        (SETTLED_BATCHES - 1,),
    )
    stack.query(
        "INSERT INTO batch_progress (job_id, batch_number, total_messages, staged) SELECT 9999, seq, 5000, 5000 "
        "FROM seq_0_to_%s",
        (STAGED_BATCHES - 1,),
    )
    stack.query("ANALYZE TABLE batch_progress")
    (analyzed,) = stack.query("ANALYZE FORMAT=JSON " + load_sql("reads/jobs_with_staged_ids"))[0]
    table = _table_of(json.loads(analyzed)["query_block"])
    assert table["key"] == "ix_batch_progress_staged", table
    assert table["r_rows"] == STAGED_BATCHES, table
    assert stack.query(load_sql("reads/jobs_with_staged_ids")) == [(9999,)]


FAILED = 100_000
PAGE = 50


def test_a_page_of_a_day_with_100k_failures_reads_one_page_of_rows(stack: Stack):
    """The dashboard's failures page is a keyset page: deep into a day of FAILED failed messages
    (beside as many archived ones) it reads one page's index entries, where OFFSET read every row
    before the page."""
    MessageTrackingHook("mysql_default").ensure_schema()
    stack.query(
        "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, attempts, last_error) "
        "SELECT CONCAT('msg-', LPAD(seq, 6, '0')), 1, seq DIV 500 + 1, IF(seq MOD 2, 'failed', 'completed'),"
        " '2024-10-01', 5, 'not found' FROM seq_1_to_%s",
        (2 * FAILED,),
    )
    stack.query("ANALYZE TABLE message_tracking")
    params = {"job_id": 1, "after": b"msg-150000", "limit": PAGE + 1}  # the reader asks for one row more
    (analyzed,) = stack.query("ANALYZE FORMAT=JSON " + load_sql("reads/job_failures_page"), params)[0]
    table = _table_of(json.loads(analyzed)["query_block"])
    assert table["key"] == "ix_message_tracking_job", table
    assert table["r_rows"] <= PAGE + 1, table
    page = stack.query(load_sql("reads/job_failures_page"), params)
    assert [bytes(row[0]) for row in page[:2]] == [b"msg-150001", b"msg-150003"] and len(page) == PAGE + 1


def test_a_page_of_a_job_with_many_batches_reads_one_page_of_rows(stack: Stack):
    MessageTrackingHook("mysql_default").ensure_schema()
    stack.query(
        "INSERT INTO batch_progress (job_id, batch_number, status, total_messages, processed) "
        "SELECT 1 + seq DIV 10000, seq MOD 10000, 'completed', 500, 500 FROM seq_0_to_29999"
    )
    stack.query("ANALYZE TABLE batch_progress")
    params = {"job_id": 2, "first_number": 9000, "limit": PAGE + 1}
    (analyzed,) = stack.query("ANALYZE FORMAT=JSON " + load_sql("reads/job_batches"), params)[0]
    table = _table_of(json.loads(analyzed)["query_block"])
    assert table["key"] == "uq_batch_progress_job_number", table
    assert table["r_rows"] <= PAGE + 1, table
    numbers = [row[1] for row in stack.query(load_sql("reads/job_batches"), params)]
    assert numbers == list(range(9000, 9000 + PAGE + 1))


def _table_of(node: object) -> dict:
    """The one table of a plan, under whatever the DISTINCT and ORDER BY wrap it in."""
    if isinstance(node, dict):
        if "table" in node:
            return node["table"]
        children: list = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return {}
    for child in children:
        if found := _table_of(child):
            return found
    return {}
