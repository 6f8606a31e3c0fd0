"""Mappings for the Elasticsearch-compatible server: field types, value normalisation, ``_source`` filtering.

Values are normalised once, when a document is indexed: dates to epoch milliseconds (``int``), integers to
``int``, floating types to ``float``, keywords to ``str``, text stays ``str`` (tokenised on demand).
"""

from __future__ import annotations

import fnmatch
import re
import struct
from collections.abc import Iterator
from typing import Any

from devstack.search import errors
from devstack.search.dates import looks_like_date, parse_date, parse_date_nanos, parse_iso

INT_TYPES = frozenset({"long", "integer", "short", "byte", "unsigned_long"})
FLOAT_TYPES = frozenset({"double", "float", "half_float", "scaled_float"})
NUMERIC_TYPES = INT_TYPES | FLOAT_TYPES
SORTABLE_TYPES = NUMERIC_TYPES | {"date", "date_nanos", "keyword", "boolean", "constant_keyword", "wildcard"}
KEYWORD_TYPES = frozenset({"keyword", "constant_keyword", "wildcard"})
DEFAULT_IGNORE_ABOVE = 256

_TOKEN = re.compile(r"\w+", re.UNICODE)


class FieldType:
    """One leaf field: its type, the source path it reads, and its options."""

    __slots__ = ("format", "ignore_above", "name", "source_path", "type")

    def __init__(self, name: str, type_: str, source_path: str, options: dict[str, Any] | None = None) -> None:
        options = options or {}
        self.name = name
        self.type = type_
        self.source_path = source_path
        self.format: str | None = options.get("format")
        self.ignore_above: int | None = options.get("ignore_above")

    @property
    def sortable(self) -> bool:
        return self.type in SORTABLE_TYPES

    def normalize(self, value: Any, doc_id: str) -> Any:
        """One source value → the indexed value (``None`` when not indexed); raise document_parsing_exception."""
        if value is None:
            return None
        t = self.type
        try:
            if t == "date":
                return parse_date(value, self.format)
            if t == "date_nanos":
                return parse_date_nanos(value, self.format)
            if t in KEYWORD_TYPES:
                text = value if isinstance(value, str) else json_scalar(value)
                if self.ignore_above is not None and len(text) > self.ignore_above:
                    return None
                return text
            if t == "text" or t == "match_only_text":
                return value if isinstance(value, str) else json_scalar(value)
            if t in INT_TYPES:
                if isinstance(value, bool):
                    raise ValueError(value)
                number = float(value) if isinstance(value, str) else value
                if isinstance(number, float):
                    if number != number or number in (float("inf"), float("-inf")):
                        raise ValueError(value)
                    return int(number)
                return int(number)
            if t in FLOAT_TYPES:
                if isinstance(value, bool):
                    raise ValueError(value)
                return to_precision(t, float(value))
            if t == "boolean":
                if isinstance(value, bool):
                    return value
                if value in ("true", "false"):
                    return value == "true"
                raise ValueError(value)
        except (ValueError, TypeError, OverflowError) as error:
            raise errors.document_parsing(doc_id, self.name, t, value) from error
        return value  # object-like or unsupported types: stored as is, not queryable beyond equality


def json_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tokens(text: str) -> list[str]:
    """The standard analyzer, roughly: lowercase word tokens."""
    return _TOKEN.findall(text.lower())


def to_precision(field_type: str, number: float) -> float:
    """The value a ``float`` (32-bit) or ``half_float`` (16-bit) field really holds, widened back to a double."""
    fmt = {"float": "<f", "half_float": "<e"}.get(field_type)
    if fmt is None:
        return number
    try:
        narrowed = struct.unpack(fmt, struct.pack(fmt, number))[0]
    except (OverflowError, struct.error) as error:
        raise ValueError(f"[{field_type}] supports only finite values, but got [{number}]") from error
    if narrowed != narrowed or narrowed in (float("inf"), float("-inf")):
        raise ValueError(f"[{field_type}] supports only finite values, but got [{number}]")
    return narrowed


def dynamic_type(value: Any) -> dict[str, Any] | None:
    """Elasticsearch's default dynamic mapping for a new leaf value (``None``: nothing to map yet)."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, str):
        if looks_like_date(value):
            try:
                parse_iso(value.replace("/", "-"))
            except ValueError:
                pass
            else:
                return {"type": "date"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": DEFAULT_IGNORE_ABOVE}}}
    return None


def flatten(source: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf ``(dotted path, value)`` pairs; arrays yield one pair per element, objects in arrays are flattened."""
    for key, value in source.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, path + ".")
        elif isinstance(value, list):
            for item in _flat_list(value):
                if isinstance(item, dict):
                    yield from flatten(item, path + ".")
                else:
                    yield path, item
        else:
            yield path, value


def _flat_list(values: list[Any]) -> Iterator[Any]:
    for item in values:
        if isinstance(item, list):
            yield from _flat_list(item)
        else:
            yield item


# --- _source filtering ---------------------------------------------------------------------------------------


def source_filter_spec(
    source: Any, includes: Any = None, excludes: Any = None
) -> tuple[bool, list[str] | None, list[str] | None]:
    """``(fetch, includes, excludes)`` from a ``_source`` value (bool / str / list / dict) and the query params."""
    fetch = True
    inc: list[str] | None = None
    exc: list[str] | None = None
    if isinstance(source, bool):
        fetch = source
    elif isinstance(source, str):
        if source.lower() in ("true", "false"):
            fetch = source.lower() == "true"
        else:
            inc = [s for s in source.split(",") if s]
    elif isinstance(source, list):
        inc = [str(s) for s in source]
    elif isinstance(source, dict):
        raw_inc = source.get("includes", source.get("include"))
        raw_exc = source.get("excludes", source.get("exclude"))
        inc = _as_list(raw_inc)
        exc = _as_list(raw_exc)
    if includes is not None:
        inc = _as_list(includes)
        fetch = True
    if excludes is not None:
        exc = _as_list(excludes)
        fetch = True
    return fetch, inc or None, exc or None


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [s for s in value.split(",") if s]
    return [str(v) for v in value]


def filter_source(source: dict[str, Any], includes: list[str] | None, excludes: list[str] | None) -> dict[str, Any]:
    if not includes and not excludes:
        return source
    return _filter(source, "", includes, excludes)


def _matches(path: str, patterns: list[str]) -> bool:
    return any(p == path or fnmatch.fnmatchcase(path, p) for p in patterns)


def _is_prefix_of_include(path: str, patterns: list[str]) -> bool:
    prefix = path + "."
    return any(
        p.startswith(prefix) or fnmatch.fnmatchcase(prefix, p.split(".", path.count(".") + 1)[0] + "*")
        for p in patterns
        if "." in p
    )


def _filter(obj: dict[str, Any], prefix: str, inc: list[str] | None, exc: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if exc and _matches(path, exc):
            continue
        included = not inc or _matches(path, inc) or _matches(path + ".*", inc)
        if isinstance(value, dict):
            if included:
                out[key] = _filter(value, path + ".", None, exc) if exc else value
            elif inc and _is_prefix_of_include(path, inc):
                child = _filter(value, path + ".", inc, exc)
                if child:
                    out[key] = child
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value) and not included:
            if inc and _is_prefix_of_include(path, inc):
                items = [c for c in (_filter(v, path + ".", inc, exc) for v in value) if c]
                if items:
                    out[key] = items
        elif included:
            out[key] = value
    return out


# --- filter_path (response filtering) ------------------------------------------------------------------------

_GONE = object()


def filter_path(body: Any, spec: str) -> Any:
    """Apply Elasticsearch's ``filter_path`` (``a.b``, ``*`` within a key, ``**`` any depth, ``-`` to exclude)."""
    paths = [p.strip() for p in spec.split(",") if p.strip()]
    includes = [p.split(".") for p in paths if not p.startswith("-")]
    excludes = [p[1:].split(".") for p in paths if p.startswith("-")]
    if includes:
        body = _keep(body, includes)
        if body is _GONE:
            body = {}
    if excludes:
        body = _drop(body, excludes)
    return body


def _expand(paths: list[list[str]]) -> list[list[str]]:
    """``**`` matches zero segments too: add each path with its leading ``**`` removed."""
    out = list(paths)
    for p in paths:
        while p and p[0] == "**":
            p = p[1:]
            out.append(p)
    return out


def _advance(key: str, paths: list[list[str]]) -> list[list[str]]:
    nxt: list[list[str]] = []
    for p in paths:
        if not p:
            continue
        if p[0] == "**":
            nxt.append(p)
        elif p[0] == key or fnmatch.fnmatchcase(key, p[0]):
            nxt.append(p[1:])
    return nxt


def _keep(node: Any, paths: list[list[str]]) -> Any:
    paths = _expand(paths)
    if any(not p for p in paths):
        return node
    if isinstance(node, list):
        items = [_keep(item, paths) for item in node]
        kept = [item for item in items if item is not _GONE]
        return kept if kept else _GONE
    if not isinstance(node, dict):
        return _GONE
    out = {}
    for key, value in node.items():
        child = _advance(key, paths)
        if child:
            kept = _keep(value, child)
            if kept is not _GONE:
                out[key] = kept
    return out if out else _GONE


def _drop(node: Any, paths: list[list[str]]) -> Any:
    paths = _expand(paths)
    if isinstance(node, list):
        return [_drop(item, paths) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        child = _advance(key, paths)
        if any(not p for p in child):
            continue
        out[key] = _drop(value, child) if child else value
    return out
