"""The day manifest: what a completed day holds, for loaders that must not list the bucket. Pure logic.

One gzip JSON Lines object per day at ``{prefix}/_manifests/dt=YYYY-MM-DD/manifest.jsonl.gz`` —
outside the day's data prefix, so counting ``{prefix}/dt=YYYY-MM-DD/`` still counts messages only,
and under a ``_``-prefixed folder, which Athena, Hive and Spark skip when they read the table.
Line 1 is the day (``"type": "day"``: window, totals, reconciliation figures); every further line is
one archived message (``"type": "object"``: key, message id, size, SHA-256 of the body, and in the batch
layout the byte ``offset`` and ``length`` of its gzip member in that key), ordered by message id (its
UTF-8 bytes). The bytes depend only on the ledger's content: sorted keys, compact
separators, ASCII escapes, and a gzip header without file name or timestamp, so writing the same
day again writes the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

MANIFEST_VERSION = 1
MANIFEST_FOLDER = "_manifests"
MANIFEST_CONTENT_TYPE = "application/gzip"
# gzip level and chunking are part of the bytes: keep them fixed.
_GZIP_LEVEL = 6
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ManifestEntry:
    """One archived object as the ledger recorded it."""

    key: str
    message_id: str
    size: int | None
    sha256: str | None
    offset: int | None = None
    """the byte range of the message's gzip member in a batch object (``None``: the object is the message)"""
    length: int | None = None


def manifest_key(prefix: str, day: date) -> str:
    """Return the S3 key of the manifest of UTC ``day``."""
    return f"{prefix.strip('/')}/{MANIFEST_FOLDER}/dt={day.isoformat()}/manifest.jsonl.gz"


def _line(record: Mapping[str, Any]) -> bytes:
    return (
        json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
        + b"\n"
    )


def day_line(day: Mapping[str, Any]) -> bytes:
    """Return the manifest's first line for the day's summary ``day``."""
    return _line({"type": "day", "manifest_version": MANIFEST_VERSION, **day})


def entry_line(entry: ManifestEntry) -> bytes:
    record: dict[str, Any] = {
        "type": "object",
        "key": entry.key,
        "message_id": entry.message_id,
        "size": entry.size,
        "sha256": entry.sha256,
    }
    if entry.offset is not None:  # a member of a batch object: one Range GET of offset and length reads it
        record["offset"], record["length"] = entry.offset, entry.length
    return _line(record)


def manifest_lines(day: Mapping[str, Any], entries: Iterable[ManifestEntry]) -> Iterator[bytes]:
    """Yield the manifest's lines: the day first, then one per entry, lazily."""
    yield day_line(day)
    for entry in entries:
        yield entry_line(entry)


class GzipLineStream(io.RawIOBase):
    """A read-only, non-seekable file object whose bytes are the gzip of ``lines``, produced on demand.

    An uploader reading it in parts holds one part in memory, never the whole manifest.
    """

    def __init__(self, lines: Iterable[bytes]) -> None:
        super().__init__()
        self._lines = iter(lines)
        self._out = io.BytesIO()
        self._gzip: gzip.GzipFile | None = gzip.GzipFile(
            filename="", mode="wb", compresslevel=_GZIP_LEVEL, fileobj=self._out, mtime=0
        )
        self._ready = bytearray()
        self.uncompressed_bytes = 0
        self.lines = 0

    def readable(self) -> bool:
        return True

    def _fill(self, wanted: int) -> None:
        while len(self._ready) < wanted and self._gzip is not None:
            chunk = bytearray()
            for line in self._lines:
                chunk += line
                self.lines += 1
                if len(chunk) >= _CHUNK_BYTES:
                    break
            else:
                self._finish(chunk)
                return
            self._gzip.write(chunk)
            self.uncompressed_bytes += len(chunk)
            self._drain()

    def _finish(self, chunk: bytearray) -> None:
        assert self._gzip is not None
        if chunk:
            self._gzip.write(chunk)
            self.uncompressed_bytes += len(chunk)
        self._gzip.close()
        self._gzip = None
        self._drain()

    def _drain(self) -> None:
        self._ready += self._out.getvalue()
        self._out.seek(0)
        self._out.truncate()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        self._fill(len(view))
        size = min(len(view), len(self._ready))
        view[:size] = self._ready[:size]
        del self._ready[:size]
        return size
