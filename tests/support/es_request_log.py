"""The requests a test server answered: when each arrived and finished, what it was, what it answered.

Measured on the server's side of the wire, so a test can check what a client really sent (its rate in
every sliding window, how many requests were in flight at once) without looking inside the client.
"""

from __future__ import annotations

import threading
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
    """Thread-safe, append-only log of the requests a server answered (its control API excluded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def record(self, arrived: float, finished: float, method: str, path: str, status: int | None) -> None:
        with self._lock:
            self._entries.append(LoggedRequest(arrived, finished, method, path, status))

    def entries(self) -> list[LoggedRequest]:
        """Every request so far, in order of arrival."""
        with self._lock:
            return sorted(self._entries, key=lambda entry: entry.arrived)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

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
