"""Sorting, sort values and ``search_after`` for the Elasticsearch-compatible server.

Every hit gets an internal key: one component per sort clause (encoded so that plain tuple comparison gives the
requested order, missing values last unless ``missing: _first``) followed by a global document number
``(index position << 32) | ordinal`` — the value Elasticsearch reports for ``_shard_doc`` — which makes keys
unique so hits from several indices merge deterministically.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from devstack.search import errors
from devstack.search.dates import EPOCH, LONG_MAX, LONG_MIN, format_date_nanos, parse_date, parse_date_nanos
from devstack.search.mapping import NUMERIC_TYPES, FieldType, to_precision
from devstack.search.query import Query, iter_candidates
from devstack.search.store import Snapshot

DOC_MASK = (1 << 32) - 1
_NEVER = object()
MISSING_LAST = (1, 0)
MISSING_FIRST = (0, 0)


class Desc:
    """Reverses the order of a non-numeric value."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: Desc) -> bool:
        return other.v < self.v

    def __gt__(self, other: Desc) -> bool:
        return other.v > self.v

    def __le__(self, other: Desc) -> bool:
        return other.v <= self.v

    def __ge__(self, other: Desc) -> bool:
        return other.v >= self.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and other.v == self.v

    def __hash__(self) -> int:
        return hash(self.v)


@dataclass(frozen=True)
class SortDialect:
    """Where the engines the server imitates sort differently."""

    id_sort: bool = False  # OpenSearch 2.x/3.x sorts on _id; Elasticsearch 8+ refuses (no fielddata on _id)
    shard_doc: bool = True  # _shard_doc: Elasticsearch 7.12+, OpenSearch 3.3+
    implicit_tiebreaker: bool = True  # Elasticsearch appends _shard_doc to every point-in-time sort
    shard_doc_needs_pit: bool = False  # OpenSearch 3.3+ refuses _shard_doc outside a point in time; ES 8.19+ allows it


ELASTICSEARCH = SortDialect()


class SortClause:
    __slots__ = ("desc", "display_format", "field", "ft", "kind", "missing_first")

    def __init__(self, kind: str, field: str = "", desc: bool = False) -> None:
        self.kind = kind  # "field" | "doc" | "score" | "index" | "id"
        self.field = field
        self.desc = desc
        self.missing_first = False
        self.ft: FieldType | None = None
        self.display_format: str | None = None


def parse_sort(raw: Any) -> list[tuple[str, dict[str, Any]]]:
    """``sort`` (body or ``a:desc,b`` query string) → ``[(field, options)]``."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if isinstance(item, str):
            for part in item.split(",") if "," in item else [item]:
                field, _, order = part.partition(":")
                out.append((field, {"order": order} if order else {}))
        elif isinstance(item, dict):
            for field, spec in item.items():
                out.append((field, dict(spec) if isinstance(spec, dict) else {"order": spec}))
        else:
            raise errors.parsing(f"[sort] unsupported value [{item}]")
    return out


def build_clauses(
    snap: Snapshot,
    sort: list[tuple[str, dict[str, Any]]],
    mapped_somewhere: set[str],
    with_pit: bool,
    dialect: SortDialect = ELASTICSEARCH,
    search_after: list[Any] | None = None,
) -> list[SortClause]:
    index = snap.index
    clauses: list[SortClause] = []
    for field, options in sort:
        order = str(options.get("order", "")).lower()
        if field == "_score":
            clause = SortClause("score", desc=order != "asc")
        elif field == "_doc" or (field == "_shard_doc" and dialect.shard_doc):
            clause = SortClause("doc", desc=order == "desc")
        elif field == "_shard_doc":
            raise errors.no_mapping_for_sort(index.name, field)
        elif field == "_id" and dialect.id_sort:
            clause = SortClause("id", desc=order == "desc")
        elif field == "_id":
            raise errors.id_fielddata(index.name)
        elif field == "_index":
            clause = SortClause("index", desc=order == "desc")
        else:
            clause = SortClause("field", field, desc=order == "desc")
            ft = index.fields.get(field)
            if ft is None and field not in mapped_somewhere and "unmapped_type" not in options:
                raise errors.no_mapping_for_sort(index.name, field)
            if ft is not None and ft.type in ("text", "match_only_text"):
                raise errors.text_fielddata(index.name, field)
            clause.ft = ft
            clause.missing_first = options.get("missing") == "_first"
            clause.display_format = options.get("format")
        clauses.append(clause)
    if not clauses:
        clauses.append(SortClause("score", desc=True))
    # Elasticsearch's implicit _shard_doc tiebreaker of point-in-time searches (SearchRequest.rewrite): added to a
    # requested sort that does not already end with _shard_doc, unless search_after carries one value per sort.
    tiebreak = bool(sort) and sort[-1][0] != "_shard_doc"
    if search_after is not None and len(search_after) != len(sort) + 1:
        tiebreak = False
    if with_pit and dialect.implicit_tiebreaker and tiebreak:
        clauses.append(SortClause("doc"))
    return clauses


def _neg(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return -value
    if isinstance(value, bool):
        return -int(value)
    return Desc(value)


def make_key(snap: Snapshot, position: int, clauses: list[SortClause], score: float) -> Callable[[int], tuple]:
    """ord → internal sort key (clause components + the global doc number)."""
    base = position << 32
    parts: list[Callable[[int], Any]] = []
    for clause in clauses:
        if clause.kind == "doc":
            parts.append((lambda o: -(base | o)) if clause.desc else (lambda o: base | o))
        elif clause.kind == "score":
            parts.append(lambda o, s=(-score if clause.desc else score): s)
        elif clause.kind == "index":
            parts.append(_constant(Desc(snap.index.name) if clause.desc else snap.index.name))
        elif clause.kind == "id":
            ids = snap.index.ids
            parts.append((lambda o, ids=ids: Desc(ids[o])) if clause.desc else (lambda o, ids=ids: ids[o]))
        else:
            column = snap.index.columns.get(clause.field) if clause.ft is not None else None
            parts.append(_field_part(column, clause))

    def key(o: int) -> tuple:
        return (*[p(o) for p in parts], base | o)

    return key


def _constant(value: Any) -> Callable[[int], Any]:
    return lambda o: value


def _field_part(column: Any, clause: SortClause) -> Callable[[int], Any]:
    missing = MISSING_FIRST if clause.missing_first else MISSING_LAST
    present = 1 if clause.missing_first else 0
    desc = clause.desc
    if column is None:
        return lambda o: missing

    def part(o: int) -> Any:
        v = column[o]
        if v is None:
            return missing
        if isinstance(v, tuple):
            v = max(v) if desc else min(v)
        return (present, _neg(v) if desc else v)

    return part


def make_display(snap: Snapshot, position: int, clauses: list[SortClause], score: float) -> Callable[[int], list]:
    """ord → the ``sort`` values Elasticsearch puts on a hit (dates as epoch millis)."""
    base = position << 32
    parts: list[Callable[[int], Any]] = []
    for clause in clauses:
        if clause.kind == "doc":
            parts.append(lambda o: base | o)
        elif clause.kind == "score":
            parts.append(_constant(score))
        elif clause.kind == "index":
            parts.append(_constant(snap.index.name))
        elif clause.kind == "id":
            ids = snap.index.ids
            parts.append(lambda o, ids=ids: ids[o])
        else:
            column = snap.index.columns.get(clause.field) if clause.ft is not None else None
            parts.append(_display_part(column, clause))
    if len(parts) == 2:
        first, second = parts
        return lambda o: [first(o), second(o)]
    return lambda o: [p(o) for p in parts]


def _display_part(column: Any, clause: SortClause) -> Callable[[int], Any]:
    ft = clause.ft
    numeric = ft is not None and (ft.type in NUMERIC_TYPES or ft.type.startswith("date"))
    missing = (LONG_MIN if clause.desc else LONG_MAX) if numeric else None
    if column is None:
        return _constant(missing)
    as_date = bool(clause.display_format) and ft is not None and ft.type.startswith("date")
    as_nanos = as_date and ft is not None and ft.type == "date_nanos"
    fmt = clause.display_format or ""
    desc = clause.desc

    def part(o: int) -> Any:
        v = column[o]
        if v is None:
            return missing
        if isinstance(v, tuple):
            v = max(v) if desc else min(v)
        if isinstance(v, bool):
            return int(v)
        if as_nanos:
            return format_date_nanos(v, fmt)
        if as_date:
            return (EPOCH + timedelta(milliseconds=v)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return v

    return part


def after_key(clauses: list[SortClause], values: list[Any], score: float, index: str | None = None) -> tuple:
    """``search_after`` values → the (prefix) internal key hits must be greater than."""
    if len(values) != len(clauses):
        raise errors.illegal_argument(f"search_after has {len(values)} value(s) but sort has {len(clauses)}.")
    key: list[Any] = []
    for clause, value in zip(clauses, values, strict=True):
        if clause.kind == "doc":
            g = int(value)
            key.append(-g if clause.desc else g)
        elif clause.kind == "score":
            s = float(value) if value is not None else score
            key.append(-s if clause.desc else s)
        elif clause.kind in ("index", "id"):
            key.append(Desc(str(value)) if clause.desc else str(value))
        else:
            key.append(_after_field(clause, value, index))
    return tuple(key)


def _after_field(clause: SortClause, value: Any, index: str | None = None) -> Any:
    missing = MISSING_FIRST if clause.missing_first else MISSING_LAST
    ft = clause.ft
    if value is None or ft is None:
        return missing
    numeric = ft.type in NUMERIC_TYPES or ft.type.startswith("date")
    if numeric and value == (LONG_MIN if clause.desc else LONG_MAX) and isinstance(value, int):
        return missing
    if ft.type.startswith("date") and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        v: Any = _after_date(clause, ft, value, index)
        present = 1 if clause.missing_first else 0
        return (present, _neg(v) if clause.desc else v)
    try:
        if ft.type.startswith("date"):
            v = int(value)
        elif ft.type in ("float", "half_float"):
            # the comparator of both is Lucene's FLOAT: search_after values are narrowed to 32 bits
            v = to_precision("float", float(value))
        elif ft.type in NUMERIC_TYPES:
            v = value if isinstance(value, (int, float)) else float(value)
        elif ft.type == "boolean":
            v = bool(value) if not isinstance(value, str) else value == "true"
        else:
            v = str(value)
    except (TypeError, ValueError) as error:
        raise errors.illegal_argument(f"Failed to parse search_after value for field [{clause.field}].") from error
    present = 1 if clause.missing_first else 0
    return (present, _neg(v) if clause.desc else v)


def _after_date(clause: SortClause, ft: FieldType, value: Any, index: str | None) -> int:
    """A date ``search_after`` string, parsed with the sort's ``format`` (else the field's), like DocValueFormat."""
    fmt = clause.display_format or ft.format or "strict_date_optional_time||epoch_millis"
    try:
        if ft.type == "date_nanos":
            return parse_date_nanos(value, fmt)
        return parse_date(value, fmt)
    except (TypeError, ValueError, OverflowError) as error:
        reason = f"failed to parse date field [{value}] with format [{fmt}]"
        cause = errors.EsError(
            400,
            "parse_exception",
            reason,
            caused_by={"type": "illegal_argument_exception", "reason": str(error) or reason},
        )
        raise errors.search_phase(cause, index) from error


def ordered(
    snap: Snapshot,
    position: int,
    q: Query,
    clauses: list[SortClause],
    after: tuple | None,
    need_keys: bool = True,
) -> Iterator[tuple[tuple, int]]:
    """``(key, ord)`` of matching hits of one snapshot in sort order, strictly after ``after`` when given.

    With ``need_keys`` false (one index, no scroll) the cheap paths may yield ``(None, ord)``.
    """
    key = make_key(snap, position, clauses, q.score)
    lazy = None if need_keys else key
    n = len(after) if after is not None else 0
    primary = clauses[0]
    if primary.kind == "doc":
        yield from _doc_order(snap, position, q, primary, 0, after, key, n, lazy)
        return
    if primary.kind in ("score", "index") and len(clauses) == 1:  # constant per index: document order
        yield from _doc_order(snap, position, q, SortClause("doc"), 1, after, key, n, lazy)
        return
    if primary.kind == "field" and primary.ft is not None and primary.ft.sortable:
        yield from _field_order(snap, q, primary, after, key, n, lazy)
        return
    if primary.kind in ("score", "index") and clauses[1].kind == "doc":
        yield from _doc_order(snap, position, q, clauses[1], 1, after, key, n, lazy)
        return
    yield from _sorted_all(iter_candidates(snap, q), q, key, after, n)


def _sorted_all(ords: Any, q: Query, key: Callable[[int], tuple], after: tuple | None, n: int) -> Iterator:
    pred = q.pred
    keyed = [(key(o), o) for o in ords if pred(o)]
    if after is not None:
        keyed = [item for item in keyed if item[0][:n] > after]
    keyed.sort()
    yield from keyed


def _doc_order(
    snap: Snapshot,
    position: int,
    q: Query,
    clause: SortClause,
    doc_pos: int,
    after: tuple | None,
    key: Callable,
    n: int,
    lazy: Callable | None = None,
) -> Iterator[tuple[tuple, int]]:
    start = snap.length - 1 if clause.desc else 0
    if after is not None and n > doc_pos:
        g = -after[doc_pos] if clause.desc else after[doc_pos]
        after_position, after_ord = g >> 32, g & DOC_MASK
        if clause.desc:
            if position > after_position:
                return
            if position == after_position:
                start = min(start, after_ord)  # inclusive: ties on earlier clauses are settled by the key check
        else:
            if position < after_position:
                return
            if position == after_position:
                start = after_ord
    if start < 0:
        return
    pred = None if q.match_all else q.pred
    for o in iter_candidates(snap, q, start, reverse=clause.desc):
        if pred is None or pred(o):
            if after is None:
                yield (None if lazy is not None else key(o)), o
                continue
            k = key(o)
            if k[:n] > after:
                yield k, o
            else:
                continue
            after = None  # document order: everything further is after it too


def _field_order(
    snap: Snapshot,
    q: Query,
    clause: SortClause,
    after: tuple | None,
    key: Callable,
    n: int,
    lazy: Callable | None = None,
) -> Iterator[tuple[tuple, int]]:
    field, desc = clause.field, clause.desc
    sf = snap.sorted_field(field, desc)
    keys = sf.keys
    start, end = 0, len(keys)
    single = field not in snap.index.multi
    bounds = q.ranges.get(field) if single else None
    if bounds is not None:
        lo, lo_inc, hi, hi_inc = bounds
        if lo is not None:
            start = (bisect.bisect_left if lo_inc else bisect.bisect_right)(keys, lo)
        if hi is not None:
            end = max(start, (bisect.bisect_right if hi_inc else bisect.bisect_left)(keys, hi))
    skip_valued = False
    after_value: Any = _NEVER
    if after is not None:
        first = after[0]
        if clause.missing_first and first[0] == 0:
            pass  # after a missing value: every valued hit is still ahead
        elif not clause.missing_first and first == MISSING_LAST:
            skip_valued = True
        else:
            v = first[1].v if isinstance(first[1], Desc) else (-first[1] if desc else first[1])
            after_value = v
            if desc:
                end = min(end, bisect.bisect_right(keys, v))
            else:
                start = max(start, bisect.bisect_left(keys, v))
    candidates = q.cands() if q.cands is not None and q.pure is None else None
    if candidates is not None and len(candidates) * 4 < (end - start):
        yield from _sorted_all((o for o in candidates if snap.visible(o)), q, key, after, n)
        return
    missing_part = bounds is None and sf.missing
    if clause.missing_first and missing_part:
        yield from _sorted_all(sf.missing, q, key, after, n)
    if not skip_valued:
        exact = q.match_all or (bounds is not None and q.pure is not None and q.pure[0] == field)
        pred = None if exact else q.pred
        yield from _walk(sf.ords, keys, start, end, desc, pred, key, after, n, after_value, lazy is not None)
    if not clause.missing_first and missing_part:
        yield from _sorted_all(sf.missing, q, key, after, n)


def _walk(
    ords: list[int],
    keys: list[Any],
    start: int,
    end: int,
    desc: bool,
    pred: Callable | None,
    key: Callable,
    after: tuple | None,
    n: int,
    after_value: Any,
    lazy: bool = False,
) -> Iterator[tuple[tuple, int]]:
    """Walk positions [start, end) of a sorted array in order, sorting each run of equal keys by the full key.

    ``pred`` ``None``: every position matches. Only the first run can hold hits at or before ``after`` (the start
    was bisected to the ``search_after`` value), so later runs skip that comparison.
    """
    step = -1 if desc else 1
    pos = end - 1 if desc else start
    while start <= pos < end:
        value = keys[pos]
        if after is not None and value != after_value:
            after = None
        group_start = pos
        pos += step
        if not (start <= pos < end) or keys[pos] != value:  # a run of one: the common case
            o = ords[group_start]
            if pred is None or pred(o):
                if after is None:
                    yield (None if lazy else key(o)), o
                    continue
                k = key(o)
                if k[:n] > after:
                    yield k, o
            continue
        while start <= pos < end and keys[pos] == value:
            pos += step
        run = ords[group_start:pos] if not desc else ords[pos + 1 : group_start + 1]
        keyed = sorted((key(o), o) for o in run if pred is None or pred(o))
        for item in keyed:
            if after is None or item[0][:n] > after:
                yield item
