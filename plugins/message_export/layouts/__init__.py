"""Archive layouts: how archived messages become S3 objects. One contract, two rooms, chosen once.

``message`` (:mod:`.per_message`): one JSON object per message, its key derived from the id.
``batch`` (:mod:`.per_batch`): one gzip object per batch pass, one member per message, each message
one Range GET away. The exporter and ``finalize`` talk to :class:`ArchiveLayout` only;
:func:`archive_layout` is the one place the config's ``s3.layout`` is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from message_export.model import ClaimedMessage, Job, MessageOutcome

if TYPE_CHECKING:
    from message_export.config import ExportConfig


@dataclass(frozen=True)
class ArchiveDocument:
    """One message's JSON document, ready to archive under its UTC ``day``."""

    message: ClaimedMessage
    day: date
    body: bytes


@dataclass(frozen=True)
class StoredObject:
    """A batch object now in S3 and the outcomes of its messages: recorded all together, or none of them."""

    uri: str
    outcomes: list[MessageOutcome]


@dataclass(frozen=True)
class Written:
    """What a layout has written so far: outcomes to record one by one (each fenced by the lease), and
    stored batch objects whose messages' outcomes are recorded whole."""

    outcomes: list[MessageOutcome] = field(default_factory=list)
    objects: list[StoredObject] = field(default_factory=list)

    def __add__(self, other: Written) -> Written:
        return Written([*self.outcomes, *other.outcomes], [*self.objects, *other.objects])


@dataclass(frozen=True)
class DayObjects:
    """A day's objects as ``finalize`` reconciles them."""

    archived_objects: int
    """the figure compared with the completed messages: objects under the day's prefix (message layout) or
    completed messages whose batch object is there (batch layout)"""
    unreferenced: tuple[str, ...] = ()
    """batch objects under the day's prefix that no ledger row points at (a dead or fenced-out writer's)"""
    figures: Mapping[str, Any] = field(default_factory=dict)
    """what the layout adds to the day's reconciliation figures (nothing in the message layout)"""


class ArchiveWrite(Protocol):
    """Framed documents on their way to S3: the I/O half of a pass, run on the export's write lane."""

    @property
    def messages(self) -> Sequence[ClaimedMessage]:
        """The messages whose outcomes :meth:`write` gives."""
        ...

    def write(self) -> Written:
        """Write to S3; return the outcomes (a refused write's messages failed, with the reason)."""
        ...


class ArchivePass(Protocol):
    """One export pass's writer (a batch's claim, or a retry round): documents in, writes out.

    ``add`` and ``close`` only frame (no I/O), so the next chunk is framed while the writes they
    returned run on another thread; writes are run in the order they were returned.
    """

    def add(self, documents: Sequence[ArchiveDocument]) -> list[ArchiveWrite]:
        """Take the next documents (in message id order); return the writes that are ready now."""
        ...

    def close(self) -> list[ArchiveWrite]:
        """Return the writes of what is still held."""
        ...


class ArchiveLayout(Protocol):
    """What the pipeline asks of a layout."""

    name: str

    def open_pass(self, metadata: Mapping[str, str]) -> ArchivePass:
        """Start writing one pass's documents, with the run's ``metadata`` on every object."""
        ...

    def measure_day(self, job: Job) -> DayObjects:
        """Count the day's archived objects for reconciliation, and find the ones nothing references."""
        ...

    def tidy_day(self, job: Job, objects: DayObjects) -> int:
        """Once the day completed: remove the objects nothing references; return how many."""
        ...


def archive_layout(config: ExportConfig, services: Any) -> ArchiveLayout:
    """The layout ``s3.layout`` names, over ``services``' archive and ledger hooks: the one place it is chosen."""
    from message_export.layouts.per_batch import BatchLayout
    from message_export.layouts.per_message import MessageLayout

    if config.s3.layout == "batch":
        return BatchLayout(config, services.archive, services.tracking)
    return MessageLayout(config, services.archive)
