"""S3 keys for archived messages: a reversible, collision-free encoding of message ids.

A key is ``{prefix}/dt=YYYY-MM-DD/{token}.json``. The token is the id's UTF-8 bytes with every
byte outside ``[A-Za-z0-9._-]`` percent-encoded (so ``/``, ``%``, ``~``, spaces, control and
non-ASCII characters never appear raw, and ids differing in case, trailing spaces or Unicode
normalisation map to different keys). Ids whose percent-encoded form would be too long for S3's
1,024-byte key limit use ``b64~`` + URL-safe base64 instead; ``~`` is always percent-encoded in
the first form, so the two forms can never collide.
"""

from __future__ import annotations

import base64
import re
from datetime import date

_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_BASE64_MARK = "b64~"
MAX_PERCENT_TOKEN = 640
MAX_ID_BYTES = 512
_KEY_RE = re.compile(r"^(?P<prefix>.*)/dt=(?P<day>\d{4}-\d{2}-\d{2})/(?P<token>[^/]+)\.json$")


class ArchiveKeyError(ValueError):
    """A message id or key cannot be encoded or decoded."""


def encode_message_id(message_id: str) -> str:
    """Return the key token for ``message_id``."""
    raw = message_id.encode("utf-8", "surrogatepass")
    if not raw:
        raise ArchiveKeyError("message id is empty")
    if len(raw) > MAX_ID_BYTES:
        raise ArchiveKeyError(f"message id is {len(raw)} bytes, over Elasticsearch's {MAX_ID_BYTES}-byte limit")
    token = "".join(chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in raw)
    if len(token) <= MAX_PERCENT_TOKEN:
        return token
    return _BASE64_MARK + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_message_id(token: str) -> str:
    """Return the message id a key token encodes."""
    if token.startswith(_BASE64_MARK):
        body = token[len(_BASE64_MARK) :]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    else:
        out = bytearray()
        i = 0
        while i < len(token):
            if token[i] == "%":
                out.append(int(token[i + 1 : i + 3], 16))
                i += 3
            else:
                out.append(ord(token[i]))
                i += 1
        raw = bytes(out)
    return raw.decode("utf-8", "surrogatepass")


def archive_key(prefix: str, day: date, message_id: str) -> str:
    """Return the S3 key of a message archived for UTC ``day``."""
    return f"{prefix.strip('/')}/dt={day.isoformat()}/{encode_message_id(message_id)}.json"


def day_prefix(prefix: str, day: date) -> str:
    """Return the S3 prefix under which the messages of ``day`` are archived."""
    return f"{prefix.strip('/')}/dt={day.isoformat()}/"


def parse_archive_key(key: str) -> tuple[str, date, str]:
    """Return ``(prefix, day, message_id)`` for a key made by :func:`archive_key`."""
    match = _KEY_RE.match(key)
    if not match:
        raise ArchiveKeyError(f"{key!r} is not an archive key ({{prefix}}/dt=YYYY-MM-DD/{{token}}.json)")
    return (
        match["prefix"],
        date.fromisoformat(match["day"]),
        decode_message_id(match["token"]),
    )


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
