"""In-memory stand-ins for the three services a step receives: enough to drive its decisions without a server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from message_export.config import ExportConfig, load_config
from message_export.export import ExportServices
from message_export.hooks.search_errors import SearchError
from message_export.model import ArchivedMessage, ArchivedTotals, ClaimedMessage, Job
from message_export.windows import Window

PACKAGED_CONFIG = Path(__file__).resolve().parents[3] / "include" / "config" / "message_export.yaml"
DAY = Window.for_day(date(2024, 10, 1))


def packaged_config(**changes: Any) -> ExportConfig:
    """The packaged config file, with top-level ``changes``."""
    return load_config(PACKAGED_CONFIG).model_copy(update=changes)


@dataclass
class FakeLedger:
    """The ledger's answers, set by the test; every write is recorded in ``calls``."""

    counts: dict[str, int] = field(
        default_factory=lambda: {"pending": 0, "in_progress": 0, "completed": 3, "failed": 0}
    )
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    staged: int = 0
    extraction_completed: bool = True
    claims: list[list[ClaimedMessage]] = field(default_factory=list)
    retry_waits: list[float | None] = field(default_factory=list)
    expired: list[tuple[int, date]] = field(default_factory=list)
    purge_chunks: dict[int, list[tuple[int | None, bytes | None]]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def get_job(self, window: Window) -> Job:
        return Job(7, window, "running", self.extraction_completed)

    def track_staged_ids(self, job_id: int) -> int:
        self.calls.append(("track_staged_ids", job_id))
        staged, self.staged = self.staged, 0
        return staged

    def job_counts(self, job_id: int) -> dict[str, int]:
        return dict(self.counts)

    def job_failures(self, job_id: int, limit: int = 10) -> list[tuple[str, int, str]]:
        return self.failures[:limit]

    def close_job(self, job_id: int, **values: Any) -> None:
        self.calls.append(("close_job", values))

    def chain_next_start(self, first_start: date) -> datetime:
        return DAY.end

    def archived_totals(self, job_id: int) -> ArchivedTotals:
        return ArchivedTotals(self.counts["completed"], 300, 0)

    def iter_archived(self, job_id: int) -> Iterator[ArchivedMessage]:
        for n in range(self.counts["completed"]):
            yield ArchivedMessage(f"m-{n}", f"s3://message-archive/messages/dt=2024-10-01/m-{n}.json", 100, b"\0" * 32)

    def give_up_exhausted(self, max_attempts: int) -> int:
        return 0

    def claim_retryable(self, **params: Any) -> list[ClaimedMessage]:
        self.calls.append(("claim_retryable", params["job_id"]))
        return self.claims.pop(0) if self.claims else []

    def next_retry_wait(self, *args: Any) -> float | None:
        return self.retry_waits.pop(0) if self.retry_waits else None

    def refresh_batches(self, batch_ids: list[int]) -> None:
        self.calls.append(("refresh_batches", list(batch_ids)))

    def refresh_settled_job(self, job_id: int) -> None:
        self.calls.append(("refresh_settled_job", job_id))

    def expired_days(self, cutoff: datetime, limit: int = 1000) -> list[tuple[int, date]]:
        self.calls.append(("expired_days", cutoff))
        return list(self.expired)

    def purge_chunk(self, job_id: int, after: bytes, limit: int) -> tuple[int | None, bytes | None]:
        chunks = self.purge_chunks.get(job_id) or [(0, None)]
        return chunks.pop(0)

    def mark_purged(self, job_id: int) -> None:
        self.calls.append(("mark_purged", job_id))


@dataclass
class FakeSearch:
    source_count: int | None = 3

    def count_window(self, index: str, field_name: str, window: Window) -> int:
        if self.source_count is None:
            raise SearchError("search cluster unreachable (connection refused)")
        return self.source_count


@dataclass
class FakeArchive:
    objects: int = 3
    uploaded: dict[str, bytes] = field(default_factory=dict)

    def count_objects(self, bucket: str, prefix: str) -> int:
        return self.objects

    def upload_stream(self, bucket: str, key: str, stream: Any, content_type: str, metadata: dict[str, str]) -> None:
        self.uploaded[key] = b"".join(iter(lambda: stream.read(65536), b""))


def fake_services(
    ledger: FakeLedger | None = None, search: FakeSearch | None = None, archive: FakeArchive | None = None
) -> tuple[ExportServices, FakeLedger, FakeSearch, FakeArchive]:
    ledger, search, archive = ledger or FakeLedger(), search or FakeSearch(), archive or FakeArchive()
    services = ExportServices(search=search, tracking=ledger, archive=archive)  # type: ignore[arg-type]
    return services, ledger, search, archive
