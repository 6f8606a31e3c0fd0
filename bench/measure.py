"""Memory and rate arithmetic shared by the workers and the report."""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil

_STATUS = Path("/proc/self/status")


def rss_mb() -> float:
    """Return this process's resident set size now, in MiB."""
    return psutil.Process().memory_info().rss / 2**20


def reset_peak_rss() -> None:
    """Restart the peak-RSS high-water mark from the current RSS (Linux only)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """Return this process's peak resident set size, in MiB.

    Linux: ``VmHWM`` of this process's own address space. Not ``ru_maxrss``: Linux carries it over
    ``execve`` from the parent, so a worker started by a large orchestrator would report the
    orchestrator's peak.
    """
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rate(count: float, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


def combined_rate(extract_per_s: float | None, process_per_s: float | None) -> float | None:
    """Messages per second of extraction followed by processing (their times add)."""
    if not extract_per_s or not process_per_s:
        return None
    return 1 / (1 / extract_per_s + 1 / process_per_s)


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (``None`` if it is unknown or gone)."""
    if pid is None:
        return None
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def mysqld_pid() -> int | None:
    """The pid of the machine's MariaDB/MySQL server, if one runs."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("mariadbd", "mysqld"):
            return process.pid
    return None


_BUSY_FIELDS = ("user", "system", "nice", "irq", "softirq")


class CpuMeter:
    """CPU seconds spent over one span of time by named processes, by this process's children that
    finished within it (the ``workers`` the span waited for), and by the whole machine."""

    def __init__(self, parts: dict[str, int | None]) -> None:
        self._parts = parts
        self._before = {name: process_cpu_seconds(pid) for name, pid in parts.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._children_before = children.ru_utime + children.ru_stime
        self._machine_before = psutil.cpu_times()
        self._started = time.perf_counter()

    def stop(self) -> dict[str, float | None]:
        """CPU seconds per part, ``workers`` and ``machine_busy``, and the span's ``wall`` seconds."""
        wall = time.perf_counter() - self._started
        seconds: dict[str, float | None] = {}
        for name, pid in self._parts.items():
            after, before = process_cpu_seconds(pid), self._before[name]
            seconds[name] = None if after is None or before is None else after - before
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds["workers"] = children.ru_utime + children.ru_stime - self._children_before
        machine = psutil.cpu_times()
        seconds["machine_busy"] = sum(getattr(machine, f) - getattr(self._machine_before, f) for f in _BUSY_FIELDS)
        seconds["wall"] = wall
        return seconds


def python_calls(work: Callable[[], Any], *, calling_thread: bool = True) -> int:
    """Python function calls ``work()`` makes in the threads it starts and (unless ``calling_thread``
    is false) in this one: a measure of a client's work that, unlike CPU time, a busy machine does
    not change. Native code is not counted."""
    calls = 0
    lock = threading.Lock()

    def count(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal calls
        if event == "call":
            with lock:
                calls += 1

    threading.setprofile(count)  # threads started inside work() get the counter
    if calling_thread:
        sys.setprofile(count)
    try:
        work()
    finally:
        if calling_thread:
            sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return calls
