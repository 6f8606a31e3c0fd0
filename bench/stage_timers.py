"""Per-stage wall and CPU time of the export, measured by wrapping the hooks' methods.

The wrappers only add a ``perf_counter``/``process_time`` pair around each call; the code path
stays the same. The stages of a chunk run one after another, so the process's CPU time during a
stage (its upload threads included) is that stage's CPU.
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
        self.cpu: dict[str, float] = defaultdict(float)
        self._restore: list[tuple[Any, str, Any]] = []

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()
            self.cpu.clear()

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                name: {"seconds": self.seconds[name], "cpu_seconds": self.cpu[name], "calls": self.calls[name]}
                for name in sorted(self.seconds)
            }

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        """Replace ``owner.attribute`` by a timed version that adds to ``stage``."""
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                with self._lock:
                    self.seconds[stage] += elapsed
                    self.cpu[stage] += cpu
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
    # Building the boto3 client happens inside the first put_objects of a process (once per worker).
    timers.wrap(MessageArchiveHook, "get_conn", "s3_client_setup")
    for method in ("get_batch", "claim_batch", "renew_lease", "record_results", "refresh_batches"):
        timers.wrap(MessageTrackingHook, method, "mysql")
    return timers
