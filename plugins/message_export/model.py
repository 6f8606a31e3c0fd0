"""The ledger's records as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from message_export.windows import Window

COMPLETED = "completed"
FAILED = "failed"


@dataclass(frozen=True)
class Job:
    job_id: int
    window: Window
    status: str
    extraction_completed: bool


@dataclass(frozen=True)
class Batch:
    batch_id: int
    job_id: int
    batch_number: int
    total_messages: int

    @property
    def label(self) -> str:
        """The mapped task's name in the UI."""
        return f"batch {self.batch_number} · {self.total_messages} msgs"


@dataclass(frozen=True)
class ClaimedMessage:
    """A message leased to this worker for one processing attempt."""

    message_id: str
    job_id: int
    batch_id: int
    window_start: datetime


@dataclass(frozen=True)
class MessageOutcome:
    """The result of one attempt: ``completed`` with its ``s3_path`` (and the body's size and
    SHA-256, for the day's manifest; in the batch layout also the byte range of its gzip member in
    that object) or ``failed`` with a reason."""

    message: ClaimedMessage
    status: str
    s3_path: str | None = None
    error: str | None = None
    body_bytes: int | None = None
    body_sha256: bytes | None = None
    archive_offset: int | None = None
    archive_length: int | None = None

    @classmethod
    def archived(
        cls,
        message: ClaimedMessage,
        s3_path: str,
        body_bytes: int | None = None,
        body_sha256: bytes | None = None,
        *,
        archive_offset: int | None = None,
        archive_length: int | None = None,
    ) -> MessageOutcome:
        return cls(
            message,
            COMPLETED,
            s3_path=s3_path,
            body_bytes=body_bytes,
            body_sha256=body_sha256,
            archive_offset=archive_offset,
            archive_length=archive_length,
        )

    @classmethod
    def failed(cls, message: ClaimedMessage, error: str) -> MessageOutcome:
        return cls(message, FAILED, error=error[:1000])


@dataclass(frozen=True)
class ArchivedMessage:
    """A completed message as the ledger recorded it (size and checksum are ``None`` for messages
    archived before the ledger kept them; offset and length are ``None`` unless the message is one
    gzip member of a batch object)."""

    message_id: str
    s3_path: str
    body_bytes: int | None
    body_sha256: bytes | None
    archive_offset: int | None = None
    archive_length: int | None = None


@dataclass(frozen=True)
class ArchivedTotals:
    """A job's completed messages: how many, their bytes, how many lack a size or checksum."""

    messages: int
    body_bytes: int
    without_checksum: int


@dataclass(frozen=True)
class ReconciliationGaps:
    """How far a job's figures disagree: ids the search engine counts in the window beyond those
    tracked, and completed messages without an object under the day's prefix (0 when they agree or a
    figure is unknown)."""

    untracked: int
    missing_objects: int

    @classmethod
    def measure(
        cls, *, tracked: int, completed: int, source_count: int | None, archived_objects: int | None, extracted: bool
    ) -> ReconciliationGaps:
        """Compare the figures; the source count only counts once the extraction completed."""
        untracked = source_count - tracked if extracted and source_count is not None else 0
        missing = completed - archived_objects if archived_objects is not None else 0
        return cls(max(untracked, 0), max(missing, 0))

    @property
    def mismatches(self) -> int:
        """How many checks disagree (0, 1 or 2)."""
        return int(self.untracked > 0) + int(self.missing_objects > 0)
