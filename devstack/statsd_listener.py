"""A StatsD listener for tests: a UDP socket that keeps every datagram it receives, parsed."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class StatsdLine:
    """One metric of a datagram: ``name:value|type[|@rate][|#tags]``."""

    name: str
    value: float
    type: str  # c (counter), g (gauge), ms (timer)
    raw: str

    @classmethod
    def parse(cls, line: str) -> StatsdLine:
        name, _, rest = line.partition(":")
        value, _, kind = rest.partition("|")
        if not name or not value or not kind:
            raise ValueError(f"not a StatsD line: {line!r}")
        return cls(name=name, value=float(value), type=kind.split("|")[0], raw=line)


class StatsdListener:
    """Binds 127.0.0.1 on a free port and receives in a thread until stopped."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self._lines: list[StatsdLine] = []
        self._lock = threading.Lock()
        self._running = True
        self._last_received = time.monotonic()
        self._thread = threading.Thread(target=self._receive, name="statsd-listener", daemon=True)

    def start(self) -> StatsdListener:
        self._thread.start()
        return self

    def _receive(self) -> None:
        while self._running:
            try:
                data = self._socket.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            lines = [StatsdLine.parse(line) for line in data.decode().splitlines() if line]
            with self._lock:
                self._lines.extend(lines)
                self._last_received = time.monotonic()

    def lines(self, prefix: str = "", *, quiet_for: float = 0.5) -> list[StatsdLine]:
        """What arrived so far whose name starts with ``prefix``, once nothing arrived for ``quiet_for`` s."""
        deadline = time.monotonic() + 10
        while time.monotonic() - self._last_received < quiet_for and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            return [line for line in self._lines if line.name.startswith(prefix)]

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self._socket.close()
