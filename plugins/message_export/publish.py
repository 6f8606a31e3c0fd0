"""Publishing a completed day for its readers: the manifest in S3, and the summary that the
``finalize`` task's asset event carries."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from message_export.config import ExportConfig
from message_export.export import ExportServices
from message_export.keys import day_prefix, s3_uri
from message_export.manifest import MANIFEST_CONTENT_TYPE, GzipLineStream, ManifestEntry, manifest_key, manifest_lines
from message_export.model import ArchivedMessage, Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DayFigures:
    """The figures ``finalize`` closed the job with."""

    messages: int
    archived: int
    failed: int
    source_count: int | None
    archived_objects: int | None
    layout_figures: Mapping[str, Any] = field(default_factory=dict)
    """what the archive layout adds to the reconciliation (the batch layout: objects, unreferenced objects)"""


def _object_key(s3_path: str) -> str:
    # s3://bucket/key -> key
    return s3_path.split("/", 3)[3]


def _entries(archived: Iterator[ArchivedMessage]) -> Iterator[ManifestEntry]:
    for message in archived:
        yield ManifestEntry(
            key=_object_key(message.s3_path),
            message_id=message.message_id,
            size=message.body_bytes,
            sha256=None if message.body_sha256 is None else message.body_sha256.hex(),
            offset=message.archive_offset,
            length=message.archive_length,
        )


def publish_day(config: ExportConfig, services: ExportServices, job: Job, figures: DayFigures) -> dict[str, Any]:
    """Write the manifest of the completed ``job``'s day from the ledger; return the day's summary
    (what the asset event's ``extra`` holds), including the manifest's URI.

    The manifest streams: rows come from the ledger a keyset page at a time and go to S3 a part at
    a time, whatever the size of the day. The bucket is never listed.
    """
    bucket, prefix = config.s3.bucket, config.s3.prefix
    day = job.window.day
    totals = services.tracking.archived_totals(job.job_id)
    summary: dict[str, Any] = {
        "dt": day.isoformat(),
        "window": {"start": job.window.start.isoformat(), "end": job.window.end.isoformat()},
        "job_id": job.job_id,
        "data": s3_uri(bucket, day_prefix(prefix, day)),
        "counts": {
            "messages": figures.messages,
            "archived": figures.archived,
            "failed": figures.failed,
            "bytes": totals.body_bytes,
            "without_checksum": totals.without_checksum,
        },
        "reconciliation": {
            "source_count": figures.source_count,
            "archived_objects": figures.archived_objects,
            **figures.layout_figures,
        },
    }
    key = manifest_key(prefix, day)
    started = time.monotonic()
    stream = GzipLineStream(manifest_lines(summary, _entries(services.tracking.iter_archived(job.job_id))))
    metadata = {"job-id": str(job.job_id), "dt": day.isoformat()}
    services.archive.upload_stream(bucket, key, stream, MANIFEST_CONTENT_TYPE, metadata)
    entries = stream.lines - 1
    log.info(
        "manifest %s written in %.1fs: %d objects listed (%.1f MB archived), %.1f MB of JSON Lines before gzip",
        s3_uri(bucket, key),
        time.monotonic() - started,
        entries,
        totals.body_bytes / 1e6,
        stream.uncompressed_bytes / 1e6,
    )
    if totals.without_checksum:
        log.warning(
            "manifest: %d objects were archived before the ledger kept sizes and checksums (size/sha256 are "
            "null); re-export the day with reprocess=true to fill them",
            totals.without_checksum,
        )
    if entries != figures.archived:
        log.warning("manifest lists %d objects but the job closed with %d archived", entries, figures.archived)
    return {**summary, "manifest": s3_uri(bucket, key)}
