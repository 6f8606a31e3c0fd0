"""ensure_schema migrates every ledger this project shipped to the current schema, against MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.export_stack import Stack

VERSION_TABLE = "ledger_schema_migrations"
LEDGER_TABLES = ("job_runs", "batch_progress", "message_tracking")
SHIPPED = sorted((Path(__file__).parent / "shipped_ledger_schemas").glob("*.sql"))

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
    stack.query(f"DROP TABLE {VERSION_TABLE}")  # a ledger from before versions were recorded
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
    stack.query(f"DROP TABLE {VERSION_TABLE}")  # a ledger from before versions were recorded
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
    stack.query(f"DROP TABLE {VERSION_TABLE}")  # a ledger from before versions were recorded
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    assert indexes(stack, "batch_progress") == CURRENT_BATCH_PROGRESS
    assert stack.query("SELECT staged FROM batch_progress WHERE job_id = 8") == [(5,)]


def ledger_shape(stack: Stack) -> dict[str, object]:
    """Every ledger table's columns (name, type, nullability, default) and indexes; not column order."""
    shape: dict[str, object] = {}
    for table in LEDGER_TABLES:
        columns = stack.query(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY COLUMN_NAME",
            (table,),
        )
        shape[table] = (columns, indexes(stack, table))
    return shape


def versions(stack: Stack) -> list[tuple]:
    return stack.query(f"SELECT version, name, how FROM {VERSION_TABLE} ORDER BY version")


def drop_ledger(stack: Stack) -> None:
    stack.query(f"DROP TABLE IF EXISTS {', '.join(LEDGER_TABLES)}, {VERSION_TABLE}")


@pytest.mark.parametrize("shipped", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_every_shipped_ledger_migrates_to_the_current_schema(stack: Stack, shipped: Path):
    """Each schema the project shipped (include/sql/schema as it was at that commit), with a row in
    every table, becomes the schema a new ledger gets, keeps its rows, and records its version."""
    from message_export import pipeline

    drop_ledger(stack)
    pipeline.ensure_schema()
    current, fresh_versions = ledger_shape(stack), versions(stack)
    assert [how for _, _, how in fresh_versions] == ["baseline"] * len(fresh_versions)
    drop_ledger(stack)
    ddl = "\n".join(line for line in shipped.read_text(encoding="utf-8").splitlines() if not line.startswith("--"))
    for statement in filter(str.strip, ddl.split(";")):
        stack.query(statement)
    assert ledger_shape(stack) != current or shipped.stem.endswith("unversioned")
    stack.query("INSERT INTO job_runs (start_date, end_date, status) VALUES ('2024-09-30', '2024-10-01', 'completed')")
    stack.query("INSERT INTO batch_progress (job_id, batch_number, total_messages) VALUES (1, 0, 1)")
    stack.query(
        "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, s3_path) "
        "VALUES ('kept-1', 1, 1, 'completed', '2024-09-30', 's3://archive/kept-1.json')"
    )
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    assert ledger_shape(stack) == current
    assert [(version, name) for version, name, _ in versions(stack)] == [
        (version, name) for version, name, _ in fresh_versions
    ]
    assert {how for _, _, how in versions(stack)} == {"migrated"}
    assert stack.query("SELECT message_id, status, s3_path, body_bytes FROM message_tracking") == [
        (b"kept-1", "completed", "s3://archive/kept-1.json", None)
    ]
    assert stack.query("SELECT batch_number, total_messages, staged, first_staged_id FROM batch_progress") == [
        (0, 1, 0, None)
    ]
    assert stack.query("SELECT status, ledger_purged_at FROM job_runs") == [("completed", None)]


def test_a_versioned_ledger_applies_only_the_migrations_it_lacks(stack: Stack):
    """A migration recorded as applied is not run again; one not recorded is, and is recorded."""
    from message_export import pipeline

    drop_ledger(stack)
    pipeline.ensure_schema()
    # as if the ledger had been created before migration 0005: its index and its record are missing
    stack.query("ALTER TABLE batch_progress DROP INDEX ix_batch_progress_staged")
    stack.query(f"DELETE FROM {VERSION_TABLE} WHERE version = 5")
    # recorded as applied: a migration that ran is never run again, even if its effect was undone by hand
    stack.query("ALTER TABLE message_tracking DROP COLUMN body_bytes")
    pipeline.ensure_schema()
    assert indexes(stack, "batch_progress") == CURRENT_BATCH_PROGRESS
    assert [row[::2] for row in versions(stack) if row[0] == 5] == [(5, "migrated")]
    assert stack.query(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'message_tracking' AND COLUMN_NAME = 'body_bytes'"
    ) == [(0,)]


BYTE_RANGE = ("archive_offset", "archive_length")


def byte_range_columns(stack: Stack) -> list[tuple]:
    return stack.query(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'message_tracking' AND COLUMN_NAME IN %s "
        "ORDER BY COLUMN_NAME",
        (BYTE_RANGE,),
    )


def test_a_ledger_at_version_5_gets_the_batch_layouts_byte_ranges_as_a_new_one_has_them(stack: Stack):
    """Migration 0006 on a versioned ledger created before it: the columns exactly as the baseline has them,
    the rows kept with null ranges (the message layout's), the version recorded as migrated."""
    from message_export import pipeline

    drop_ledger(stack)
    pipeline.ensure_schema()
    fresh = byte_range_columns(stack)
    assert [column[0] for column in fresh] == sorted(BYTE_RANGE)
    stack.query("ALTER TABLE message_tracking " + ", ".join(f"DROP COLUMN {name}" for name in BYTE_RANGE))
    stack.query(f"DELETE FROM {VERSION_TABLE} WHERE version = 6")
    stack.query(
        "INSERT INTO message_tracking (message_id, job_id, batch_id, status, start_date, s3_path) "
        "VALUES ('kept-1', 1, 1, 'completed', '2024-09-30', 's3://archive/kept-1.json')"
    )
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    assert byte_range_columns(stack) == fresh
    assert [row[::2] for row in versions(stack) if row[0] == 6] == [(6, "migrated")]
    assert stack.query("SELECT archive_offset, archive_length FROM message_tracking") == [(None, None)]


def test_a_ledger_at_version_6_marks_its_completed_days_announced(stack: Stack):
    """Migration 0007: the completed days an older ledger holds were announced by their own finalize (or
    never will be): they are marked, so the upgrade announces no history; a failed day stays due."""
    from message_export import pipeline

    drop_ledger(stack)
    pipeline.ensure_schema()
    stack.query("ALTER TABLE job_runs DROP COLUMN completion_announced_at")
    stack.query(f"DELETE FROM {VERSION_TABLE} WHERE version = 7")
    stack.query(
        "INSERT INTO job_runs (start_date, end_date, status) VALUES ('2024-09-29', '2024-09-30', 'completed'), "
        "('2024-09-30', '2024-10-01', 'failed')"
    )
    pipeline.ensure_schema()
    pipeline.ensure_schema()  # idempotent
    announced = stack.query("SELECT status, completion_announced_at IS NOT NULL FROM job_runs ORDER BY start_date")
    assert announced == [("completed", 1), ("failed", 0)]
    assert [row[::2] for row in versions(stack) if row[0] == 7] == [(7, "migrated")]


def test_a_version_table_without_its_ledger_is_refused_with_what_to_do(stack: Stack):
    from message_export import pipeline
    from message_export.ledger import TrackingError

    pipeline.ensure_schema()
    stack.query("DROP TABLE message_tracking")
    with pytest.raises(Exception, match="message_tracking is missing; restore it from a backup") as raised:
        pipeline.ensure_schema()
    assert "ledger_schema_migrations" in str(raised.value)
    assert not isinstance(raised.value, TrackingError) or not raised.value.retryable
