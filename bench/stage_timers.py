"""Per-stage wall and CPU time of the export, measured by wrapping the hooks' methods.

The wrappers only add a ``perf_counter`` and a CPU clock around each call; the code path stays the
same. The search reads of the next chunk run in the exporter's read-ahead thread while the current
chunk uploads, so stages overlap in time: a stage's CPU is read from the clock of the thread that
runs it (``time.thread_time``). The S3 PUTs run in the upload threads of ``put_objects``, which no
thread clock of the caller sees: that stage gets no CPU figure of its own, and the report gives
it the process's CPU that no other stage accounts for.
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

    def wrap(self, owner: Any, attribute: str, stage: str, thread_cpu: bool = True) -> None:
        """Replace ``owner.attribute`` by a timed version that adds to ``stage``.

        :param thread_cpu: add the calling thread's CPU time to the stage; off for a call whose
            work runs in threads of its own (the stage then has wall time only).
        """
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
                with self._lock:
                    self.seconds[stage] += elapsed
                    if thread_cpu:
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
    timers.wrap(MessageArchiveHook, "put_objects", "s3_put", thread_cpu=False)
    # Building the boto3 client happens inside the first put_objects of a process (once per worker).
    timers.wrap(MessageArchiveHook, "get_conn", "s3_client_setup", thread_cpu=False)
    for method in ("get_batch", "claim_batch", "renew_lease", "record_results", "refresh_batches"):
        timers.wrap(MessageTrackingHook, method, "mysql")
    return timers
