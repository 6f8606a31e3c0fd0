"""Mappings for the Elasticsearch-compatible server: field types, value normalisation, dates, ``_source`` filtering.

Values are normalised once, when a document is indexed: dates to epoch milliseconds (``int``), integers to
``int``, floating types to ``float``, keywords to ``str``, text stays ``str`` (tokenised on demand).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import struct
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from devstack.search import errors

INT_TYPES = frozenset({"long", "integer", "short", "byte", "unsigned_long"})
FLOAT_TYPES = frozenset({"double", "float", "half_float", "scaled_float"})
NUMERIC_TYPES = INT_TYPES | FLOAT_TYPES
SORTABLE_TYPES = NUMERIC_TYPES | {"date", "date_nanos", "keyword", "boolean", "constant_keyword", "wildcard"}
KEYWORD_TYPES = frozenset({"keyword", "constant_keyword", "wildcard"})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
DEFAULT_IGNORE_ABOVE = 256

_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d{1,9})?)?)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_DETECT_DATE = re.compile(
    r"^\d{4}[-/]\d{2}[-/]\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_DATE_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
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


def millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


@functools.lru_cache(maxsize=4096)
def _day_millis(day: str) -> int:
    return (date.fromisoformat(day) - EPOCH.date()).days * 86_400_000


def _fast_iso(text: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the common case) without regex or datetime objects; ``None`` otherwise."""
    if len(text) != 24 or text[10] != "T" or text[23] != "Z" or text[19] != "." or text[13] != ":":
        return None
    hh, mm, ss, ms = text[11:13], text[14:16], text[17:19], text[20:23]
    if text[16] != ":" or not (hh.isdigit() and mm.isdigit() and ss.isdigit() and ms.isdigit()):
        return None
    h, m, sec = int(hh), int(mm), int(ss)
    if h > 23 or m > 59 or sec > 59 or not _ISO_DAY.match(text[:10]):
        return None
    return _day_millis(text[:10]) + h * 3_600_000 + m * 60_000 + sec * 1000 + int(ms)


def parse_iso(text: str) -> int:
    fast = _fast_iso(text)
    if fast is not None:
        return fast
    if not _ISO_DATE.match(text):
        raise ValueError(text)
    normalized = text.replace(" ", "T", 1) if " " in text else text
    if normalized.endswith(("z", "Z")):
        normalized = normalized[:-1] + "+00:00"
    if "," in normalized:
        normalized = normalized.replace(",", ".")
    fraction = re.search(r"\.(\d+)", normalized)
    if fraction and len(fraction.group(1)) not in (3, 6):
        digits = (fraction.group(1) + "000000")[:6]
        normalized = normalized[: fraction.start(1)] + digits + normalized[fraction.end(1) :]
    return millis(datetime.fromisoformat(normalized))


def parse_date(value: Any, fmt: str | None = None) -> int:
    """A date value → epoch millis, per ``fmt`` (default ``strict_date_optional_time||epoch_millis``)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if fmt is None:  # the default strict_date_optional_time||epoch_millis, fast
        if isinstance(value, str):
            fast = _fast_iso(value)
            if fast is not None:
                return fast
        elif isinstance(value, int):
            return value
    formats = [f.strip() for f in (fmt or "strict_date_optional_time||epoch_millis").split("||")]
    last_error: Exception | None = None
    for one in formats:
        try:
            if one in ("epoch_millis", "epoch_second"):
                if isinstance(value, (int, float)):
                    number = value
                elif isinstance(value, str) and _NUMBER.match(value):
                    number = float(value) if "." in value else int(value)
                else:
                    raise ValueError(value)
                return int(number * 1000) if one == "epoch_second" else int(number)
            if not isinstance(value, str):
                raise ValueError(value)
            return parse_iso(value)
        except (ValueError, TypeError, OverflowError) as error:
            last_error = error
    raise ValueError(str(last_error))


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


_FRACTION = re.compile(r"[T ]\d{2}:?\d{2}:?\d{2}[.,](\d{1,9})")
NANOS_PER_MS = 1_000_000
MAX_NANOS = LONG_MAX  # 2262-04-11T23:47:16.854775807Z


def parse_date_nanos(value: Any, fmt: str | None = None) -> int:
    """A ``date_nanos`` value → epoch nanoseconds; refused before 1970 and after 2262 like Elasticsearch."""
    nanos = _date_nanos(value, fmt)
    if nanos < 0:
        raise ValueError(f"date[{value}] is before the epoch in 1970 and cannot be stored in nanosecond resolution")
    if nanos > MAX_NANOS:
        raise ValueError(f"date[{value}] is after 2262-04-11T23:47:16.854775807 and cannot be stored in nanosecond")
    return nanos


def _date_nanos(value: Any, fmt: str | None) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    formats = [f.strip() for f in (fmt or "strict_date_optional_time||epoch_millis").split("||")]
    last_error: Exception | None = None
    for one in formats:
        try:
            if one in ("epoch_millis", "epoch_second"):
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise ValueError(value)
                if isinstance(value, str) and not _NUMBER.match(value):
                    raise ValueError(value)
                number = Decimal(str(value))
                return int(number * (NANOS_PER_MS if one == "epoch_millis" else 1_000_000_000))
            if not isinstance(value, str):
                raise ValueError(value)
            whole_ms = parse_iso(value)
            fraction = _FRACTION.search(value)
            below_ms = int((fraction.group(1) + "000000000")[3:9]) if fraction else 0
            return whole_ms * NANOS_PER_MS + below_ms
        except (ValueError, TypeError, OverflowError, ArithmeticError) as error:
            last_error = error
    raise ValueError(str(last_error))


def format_date_nanos(nanos: int, fmt: str) -> str:
    """Epoch nanoseconds as an ISO string: nine fraction digits for ``*_nanos`` formats, else milliseconds."""
    moment = EPOCH + timedelta(microseconds=nanos // 1000)
    head = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if "nanos" in fmt:
        return f"{head}.{nanos % 1_000_000_000:09d}Z"
    return f"{head}.{nanos % 1_000_000_000 // NANOS_PER_MS:03d}Z"


_UNIT_MS = {"w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "H": 3_600_000, "m": 60_000, "s": 1000}


def _round_down(ms: int, unit: str) -> int:
    if unit in _UNIT_MS:
        return ms - ms % _UNIT_MS[unit] if unit != "w" else ms - (ms + 3 * 86_400_000) % _UNIT_MS["w"]
    moment = EPOCH + timedelta(milliseconds=ms)
    if unit == "M":
        return millis(moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    return millis(moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0))


def _add(ms: int, sign: int, amount: int, unit: str) -> int:
    if unit in _UNIT_MS:
        return ms + sign * amount * _UNIT_MS[unit]
    moment = EPOCH + timedelta(milliseconds=ms)
    months = moment.year * 12 + moment.month - 1 + sign * amount * (12 if unit == "y" else 1)
    return millis(moment.replace(year=months // 12, month=months % 12 + 1))


def parse_date_query(value: Any, fmt: str | None, round_up: bool = False) -> int:
    """A range bound: a date, epoch millis, or date math (``now-1d/d``, ``2024-10-01||+1M``)."""
    if isinstance(value, str) and (value.startswith("now") or ("||" in value and not fmt)):
        if value.startswith("now"):
            base, expr = int(time.time() * 1000), value[3:]
        else:
            anchor, expr = value.split("||", 1)
            base = parse_date(anchor, fmt)
        for sign, amount, unit, rounding in _DATE_MATH.findall(expr):
            if rounding:
                down = _round_down(base, rounding)
                base = _add(down, 1, 1, rounding) - 1 if round_up else down
            else:
                base = _add(base, 1 if sign == "+" else -1, int(amount), unit)
        return base
    return parse_date(value, fmt)


def parse_date_nanos_query(value: Any, fmt: str | None, round_up: bool = False) -> int:
    """A ``date_nanos`` bound: date math is resolved in milliseconds, explicit dates keep their nanoseconds."""
    if isinstance(value, str) and (value.startswith("now") or ("||" in value and not fmt)):
        ms = parse_date_query(value, fmt, round_up)
        return ms * NANOS_PER_MS + (NANOS_PER_MS - 1 if round_up and "/" in value else 0)
    return _date_nanos(value, fmt)


def looks_like_date(value: str) -> bool:
    return bool(_DETECT_DATE.match(value))


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
