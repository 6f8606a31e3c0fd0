"""The ``batch`` layout: one gzip object per batch pass and day, one member per message, in message id order.

A pass spools its members to a temporary file (memory holds one chunk's documents, whatever the
object's size), closes an object when it reaches ``s3.batch_object_max_bytes`` (uncompressed) or
``s3.batch_object_max_messages``, and uploads it whole under a key that is its own SHA-256: one PUT
carrying that SHA-256 for S3 to verify, or past one part a multipart upload through s3transfer. Only
then are its messages recorded, each with the object's URI and its member's byte range: a ledger row
never points at bytes that are not its document.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO, TYPE_CHECKING

from message_export.gzip_members import (
    BATCH_OBJECT_CONTENT_TYPE,
    FramedMember,
    MemberFramer,
    batch_object_key,
    is_batch_object_key,
)
from message_export.hooks.archive import ArchiveError
from message_export.keys import day_prefix, s3_uri
from message_export.layouts import ArchiveDocument, ArchiveWrite, DayObjects, StoredObject, Written
from message_export.model import ClaimedMessage, Job, MessageOutcome

if TYPE_CHECKING:
    from message_export.config import ExportConfig
    from message_export.hooks.archive import MessageArchiveHook
    from message_export.ledger.hook import MessageTrackingHook

log = logging.getLogger(__name__)

# members are written to disk past this: a 64 MB object never sits in memory
SPOOL_MEMORY_BYTES = 4 * 1024 * 1024


@dataclass
class _OpenObject:
    """One object being written: its spooled bytes and where each message's member sits."""

    day: date
    spool: IO[bytes]
    framer: MemberFramer = field(default_factory=MemberFramer)
    members: list[tuple[ClaimedMessage, FramedMember]] = field(default_factory=list)


class BatchPass:
    """Frames a pass's documents into objects, one open object per day; a full object becomes a write."""

    def __init__(self, config: ExportConfig, archive: MessageArchiveHook, metadata: Mapping[str, str]) -> None:
        s3 = config.s3
        self._bucket, self._prefix = s3.bucket, s3.prefix
        self._max_bytes, self._max_messages = s3.batch_object_max_bytes, s3.batch_object_max_messages
        self._archive = archive
        self._metadata = dict(metadata)
        self._open: dict[date, _OpenObject] = {}

    def add(self, documents: Sequence[ArchiveDocument]) -> list[ArchiveWrite]:
        sealed: list[ArchiveWrite] = []
        for document in documents:
            current = self._open.get(document.day)
            if current is not None and current.framer.is_full(len(document.body), self._max_bytes, self._max_messages):
                sealed.append(self._seal(self._open.pop(document.day)))
                current = None
            if current is None:
                spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - closed by its write
                current = self._open[document.day] = _OpenObject(document.day, spool)
            member, framed = current.framer.frame(document.body)
            current.spool.write(member)
            current.members.append((document.message, framed))
        return sealed

    def close(self) -> list[ArchiveWrite]:
        return [self._seal(self._open.pop(day)) for day in sorted(self._open)]

    def _seal(self, obj: _OpenObject) -> _StoreObject:
        key = batch_object_key(self._prefix, obj.day, obj.framer.digest())
        return _StoreObject(self._archive, self._bucket, key, obj, self._metadata)


@dataclass(frozen=True)
class _StoreObject:
    """A sealed object: uploaded whole under its own SHA-256, then its messages' outcomes, all together."""

    archive: MessageArchiveHook
    bucket: str
    key: str
    obj: _OpenObject
    metadata: Mapping[str, str]

    @property
    def messages(self) -> list[ClaimedMessage]:
        return [message for message, _ in self.obj.members]

    def write(self) -> Written:
        obj = self.obj
        try:
            obj.spool.seek(0)
            self.archive.upload_object(
                self.bucket,
                self.key,
                obj.spool,
                obj.framer.size,
                obj.framer.digest(),
                BATCH_OBJECT_CONTENT_TYPE,
                self.metadata,
            )
        except ArchiveError as error:
            reason = f"{error} (batch object of {len(obj.members)} messages)"
            return Written([MessageOutcome.failed(message, reason) for message, _ in obj.members])
        finally:
            obj.spool.close()
        uri = s3_uri(self.bucket, self.key)
        outcomes = [
            MessageOutcome.archived(
                message,
                uri,
                framed.document_bytes,
                framed.document_sha256,
                archive_offset=framed.offset,
                archive_length=framed.length,
            )
            for message, framed in obj.members
        ]
        log.debug("batch object %s: %d messages, %d bytes", uri, len(outcomes), obj.framer.size)
        return Written(objects=[StoredObject(uri, outcomes)])


class BatchLayout:
    """One indexed gzip object per batch pass and day; the ledger holds each message's byte range."""

    name = "batch"

    def __init__(self, config: ExportConfig, archive: MessageArchiveHook, tracking: MessageTrackingHook) -> None:
        self._config = config
        self._archive = archive
        self._tracking = tracking

    def open_pass(self, metadata: Mapping[str, str]) -> BatchPass:
        return BatchPass(self._config, self._archive, metadata)

    def measure_day(self, job: Job) -> DayObjects:
        """Completed messages whose object is under the day's prefix; batch objects no row references."""
        s3 = self._config.s3
        prefix = day_prefix(s3.prefix, job.window.day)
        referenced = self._tracking.object_references(job.job_id)
        listed = self._archive.list_keys(s3.bucket, prefix)
        uri_prefix = s3_uri(s3.bucket, "")
        keys = {uri.removeprefix(uri_prefix): completed for uri, completed in referenced.items()}
        found = sum(completed for key, completed in keys.items() if key in listed)
        unreferenced = tuple(sorted(key for key in listed if key not in keys and is_batch_object_key(key)))
        figures = {"objects": len(listed), "unreferenced_objects": len(unreferenced)}
        return DayObjects(found, unreferenced, figures)

    def tidy_day(self, job: Job, objects: DayObjects) -> int:
        """Remove the day's unreferenced batch objects: a dead or fenced-out writer's, or a re-run's leftovers."""
        if not objects.unreferenced:
            return 0
        self._archive.delete_keys(self._config.s3.bucket, objects.unreferenced)
        log.info(
            "%s: removed %d batch objects no ledger row references (a dead or fenced-out writer's, or replaced by "
            "a re-run): %s",
            job.window.day,
            len(objects.unreferenced),
            ", ".join(objects.unreferenced[:5]) + (" ..." if len(objects.unreferenced) > 5 else ""),
        )
        return len(objects.unreferenced)
