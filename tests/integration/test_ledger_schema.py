"""ensure_schema brings an older ledger's message_tracking indexes up to date, against MariaDB."""

from __future__ import annotations

import pytest

from tests.harness.stack import Stack

CURRENT = {
    "PRIMARY": ["message_id"],
    "ix_message_tracking_batch": ["batch_id", "status"],
    "ix_message_tracking_job": ["job_id", "status"],
    "ix_message_tracking_status": ["status", "lease_token"],
}


def indexes(stack: Stack) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, column in stack.query(
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'message_tracking' ORDER BY INDEX_NAME, SEQ_IN_INDEX"
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
