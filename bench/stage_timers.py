"""Per-stage wall time of the export, measured by wrapping the hooks' methods (no product change).

The wrappers only add a ``perf_counter`` pair around each call; the code path stays the same.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from typing import Any


class StageTimers:
    """Accumulated seconds and calls per stage name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._restore: list[tuple[Any, str, Any]] = []

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {name: {"seconds": self.seconds[name], "calls": self.calls[name]} for name in sorted(self.seconds)}

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        """Replace ``owner.attribute`` by a timed version that adds to ``stage``."""
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.seconds[stage] += elapsed
                    self.calls[stage] += 1

        self._restore.append((owner, attribute, original))
        setattr(owner, attribute, timed)

    def uninstall(self) -> None:
        for owner, attribute, original in reversed(self._restore):
            setattr(owner, attribute, original)
        self._restore.clear()


def export_stage_timers() -> StageTimers:
    """Time what one export chunk does: ES reads, JSON building, S3 PUTs, ledger statements."""
    from message_export import export
    from message_export.hooks.archive import MessageArchiveHook
    from message_export.hooks.search import MessageSearchHook
    from message_export.hooks.tracking import MessageTrackingHook

    timers = StageTimers()
    timers.wrap(MessageSearchHook, "fetch_messages", "es_mget")
    timers.wrap(MessageSearchHook, "fetch_related", "es_related")
    timers.wrap(export, "build_archive_document", "build_json")
    timers.wrap(MessageArchiveHook, "put_objects", "s3_put")
    # Building the boto3 client happens inside the first put_objects of each hook (once per batch).
    timers.wrap(MessageArchiveHook, "get_conn", "s3_client_setup")
    for method in ("get_batch", "claim_batch", "renew_lease", "record_results", "refresh_batches"):
        timers.wrap(MessageTrackingHook, method, "mysql")
    return timers
