"""Small, exact test data for integration tests (large realistic sets come from tests.support.sample_data)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tests.harness.stack import RELATED


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_of_messages(
    day: date, count: int, *, prefix: str | None = None, seed: int = 0, max_related: int = 2, body_bytes: int = 200
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, dict]]]:
    """``count`` messages spread over ``day`` with 0..max_related documents per related index."""
    rng = random.Random(f"{day}-{seed}")
    start = datetime.combine(day, time(0), tzinfo=UTC)
    step = timedelta(days=1) / max(count, 1)
    prefix = prefix or f"msg-{day:%Y%m%d}"
    messages: dict[str, dict[str, Any]] = {}
    related: list[tuple[str, str, dict]] = []
    for i in range(count):
        mid = f"{prefix}-{i:06d}"
        at = start + step * i
        messages[mid] = {
            "timestamp": iso(at),
            "sender": f"user{rng.randrange(1000)}@example.com",
            "subject": f"subject {i}",
            "body": "x" * body_bytes,
        }
        for section, index in RELATED.items():
            for j in range(rng.randrange(max_related + 1)):
                related.append(
                    (
                        index,
                        f"{mid}-{section}-{j}",
                        {
                            "message_id": mid,
                            "timestamp": iso(at + timedelta(seconds=rng.randrange(600))),
                            "event": f"{section}-{j}",
                        },
                    )
                )
    return messages, related
