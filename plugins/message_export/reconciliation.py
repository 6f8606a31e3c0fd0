"""Whether a day is archived: the finalize step's verdict from the ledger's and the sources' figures. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from message_export.model import ReconciliationGaps


@dataclass(frozen=True)
class DayMeasurements:
    """What finalize measured of a day before closing it."""

    counts: Mapping[str, int]
    """tracked messages per status: pending, in_progress, completed, failed"""
    extraction_completed: bool
    source_count: int | None
    """the search engine's count of the window (``None``: it could not be taken)"""
    archived_objects: int | None
    """objects under the day's prefix (``None``: they could not be counted)"""
    failures: Sequence[tuple[str, int, str]] = ()
    """the first failed messages: ``(message_id, attempts, last_error)``"""
    unmeasured: Sequence[str] = ()
    """why a figure above is ``None``"""

    @property
    def tracked(self) -> int:
        return sum(self.counts.values())

    @property
    def unfinished(self) -> int:
        return self.counts.get("pending", 0) + self.counts.get("in_progress", 0)


@dataclass(frozen=True)
class DayVerdict:
    """A day is completed when nothing is wrong with it; otherwise failed, with every reason."""

    gaps: ReconciliationGaps
    problems: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        return "failed" if self.problems else "completed"

    def with_problem(self, problem: str) -> DayVerdict:
        """The verdict once a later step (the manifest) found ``problem``."""
        return DayVerdict(self.gaps, (*self.problems, problem))


def judge_day(figures: DayMeasurements) -> DayVerdict:
    """Decide whether every message of the day is archived, and if not, say each reason."""
    counts = figures.counts
    problems: list[str] = []
    if not figures.extraction_completed:
        problems.append("extraction did not complete")
    problems.extend(figures.unmeasured)
    if counts.get("failed", 0):
        listed = "; ".join(f"{mid!r} ({attempts} attempts): {error}" for mid, attempts, error in figures.failures)
        problems.append(f"{counts['failed']} messages failed: {listed}")
    if figures.unfinished:
        problems.append(f"{figures.unfinished} messages not processed (pending/in_progress)")
    gaps = ReconciliationGaps.measure(
        tracked=figures.tracked,
        completed=counts.get("completed", 0),
        source_count=figures.source_count,
        archived_objects=figures.archived_objects,
        extracted=figures.extraction_completed,
    )
    if gaps.untracked:
        problems.append(
            f"Elasticsearch reports {figures.source_count} messages in the window but only {figures.tracked} are "
            "tracked"
        )
    if gaps.missing_objects:
        problems.append(
            f"{counts.get('completed', 0)} messages completed but only {figures.archived_objects} objects under the "
            "window's prefix"
        )
    return DayVerdict(gaps, tuple(problems))
