"""The ``message`` layout: one JSON object per message at ``{prefix}/dt=YYYY-MM-DD/{encoded id}.json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from message_export.hooks.archive import ArchiveObject
from message_export.keys import archive_key, day_prefix, s3_uri
from message_export.layouts import ArchiveDocument, DayObjects, Written
from message_export.model import Job, MessageOutcome

if TYPE_CHECKING:
    from message_export.config import ExportConfig
    from message_export.hooks.archive import MessageArchiveHook


class MessagePass:
    """Puts each chunk's documents at once, concurrently: every outcome is final when ``add`` returns."""

    def __init__(self, config: ExportConfig, archive: MessageArchiveHook, metadata: Mapping[str, str]) -> None:
        self._bucket, self._prefix = config.s3.bucket, config.s3.prefix
        self._archive = archive
        self._metadata = metadata

    def add(self, documents: Sequence[ArchiveDocument]) -> Written:
        objects = [ArchiveObject(archive_key(self._prefix, d.day, d.message.message_id), d.body) for d in documents]
        results = self._archive.put_objects(self._bucket, objects, self._metadata)
        outcomes: list[MessageOutcome] = []
        for document, obj, result in zip(documents, objects, results, strict=True):
            if result.ok:
                uri = s3_uri(self._bucket, obj.key)
                outcomes.append(MessageOutcome.archived(document.message, uri, len(obj.body), obj.sha256))
            else:
                outcomes.append(MessageOutcome.failed(document.message, result.error or "S3 put failed"))
        return Written(outcomes)

    def close(self) -> Written:
        return Written()


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
