"""Dates for the Elasticsearch-compatible server: parsing (formats, date math), ``date_nanos``, formatting.

``date`` values are epoch milliseconds, ``date_nanos`` values epoch nanoseconds (1970 to 2262, like the engines).
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)

_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d{1,9})?)?)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_DETECT_DATE = re.compile(
    r"^\d{4}[-/]\d{2}[-/]\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_DATE_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")


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
