"""A private Redis server on a free port: the Celery broker of the tests and the benchmark.

Debian's ``redis-server`` (``scripts/ensure_system_deps.sh`` installs it), started in its own session with
no persistence, so nothing it holds outlives it and no other Celery deployment on the machine shares it.
``make airflow EXECUTOR=celery`` uses the machine's Redis instead (``scripts/ensure_redis.sh``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from devstack.local_airflow import free_port, stop_process_groups


class RedisServer:
    """``redis-server`` on 127.0.0.1; ``url`` is its address once started."""

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.log = log
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> Self:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/ensure_system_deps.sh (apt: redis-server)")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.process.returncode}; see {self.log}")
            if self.ping():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s; see {self.log}")

    def ping(self) -> bool:
        """Whether the server answers ``PING`` (spoken in RESP, no client library needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process_groups({"redis-server": self.process.pid}, grace=10)
            self.process.wait(timeout=5)
            self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
