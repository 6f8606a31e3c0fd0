"""Memory and rate arithmetic shared by the workers and the report."""

from __future__ import annotations

import resource
from pathlib import Path

import psutil

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def rss_mb() -> float:
    """Return this process's resident set size now, in MiB."""
    return psutil.Process().memory_info().rss / 2**20


def reset_peak_rss() -> bool:
    """Restart the peak-RSS high-water mark from the current RSS (Linux); return whether it worked."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


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
