"""Overlapping a consumer's writes with its producer's work: store this chunk while the next one is built."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class WriteBehind:
    """Runs submitted work in submission order on one background thread, at most ``depth`` waiting.

    ``submit`` blocks while ``depth`` submissions are unfinished, so memory stays bounded by what they
    hold. The first failure stops the work after it (each later submission is skipped) and is raised by
    the next ``submit`` or by leaving the ``with`` block, which always waits for the work already
    submitted: nothing is left running when the block ends.
    """

    def __init__(self, depth: int = 2, name: str = "write-behind") -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, not {depth}")
        self._depth = depth
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[Future[Any]] = deque()
        self._failed = threading.Event()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._wait_for(0)
        finally:
            self._executor.shutdown(wait=True)

    def submit(self, work: Callable[..., object], *args: Any) -> None:
        """Run ``work(*args)`` after everything submitted before it; raise an earlier submission's failure."""
        self._wait_for(self._depth - 1)

        def run() -> None:
            if self._failed.is_set():
                return
            try:
                work(*args)
            except BaseException:
                self._failed.set()
                raise

        self._pending.append(self._executor.submit(run))

    def _wait_for(self, at_most: int) -> None:
        """Wait until at most ``at_most`` submissions are unfinished; raise the first failure met."""
        while len(self._pending) > at_most:
            self._pending.popleft().result()
        while self._pending and self._pending[0].done():
            self._pending.popleft().result()
