"""Reading and ordering the ledger's migrations: pure, and the packaged folder is well formed."""

from __future__ import annotations

import re

import pytest

from message_export.ledger.migrations import (
    BASELINE_VERSION,
    Migration,
    ordered_migrations,
    packaged_migrations,
    parse_migration,
    pending_migrations,
)
from message_export.resources import DeploymentError

TEXT = """-- why this change
ALTER TABLE t
    ADD COLUMN a INT NULL COMMENT 'one; two';
-- the next step
ALTER TABLE t DROP INDEX ix_t_b;
"""


def test_statements_end_at_a_semicolon_ending_a_line_and_comments_are_dropped():
    migration = parse_migration("0007_change_t.sql", TEXT)
    assert migration == Migration(
        7,
        "change_t",
        ("ALTER TABLE t\n    ADD COLUMN a INT NULL COMMENT 'one; two'", "ALTER TABLE t DROP INDEX ix_t_b"),
    )
    assert migration.label == "0007_change_t"


@pytest.mark.parametrize("name", ["7_change.sql", "0007-change.sql", "0007_Change.sql", "0007_change.txt"])
def test_a_badly_named_file_is_a_deployment_error_naming_it(name: str):
    with pytest.raises(DeploymentError, match=re.escape(f"migrations/{name}: a migration is named NNNN_name.sql")):
        parse_migration(name, TEXT)


def test_an_empty_migration_is_refused():
    with pytest.raises(DeploymentError, match=r"0002_nothing\.sql holds no statement"):
        parse_migration("0002_nothing.sql", "-- only a comment\n")


def test_versions_must_run_without_gaps_or_duplicates():
    one, three = Migration(1, "a", ("x",)), Migration(3, "c", ("z",))
    with pytest.raises(DeploymentError, match="expected version 0002, found 0003_c"):
        ordered_migrations([three, one])
    with pytest.raises(DeploymentError, match="expected version 0002, found 0001_a"):
        ordered_migrations([one, one])


def test_pending_migrations_are_the_unapplied_ones_in_order():
    migrations = [Migration(n, f"m{n}", ("x",)) for n in range(1, 5)]
    assert [m.version for m in pending_migrations(migrations, [1, 3])] == [2, 4]
    assert pending_migrations(migrations, range(1, 5)) == []


def test_the_packaged_migrations_are_ordered_and_hold_the_baseline():
    migrations = packaged_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert len(migrations) >= BASELINE_VERSION
    assert all(";" not in statement.replace("';'", "") for m in migrations for statement in m.statements)
