"""ensure_schema brings an older ledger's columns and indexes up to date, against MariaDB."""

from __future__ import annotations

import pytest

from tests.harness.stack import Stack

CURRENT = {
    "PRIMARY": ["message_id"],
    "ix_message_tracking_batch": ["batch_id", "status"],
    "ix_message_tracking_job": ["job_id", "status"],
    "ix_message_tracking_status": ["status", "lease_token"],
}


CURRENT_BATCH_PROGRESS = {
    "PRIMARY": ["batch_id"],
    "ix_batch_progress_staged": ["staged", "job_id"],
    "uq_batch_progress_job_number": ["job_id", "batch_number"],
}


def indexes(stack: Stack, table: str = "message_tracking") -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, column in stack.query(
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        (table,),
    ):
        found.setdefault(name, []).append(column)
    return found


@pytest.mark.parametrize(
    "older",
    [
        # the ledger as first released: a retry index and a lease index, no merged one
        "DROP INDEX ix_message_tracking_status, ADD INDEX ix_message_tracking_retry (status, last_attempted), "
        "ADD INDEX ix_message_tracking_lease (lease_token)",
        # a migration interrupted after the merged index was added and one old index dropped
        "ADD INDEX ix_message_tracking_lease (lease_token)",
    ],
    ids=["first-release", "half-migrated"],
)
def test_ensure_schema_merges_the_retry_and_lease_indexes_of_an_older_ledger(stack: Stack, older: str):
    from message_export import pipeline

    pipeline.ensure_schema()
    assert indexes(stack) == CURRENT
    stack.query(f"ALTER TABLE message_tracking {older}")
    stack.query(
        "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, lease_token) "
        "VALUES ('old-1', 1, 1, 'in_progress', '2024-09-30', 'aaaabbbbccccddddeeeeffff00001111')"
    )
    assert indexes(stack) != CURRENT
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    assert indexes(stack) == CURRENT
    assert stack.query("SELECT status, lease_token FROM message_tracking WHERE message_id = 'old-1'") == [
        ("in_progress", "aaaabbbbccccddddeeeeffff00001111")
    ]


STAGED_RANGE = ("first_staged_id", "end_staged_id", "staged")


def staged_range_columns(stack: Stack) -> list[tuple]:
    return stack.query(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'batch_progress' AND COLUMN_NAME IN %s ORDER BY COLUMN_NAME",
        (STAGED_RANGE,),
    )


def test_ensure_schema_gives_an_older_batch_progress_the_staged_range_as_a_new_one_has_it(stack: Stack):
    from message_export import pipeline

    pipeline.ensure_schema()
    fresh = staged_range_columns(stack)
    assert [column[0] for column in fresh] == sorted(STAGED_RANGE)
    assert indexes(stack, "batch_progress") == CURRENT_BATCH_PROGRESS
    stack.query(
        "ALTER TABLE batch_progress DROP INDEX ix_batch_progress_staged, "
        + ", ".join(f"DROP COLUMN {name}" for name in STAGED_RANGE)
    )
    stack.query("INSERT INTO batch_progress (job_id, batch_number, total_messages) VALUES (7, 0, 5)")
    assert staged_range_columns(stack) == []
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    assert staged_range_columns(stack) == fresh
    assert indexes(stack, "batch_progress") == CURRENT_BATCH_PROGRESS
    # a batch of an older ledger holds no staged ids: its messages were tracked at extraction
    assert stack.query("SELECT first_staged_id, end_staged_id, staged FROM batch_progress WHERE job_id = 7") == [
        (None, None, 0)
    ]


def test_ensure_schema_indexes_the_staged_counts_of_a_ledger_that_has_the_staged_range_without_it(stack: Stack):
    """The ledger as the first release with staged ranges created it: the columns, not the index."""
    from message_export import pipeline

    pipeline.ensure_schema()
    stack.query("ALTER TABLE batch_progress DROP INDEX ix_batch_progress_staged")
    stack.query("INSERT INTO batch_progress (job_id, batch_number, total_messages, staged) VALUES (8, 0, 5, 5)")
    assert "ix_batch_progress_staged" not in indexes(stack, "batch_progress")
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    assert indexes(stack, "batch_progress") == CURRENT_BATCH_PROGRESS
    assert stack.query("SELECT staged FROM batch_progress WHERE job_id = 8") == [(5,)]
