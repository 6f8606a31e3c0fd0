"""Pure figures of the ledger model."""

from __future__ import annotations

import pytest

from message_export.model import ReconciliationGaps


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        ({"tracked": 120, "completed": 120, "source_count": 120, "archived_objects": 120}, (0, 0)),
        ({"tracked": 100, "completed": 100, "source_count": 130, "archived_objects": 100}, (30, 0)),
        ({"tracked": 120, "completed": 118, "source_count": 120, "archived_objects": 111}, (0, 7)),
        # more objects than completed messages (an earlier re-export) and fewer source ids: no gap
        ({"tracked": 120, "completed": 110, "source_count": 90, "archived_objects": 150}, (0, 0)),
        # an unknown figure (the count could not be taken) is no gap here: finalize reports it as a problem
        ({"tracked": 120, "completed": 120, "source_count": None, "archived_objects": None}, (0, 0)),
    ],
)
def test_reconciliation_gaps(figures, expected):
    gaps = ReconciliationGaps.measure(extracted=True, **figures)
    assert (gaps.untracked, gaps.missing_objects) == expected


def test_source_count_is_not_compared_before_the_extraction_completed():
    gaps = ReconciliationGaps.measure(tracked=10, completed=10, source_count=500, archived_objects=10, extracted=False)
    assert (gaps.untracked, gaps.mismatches) == (0, 0)
