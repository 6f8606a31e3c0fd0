"""The ``message`` layout: one JSON object per message at ``{prefix}/dt=YYYY-MM-DD/{encoded id}.json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from message_export.hooks.archive import ArchiveObject
from message_export.keys import archive_key, day_prefix, s3_uri
from message_export.layouts import ArchiveDocument, ArchiveWrite, DayObjects, Written
from message_export.model import ClaimedMessage, Job, MessageOutcome

if TYPE_CHECKING:
    from message_export.config import ExportConfig
    from message_export.hooks.archive import MessageArchiveHook


class MessagePass:
    """Each chunk's documents become one write that puts them at once, concurrently."""

    def __init__(self, config: ExportConfig, archive: MessageArchiveHook, metadata: Mapping[str, str]) -> None:
        self._bucket, self._prefix = config.s3.bucket, config.s3.prefix
        self._archive = archive
        self._metadata = metadata

    def add(self, documents: Sequence[ArchiveDocument]) -> list[ArchiveWrite]:
        if not documents:
            return []
        return [_PutChunk(self._archive, self._bucket, self._prefix, list(documents), self._metadata)]

    def close(self) -> list[ArchiveWrite]:
        return []


@dataclass(frozen=True)
class _PutChunk:
    """One chunk's documents, one object each: every outcome is final when :meth:`write` returns."""

    archive: MessageArchiveHook
    bucket: str
    prefix: str
    documents: list[ArchiveDocument]
    metadata: Mapping[str, str]

    @property
    def messages(self) -> list[ClaimedMessage]:
        return [d.message for d in self.documents]

    def write(self) -> Written:
        documents = self.documents
        objects = [ArchiveObject(archive_key(self.prefix, d.day, d.message.message_id), d.body) for d in documents]
        results = self.archive.put_objects(self.bucket, objects, self.metadata)
        outcomes: list[MessageOutcome] = []
        for document, obj, result in zip(documents, objects, results, strict=True):
            if result.ok:
                uri = s3_uri(self.bucket, obj.key)
                outcomes.append(MessageOutcome.archived(document.message, uri, len(obj.body), obj.sha256))
            else:
                outcomes.append(MessageOutcome.failed(document.message, result.error or "S3 put failed"))
        return Written(outcomes)


class MessageLayout:
    """One object per message; its key depends only on the id and the day, its body only on the documents."""

    name = "message"

    def __init__(self, config: ExportConfig, archive: MessageArchiveHook) -> None:
        self._config = config
        self._archive = archive

    def open_pass(self, metadata: Mapping[str, str]) -> MessagePass:
        return MessagePass(self._config, self._archive, metadata)

    def measure_day(self, job: Job) -> DayObjects:
        s3 = self._config.s3
        return DayObjects(self._archive.count_objects(s3.bucket, day_prefix(s3.prefix, job.window.day)))

    def tidy_day(self, job: Job, objects: DayObjects) -> int:
        return 0  # every object is some message's, at its deterministic key
