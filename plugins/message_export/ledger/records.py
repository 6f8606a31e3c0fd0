"""What the ledger says about days, batches and messages, as read by the dashboard and notifications. Pure records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

STATUSES = ("pending", "in_progress", "completed", "failed")


@dataclass(frozen=True)
class StatusCounts:
    """Messages per status; ``pending`` includes messages leased but not yet finished."""

    completed: int = 0
    failed: int = 0
    pending: int = 0
    in_progress: int = 0

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.pending + self.in_progress

    @classmethod
    def from_rows(cls, rows: dict[str, int]) -> StatusCounts:
        return cls(**{status: int(rows.get(status, 0)) for status in STATUSES})


@dataclass(frozen=True)
class DayRecord:
    """The job row of one exported (or exporting) day."""

    job_id: int
    day: date
    status: str
    counts: StatusCounts
    source_count: int | None
    archived_objects: int | None
    extraction_completed_at: datetime | None
    dag_run_id: str | None
    last_error: str | None
    updated_at: datetime
    ledger_purged_at: datetime | None = None
    """Set when retention removed the day's message rows: ``counts`` are then the figures recorded
    when the day completed, and there is no per-message detail left in the ledger."""


@dataclass(frozen=True)
class LedgerSpan:
    """The first exported day overall and the days of a range by job status."""

    first_day: date | None
    days: int
    completed_days: int
    failed_days: int
    running_days: int


@dataclass(frozen=True)
class BatchRecord:
    batch_id: int
    batch_number: int
    status: str
    counts: StatusCounts
    updated_at: datetime


@dataclass(frozen=True)
class FailedMessage:
    message_id: str
    batch_id: int
    attempts: int
    reason: str
    last_attempted: datetime | None


@dataclass(frozen=True)
class TrackedMessage:
    """Where a tracked message stands: archived at ``s3_path`` or why not."""

    message_id: str
    status: str
    day: date
    batch_id: int
    attempts: int
    s3_path: str | None
    reason: str | None
    last_attempted: datetime | None
    dag_run_id: str | None = field(default=None)
