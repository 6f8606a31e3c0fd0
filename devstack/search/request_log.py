"""The requests a test server answered: when each arrived and finished, what it was, what it answered.

Measured on the server's side of the wire, so a test can check what a client really sent (its rate in
every sliding window, how many requests were in flight at once) without looking inside the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LoggedRequest:
    arrived: float  # time.monotonic() when the request had been read (headers)
    finished: float  # time.monotonic() when the answer had been written (or the connection dropped)
    method: str
    path: str
    status: int | None  # None: the connection was dropped without an answer


class RequestLog:
    """Thread-safe log of the requests a server answered (its control API excluded).

    The server calls :meth:`begin` when a request arrives and :meth:`record` once it is answered; the
    client may see the answer before it is recorded, so :meth:`entries` waits (briefly) for the
    requests that arrived before it was called.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._entries: list[LoggedRequest] = []
        self._open: dict[int, float] = {}
        self._next = 0
        self._cleared_at = float("-inf")

    def begin(self, arrived: float) -> int:
        """A request arrived; return its token for :meth:`record`."""
        with self._changed:
            self._next += 1
            self._open[self._next] = arrived
            return self._next

    def record(self, token: int, finished: float, method: str, path: str, status: int | None) -> None:
        with self._changed:
            arrived = self._open.pop(token)
            if arrived >= self._cleared_at:  # one that arrived before the last clear() was cleared with it
                self._entries.append(LoggedRequest(arrived, finished, method, path, status))
            self._changed.notify_all()

    def entries(self, settle: float = 5.0) -> list[LoggedRequest]:
        """Every request answered so far, in order of arrival, once those that had arrived are answered
        (waiting at most ``settle`` seconds for them)."""
        now = time.monotonic()
        with self._changed:
            self._changed.wait_for(
                lambda: all(arrived > now or arrived < self._cleared_at for arrived in self._open.values()),
                timeout=settle,
            )
            return sorted(self._entries, key=lambda entry: entry.arrived)

    def clear(self) -> None:
        """Forget every request that arrived until now, answered or not yet."""
        with self._changed:
            self._entries.clear()
            self._cleared_at = time.monotonic()

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in self.entries()]


def most_in_window(entries: Sequence[LoggedRequest], seconds: float = 1.0) -> int:
    """The most requests that arrived within any sliding window ``[t, t + seconds)``."""
    times = sorted(entry.arrived for entry in entries)
    most, start = 0, 0
    for end, arrived in enumerate(times):
        while arrived - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def most_in_flight(entries: Sequence[LoggedRequest]) -> int:
    """The most requests the server was handling at the same moment."""
    events = sorted([(e.arrived, 1) for e in entries] + [(e.finished, -1) for e in entries])
    most = current = 0
    for _time, change in events:  # at equal times a finish (-1) sorts before an arrival (+1)
        current += change
        most = max(most, current)
    return most
