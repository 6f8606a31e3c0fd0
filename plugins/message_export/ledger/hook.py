"""The hook for the export ledger in MySQL: one class, built from the ledger's rooms."""

from __future__ import annotations

from message_export.ledger.migrations import LedgerMigrations
from message_export.ledger.reads import LedgerReads


class MessageTrackingHook(LedgerReads, LedgerMigrations):
    """Reads and writes the export ledger (``job_runs``, ``batch_progress``, ``message_tracking``).

    The statement runner is in ``connection``, the versioned schema in ``migrations``, the staging
    lifecycle in ``staging``, jobs, batches, claims and retention in ``writes``, the manifest's and
    dashboard's views in ``reads``.
    """

    hook_name = "MySQL (message export ledger)"

    def ensure_schema(self) -> int:
        """Bring the ledger to this package's schema version (creating it if new), and track and drop
        staging tables nothing will use again; return the version."""
        version = self.migrate_schema()
        self.drop_abandoned_staging()
        return version
