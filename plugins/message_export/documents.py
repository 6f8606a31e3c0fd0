"""The JSON document archived for each message. Pure logic, no I/O.

The body is deterministic: the same message and related documents always give the same bytes
(sorted keys, compact separators, related lists ordered by timestamp then document id, no export
timestamp inside).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any


@dataclass(frozen=True)
class RelatedDocument:
    """A history/status/audit document: its Elasticsearch ``_id`` and ``_source``."""

    doc_id: str
    source: Mapping[str, Any]


def parse_timestamp(value: object) -> datetime | None:
    """Parse an Elasticsearch date value (ISO-8601 string or epoch millis) to UTC, or ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return parse_timestamp(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    return None


def _related_order(timestamp_field: str, doc: RelatedDocument) -> tuple:
    parsed = parse_timestamp(doc.source.get(timestamp_field))
    # Documents without a usable timestamp go last, still in a stable order.
    if parsed is None:
        return (1, "", doc.doc_id)
    return (0, parsed.isoformat(), doc.doc_id)


def order_related(docs: Sequence[RelatedDocument], timestamp_field: str) -> list[Mapping[str, Any]]:
    """Return the sources of ``docs`` ordered by timestamp, then document id."""
    return [d.source for d in sorted(docs, key=lambda d: _related_order(timestamp_field, d))]


def message_day(source: Mapping[str, Any], timestamp_field: str, fallback: date) -> date:
    """Return the UTC day a message belongs to (its partition), or ``fallback`` without a timestamp."""
    parsed = parse_timestamp(source.get(timestamp_field))
    return parsed.date() if parsed is not None else fallback


def build_archive_document(
    message_id: str,
    message: Mapping[str, Any],
    related: Mapping[str, Sequence[RelatedDocument]],
    timestamp_field: str,
) -> bytes:
    """Return the UTF-8 JSON body archived for one message.

    :param related: section name (``history``, ``status``, ``audit``) to its documents; a section
        with no documents becomes an empty list.
    """
    body: dict[str, Any] = {"message_id": message_id, "message": message}
    for section, docs in related.items():
        body[section] = order_related(docs, timestamp_field)
    try:
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from JSON "\ud800" escapes) cannot be UTF-8: keep them as escapes.
        text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        return text.encode("ascii")
