"""The JSON document archived for each message. Pure logic, no I/O.

The body is deterministic: the same message and related documents always give the same bytes
(sorted keys, compact separators, related lists ordered by timestamp then document id, no export
timestamp inside). Those bytes are :func:`json.dumps`'s; orjson writes them, several times faster,
for every document it writes byte for byte alike (no float, no integer past 64 bits, no lone
surrogate, under its nesting limit), and :mod:`json` writes the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

# the integers orjson writes (as json does); past them it refuses
_ORJSON_INTEGERS = range(-(2**63), 2**64)


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


# documents without a usable timestamp sort after every dated one, still in a stable order (by id)
_UNDATED = datetime.max.replace(tzinfo=UTC)


def order_related(docs: Sequence[RelatedDocument], timestamp_field: str) -> list[Mapping[str, Any]]:
    """Return the sources of ``docs`` ordered by timestamp, then document id."""
    if len(docs) < 2:
        return [d.source for d in docs]
    keyed = []
    for doc in docs:
        parsed = parse_timestamp(doc.source.get(timestamp_field))
        keyed.append((0 if parsed is not None else 1, parsed or _UNDATED, doc.doc_id, doc.source))
    keyed.sort(key=lambda item: item[:3])
    return [source for *_, source in keyed]


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
    if _written_alike_by_orjson(body):
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate, a key that is not a string or deep nesting: json writes it
    try:
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from JSON "\ud800" escapes) cannot be UTF-8: keep them as escapes.
        text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        return text.encode("ascii")


def _written_alike_by_orjson(value: Any) -> bool:
    """Whether ``value`` holds only dicts, lists, strings, booleans, ``None`` and 64-bit integers: what orjson
    writes as :func:`json.dumps` does (a float is written differently: ``1e-05`` against ``1e-5``)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is not int or item not in _ORJSON_INTEGERS:
            return False
    return True
