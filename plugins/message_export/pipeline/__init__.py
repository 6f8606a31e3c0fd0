"""The steps of the ``message_export`` DAG, one function per task.

Each step takes plain values (a window dict from XCom, a batch id, the run's details) so it can run
under Airflow or from a benchmark alike; only ids, counts and dates cross between steps. Each step
also takes its config and services (keyword-only; by default read from the config file and built
from it), so a benchmark or a unit test hands it the ones it wants.

In the order a run calls them: ``start`` (ensure_schema, resolve_window, next_window_due),
``extraction`` (extract), ``batches`` (process_batch, retry_failed), ``closing`` (announce_late_days,
finalize, purge_ledger).
"""

from __future__ import annotations

from message_export.pipeline.batches import process_batch, retry_failed
from message_export.pipeline.closing import announce_late_days, finalize, purge_ledger
from message_export.pipeline.extraction import extract
from message_export.pipeline.failures import explain_failures
from message_export.pipeline.run_context import DagRunInfo
from message_export.pipeline.start import ensure_schema, next_window_due, resolve_window

__all__ = [
    "DagRunInfo",
    "announce_late_days",
    "ensure_schema",
    "explain_failures",
    "extract",
    "finalize",
    "next_window_due",
    "process_batch",
    "purge_ledger",
    "resolve_window",
    "retry_failed",
]
