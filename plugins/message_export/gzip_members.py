"""The batch layout's objects: one gzip member per message, each findable by its byte range. Pure logic.

A batch object is the concatenation of one gzip member per message, in message id order. A
concatenation of gzip members is one valid gzip stream (RFC 1952, section 2.2), so the object reads as
gzip JSON Lines (Athena, DuckDB, ``gzip -dc``), while each member alone — one HTTP Range GET of
``offset`` and ``length`` — decompresses to exactly one line: the message's JSON document and ``\\n``.

The bytes depend only on the documents and the compressor: ISA-L (``isal``, pinned) at a fixed level and
a header without file name or timestamp. The object's key is its own SHA-256, so two writers of one key
write the same bytes, and a worker whose lease was taken over can never replace what the new owner wrote
with something else.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from isal import isal_zlib

# The compression level is part of the bytes (and so of the key): keep it fixed. ISA-L's level 1 compresses
# a message's document in about 13 us, zlib's level 1 in about 44 and its level 6 in about 60, for a
# few percent more bytes than zlib's level 6 (decision record 0009).
GZIP_LEVEL = 1
# zlib's window bits, +16: a gzip header (no file name, mtime 0) and trailer around the deflate stream
_GZIP_WBITS = 16 + zlib.MAX_WBITS
BATCH_OBJECT_SUFFIX = ".jsonl.gz"
BATCH_OBJECT_CONTENT_TYPE = "application/gzip"
_BATCH_KEY = re.compile(r"^(?P<prefix>.*)/dt=(?P<day>\d{4}-\d{2}-\d{2})/part-(?P<digest>[0-9a-f]{64})\.jsonl\.gz$")


class MemberError(ValueError):
    """Bytes that are not one gzip member holding one JSON Lines line."""


def gzip_member(document: bytes) -> bytes:
    """Return the gzip member that holds ``document`` as one JSON Lines line (the document and ``\\n``).

    Compressed by ISA-L (``isal``), whose level 1 takes about a third of zlib's CPU.
    """
    return isal_zlib.compress(document + b"\n", GZIP_LEVEL, wbits=_GZIP_WBITS)


def read_member(member: bytes) -> bytes:
    """Return the document one gzip member holds (its line without the ``\\n``); raise :class:`MemberError`
    when the bytes are not exactly one complete member holding one line."""
    decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
    try:
        line = decompressor.decompress(member) + decompressor.flush()
    except zlib.error as error:
        raise MemberError(f"not a gzip member ({len(member)} bytes): {error}") from None
    if not decompressor.eof:
        raise MemberError(f"truncated gzip member ({len(member)} bytes)")
    if decompressor.unused_data:
        raise MemberError(f"{len(decompressor.unused_data)} bytes after the gzip member")
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise MemberError("the gzip member does not hold exactly one line")
    return line[:-1]


def http_range(offset: int, length: int) -> str:
    """Return the ``Range`` header value that reads ``length`` bytes from ``offset``."""
    if offset < 0 or length < 1:
        raise ValueError(f"no byte range starts at {offset} with length {length}")
    return f"bytes={offset}-{offset + length - 1}"


def batch_object_key(prefix: str, day: date, digest: bytes) -> str:
    """Return the key of a batch object of UTC ``day`` whose bytes have SHA-256 ``digest``."""
    return f"{prefix.strip('/')}/dt={day.isoformat()}/part-{digest.hex()}{BATCH_OBJECT_SUFFIX}"


def is_batch_object_key(key: str) -> bool:
    """Whether ``key`` names a batch object (as :func:`batch_object_key` makes them)."""
    return _BATCH_KEY.match(key) is not None


@dataclass(frozen=True)
class FramedMember:
    """Where one message's member sits in its object, and its document's size and SHA-256."""

    offset: int
    length: int
    document_bytes: int
    document_sha256: bytes


@dataclass
class MemberFramer:
    """Frames documents one after another, keeping the running offset and the SHA-256 of the object so far.

    The caller writes each returned member where it likes (a spool file): the framer holds only the
    figures, never the bytes.
    """

    size: int = 0
    uncompressed: int = 0
    members: int = 0
    _digest: Any = field(default_factory=hashlib.sha256, repr=False)

    def frame(self, document: bytes) -> tuple[bytes, FramedMember]:
        """Return ``document``'s member and where it sits (the member starts where the previous one ended)."""
        member = gzip_member(document)
        framed = FramedMember(self.size, len(member), len(document), hashlib.sha256(document).digest())
        self._digest.update(member)
        self.size += len(member)
        self.uncompressed += len(document) + 1
        self.members += 1
        return member, framed

    def digest(self) -> bytes:
        """The SHA-256 of every member framed so far, concatenated: the object's bytes."""
        return self._digest.digest()

    def is_full(self, next_document_bytes: int, max_bytes: int, max_members: int) -> bool:
        """Whether adding a document of ``next_document_bytes`` would pass a bound (an empty object never is)."""
        if not self.members:
            return False
        return self.members >= max_members or self.uncompressed + next_document_bytes + 1 > max_bytes
