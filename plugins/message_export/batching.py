"""Cutting a window's messages into batches. Pure logic, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPlan:
    """How a window of ``total`` messages is cut: ``batch_count`` batches of ``batch_size``."""

    total: int
    batch_size: int
    batch_count: int

    def batch_number(self, position: int) -> int:
        """Return the 0-based batch of the message at ``position`` in the window's message_id order.

        Each batch holds a range of the staged ids in that order (``MessageTrackingHook.stage_batches``).
        Messages beyond the planned total (documents indexed after the count) join the last batch, so
        the number of mapped tasks never exceeds the plan.
        """
        if position < 0:
            raise ValueError(f"position must be >= 0, got {position}")
        return min(position // self.batch_size, max(self.batch_count - 1, 0))


def plan_batches(total: int, batch_size: int, max_batches: int) -> BatchPlan:
    """Plan batches of at least ``batch_size``, growing the size so at most ``max_batches`` exist."""
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if batch_size < 1 or max_batches < 1:
        raise ValueError(f"batch_size and max_batches must be >= 1, got {batch_size}, {max_batches}")
    if total == 0:
        return BatchPlan(total=0, batch_size=batch_size, batch_count=0)
    size = max(batch_size, math.ceil(total / max_batches))
    return BatchPlan(total=total, batch_size=size, batch_count=math.ceil(total / size))


def chunked(items: list, size: int) -> list[list]:
    """Split ``items`` into consecutive lists of at most ``size``."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]
