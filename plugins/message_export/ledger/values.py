"""Conversions between the ledger's column values and the product's: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

# above every id (VARBINARY(512) compares byte by byte, and no id has 513 bytes): the end of the
# last batch's range
ABOVE_EVERY_ID = b"\xff" * 513


def naive_utc(value: datetime) -> datetime:
    """A datetime as the ledger stores it: UTC without a zone."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def aware(value: datetime) -> datetime:
    """A datetime read from the ledger, marked as the UTC it is."""
    return value.replace(tzinfo=UTC)


def aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def id_bytes(message_id: str) -> bytes:
    """A message id as its VARBINARY column holds it (UTF-8; lone surrogates kept)."""
    return message_id.encode("utf-8", "surrogatepass")


def id_text(raw: bytes | str) -> str:
    """A VARBINARY or text column read back as ``str``."""
    return raw.decode("utf-8", "surrogatepass") if isinstance(raw, (bytes, bytearray)) else raw
