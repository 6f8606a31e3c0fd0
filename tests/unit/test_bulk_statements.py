"""The ledger's bulk statements must be ones MySQLdb's ``executemany`` turns into a single multi-row
INSERT; otherwise it silently falls back to one round trip per row."""

from __future__ import annotations

import pytest
from MySQLdb.cursors import RE_INSERT_VALUES

from message_export.resources import load_sql

BULK_STATEMENTS = ("ledger/record_results", "ledger/ensure_batch")


@pytest.mark.parametrize("name", BULK_STATEMENTS)
def test_bulk_statement_is_batched_by_the_driver(name: str) -> None:
    match = RE_INSERT_VALUES.match(load_sql(name))
    assert match is not None, f"include/sql/{name}.sql: VALUES must hold placeholders only"
    assert match.group(3).lstrip().upper().startswith("ON DUPLICATE KEY UPDATE")


def test_a_literal_in_values_is_not_batched() -> None:
    # the check above can fail: a literal in VALUES defeats the driver's batching
    assert RE_INSERT_VALUES.match("INSERT INTO t (a, b) VALUES (%s, 'pending') ON DUPLICATE KEY UPDATE a = a") is None
