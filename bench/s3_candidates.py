"""Local S3 servers the benchmark could run against, measured side by side.

Each candidate runs in its own process; a worker process PUTs archive-sized objects at the
pipeline's concurrency straight at it (no proxy, no latency), then checks the calls the export
makes (PUT with SSE + metadata, GET, ListObjectsV2 over a ``dt=`` prefix with continuation). The
fastest correct one serves the rest of the run, behind the latency proxy. moto stays the server of
the test suite, where its fidelity matters.

Candidates: moto (reference), ``s3rver`` from the npm registry on the machine's Node.js (installed
on first use into ``build/bench-node``), and the in-memory asyncio endpoint of
``tests/support/memory_s3_server.py``. Debian's packages hold no S3 server that runs on its own
(``radosgw`` needs a Ceph cluster), so none is a candidate.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.environment import REPO
from bench.stack import ServerProcess

S3RVER_VERSION = "3.7.1"
NODE_PREFIX = REPO / "build" / "bench-node"


class MotoProcess(ServerProcess):
    """moto's S3 server (``python -m moto.server``)."""

    name = "moto"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


class MemoryS3Process(ServerProcess):
    """The in-memory asyncio S3 endpoint."""

    name = "memory (asyncio)"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.support.memory_s3_server", "--port", str(self.port)]


class S3rverProcess(ServerProcess):
    """``s3rver`` (npm) on the machine's Node.js, files in a temporary directory."""

    name = f"s3rver {S3RVER_VERSION} (npm, Node.js)"
    credentials = ("S3RVER", "S3RVER")  # the only key pair s3rver accepts

    def __init__(self, log_path: Path) -> None:
        super().__init__(log_path)
        self._directory = tempfile.mkdtemp(prefix="bench-s3rver-")

    def command(self) -> list[str]:
        return [
            str(ensure_s3rver()),
            "-d",
            self._directory,
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--silent",
            "--no-vhost-buckets",
            "--allow-mismatched-signatures",
        ]

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._directory, ignore_errors=True)


def ensure_s3rver() -> Path:
    """Return the ``s3rver`` executable, installing it with npm on first use."""
    binary = NODE_PREFIX / "node_modules" / ".bin" / "s3rver"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("Node.js/npm not found on this machine (apt-get install nodejs npm)")
    NODE_PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_PREFIX), f"s3rver@{S3RVER_VERSION}"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return binary


CANDIDATES: dict[str, type[ServerProcess]] = {
    "moto": MotoProcess,
    "s3rver": S3rverProcess,
    "memory": MemoryS3Process,
}
