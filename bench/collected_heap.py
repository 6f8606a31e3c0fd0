"""Comparator: the export with its steps' heap left to the garbage collector (bench only).

``message_export.heap.settled_heap`` freezes the objects a step starts with (and ``settle`` the
clients it builds), so the collector's full collections skip them. This switches both off in the
worker process that calls it, so one run can measure the export with and without, side by side.
"""

from __future__ import annotations

from types import SimpleNamespace

# set in a worker's environment to run it with the comparator
ENV = "BENCH_COLLECTED_HEAP"


def leave_heap_to_the_collector() -> None:
    """Make ``settled_heap`` and ``settle`` freeze nothing in this process."""
    from message_export import heap

    heap.gc = SimpleNamespace(freeze=lambda: None, unfreeze=lambda: None, get_freeze_count=lambda: 0)  # type: ignore[assignment]
