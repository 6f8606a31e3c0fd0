"""Reliability scenarios: faults injected over the wire and into processes, then invariants checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
REPORT_DIR = REPO / "build" / "reliability"


class Worker:
    """A ``process_batch`` running in its own process (see batch_worker.py)."""

    def __init__(self, batch_id: int, run_id: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.batch_worker", str(batch_id), run_id],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def finish(self, timeout: float = 300) -> dict[str, Any]:
        out, err = self.process.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise AssertionError(f"worker exited {self.process.returncode} without a result:\n{err[-4000:]}")
        return json.loads(lines[-1])


@pytest.fixture
def start_worker() -> Iterator[Callable[[int, str], Worker]]:
    workers: list[Worker] = []

    def start(batch_id: int, run_id: str = "reliability") -> Worker:
        worker = Worker(batch_id, run_id)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGCONT)
            worker.process.kill()
            worker.process.wait(timeout=30)


def ledger_session(services: Any) -> Any:
    """A MySQL session of its own on the test ledger (to hold locks the pipeline then meets)."""
    import MySQLdb

    return MySQLdb.connect(
        host=services.mysql["host"],
        port=services.mysql["port"],
        user=services.mysql["user"],
        passwd=services.mysql["password"],
        db=services.mysql["database"],
    )


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Figures of a scenario, written to build/reliability/<test>.json for the README table."""
    figures: dict[str, Any] = {"scenario": request.node.name}
    yield figures
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{request.node.name}.json").write_text(json.dumps(figures, indent=2, default=str))
