"""Query DSL, sorting and ``search_after`` for the Elasticsearch-compatible server.

A query compiles, per index snapshot, into a :class:`Query`: a predicate over ordinals plus, where cheap, a
sorted candidate list (``term``/``terms``/``ids``) and the range bounds of its required clauses. Hits are then
produced lazily in sort order: along the primary sort field's sorted array (bisected by the range bounds and
``search_after``), or over candidates, so a page costs O(log n + page) rather than a scan.
"""

from __future__ import annotations

import bisect
import fnmatch
from collections.abc import Callable, Iterator
from typing import Any

from devstack.search import errors
from devstack.search.dates import parse_date_nanos_query, parse_date_query
from devstack.search.mapping import FLOAT_TYPES, INT_TYPES, KEYWORD_TYPES, FieldType, json_scalar, to_precision, tokens
from devstack.search.query_string import lucene_query
from devstack.search.store import Snapshot
from devstack.search.validation import check_query_keys, not_supported

Bounds = tuple[Any, bool, Any, bool]  # (lo, lo_inclusive, hi, hi_inclusive); None = open


class Query:
    """A compiled query for one snapshot."""

    __slots__ = ("cands", "match_all", "pred", "pure", "ranges", "score")

    def __init__(
        self,
        pred: Callable[[int], bool],
        cands: Callable[[], list[int]] | None = None,
        ranges: dict[str, Bounds] | None = None,
        *,
        match_all: bool = False,
        pure: tuple[str, Bounds] | None = None,
        score: float = 1.0,
    ) -> None:
        self.pred = pred
        self.cands = cands
        self.ranges = ranges or {}
        self.match_all = match_all
        self.pure = pure  # the whole query is this single range on a single-valued sortable field
        self.score = score


def _true(_: int) -> bool:
    return True


def _false(_: int) -> bool:
    return False


NOTHING = Query(_false, list, score=0.0)


def _single(query: Any, what: str = "query") -> tuple[str, Any]:
    if not isinstance(query, dict) or len(query) != 1:
        raise errors.parsing(f"[{what}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
    return next(iter(query.items()))


def _field_and_spec(body: Any, kind: str) -> tuple[str, Any]:
    if not isinstance(body, dict):
        raise errors.parsing(f"[{kind}] query malformed, no start_object after query name")
    items = [(k, v) for k, v in body.items() if k not in ("boost", "_name")]
    if len(items) != 1:
        raise errors.parsing(f"[{kind}] query doesn't support multiple fields, found [{', '.join(body)}]")
    return items[0]


def to_field_value(
    ft: FieldType, value: Any, *, fmt: str | None = None, round_up: bool = False, exact: bool = False
) -> Any:
    """A query value → the indexed representation of ``ft``; raise a 400 like Elasticsearch on bad input.

    ``exact`` (term queries): a ``half_float`` value is rounded to 16 bits like the indexed values; range bounds of
    ``float``/``half_float`` fields are compared as 32-bit floats (NumberFieldMapper's rangeQuery).
    """
    try:
        if ft.type == "date":
            return parse_date_query(value, fmt or ft.format, round_up)
        if ft.type == "date_nanos":
            return parse_date_nanos_query(value, fmt or ft.format, round_up)
        if ft.type in INT_TYPES:
            number = float(value) if isinstance(value, str) else value
            return int(number) if float(number).is_integer() else float(number)
        if ft.type in ("float", "half_float"):
            return to_precision(ft.type if exact else "float", float(value))
        if ft.type in FLOAT_TYPES:
            return float(value)
        if ft.type == "boolean":
            return value if isinstance(value, bool) else str(value) == "true"
        return value if isinstance(value, str) else json_scalar(value)
    except (ValueError, TypeError, OverflowError) as error:
        kind = "date" if ft.type.startswith("date") else ft.type
        raise errors.EsError(
            400,
            "query_shard_exception",
            f"failed to create query: failed to parse {kind} field [{value}] with format "
            f"[{fmt or ft.format or 'strict_date_optional_time||epoch_millis'}]",
        ) from error


class Compiler:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.index = snap.index

    def compile(self, query: Any) -> Query:
        if query is None or query == {}:
            return Query(_true, match_all=True)
        kind, body = _single(query)
        method = getattr(self, "q_" + kind, None)
        if method is None:
            raise errors.parsing(f"unknown query [{kind}]")
        check_query_keys(kind, body)
        return method(body)

    # --- leaves ----------------------------------------------------------------------------------------------

    def q_match_all(self, body: Any) -> Query:
        return Query(_true, match_all=True)

    def q_match_none(self, body: Any) -> Query:
        return NOTHING

    def _column(self, field: str) -> tuple[FieldType | None, Any]:
        ft = self.index.fields.get(field)
        return ft, (self.index.columns.get(field) if ft else None)

    def _slice(self, field: str, bounds: Bounds) -> tuple[list[int], int, int]:
        sf = self.snap.sorted_field(field)
        lo, lo_inc, hi, hi_inc = bounds
        start = 0 if lo is None else (bisect.bisect_left if lo_inc else bisect.bisect_right)(sf.keys, lo)
        end = len(sf.keys) if hi is None else (bisect.bisect_right if hi_inc else bisect.bisect_left)(sf.keys, hi)
        return sf.ords, start, max(start, end)

    def _indexed(self, ft: FieldType) -> bool:
        return ft.sortable and ft.name not in self.index.multi

    def _term_query(self, field: str, values: list[Any]) -> Query:
        if field == "_id":
            return self.q_ids({"values": values})
        if field == "_index":
            hit = any(str(v) == self.index.name or fnmatch.fnmatchcase(self.index.name, str(v)) for v in values)
            return Query(_true, match_all=True) if hit else NOTHING
        ft, column = self._column(field)
        if ft is None or column is None:
            return NOTHING
        if ft.type in ("text", "match_only_text"):
            wanted = {str(v) for v in values}
            return Query(lambda o: _text_has(column[o], wanted))
        wanted_values = {to_field_value(ft, v, exact=True) for v in values}
        if len(wanted_values) == 1:
            only = next(iter(wanted_values))

            def pred(o: int) -> bool:
                v = column[o]
                return v == only or (isinstance(v, tuple) and only in v)
        else:

            def pred(o: int) -> bool:
                v = column[o]
                if isinstance(v, tuple):
                    return any(x in wanted_values for x in v)
                return v in wanted_values

        if not self._indexed(ft):
            return Query(pred)

        def cands() -> list[int]:
            found: list[int] = []
            for value in wanted_values:
                ords, start, end = self._slice(field, (value, True, value, True))
                found.extend(ords[start:end])
            found.sort()
            return found

        pure = (field, (only, True, only, True)) if len(wanted_values) == 1 else None
        return Query(pred, cands, pure=pure)

    def q_term(self, body: Any) -> Query:
        field, spec = _field_and_spec(body, "term")
        value = spec.get("value") if isinstance(spec, dict) else spec
        if isinstance(spec, dict) and "value" not in spec:
            raise errors.parsing("[term] query does not support [" + ", ".join(spec) + "]")
        return self._term_query(field, [value])

    def q_terms(self, body: Any) -> Query:
        field, values = _field_and_spec(body, "terms")
        if isinstance(values, dict):
            raise not_supported("terms lookup")
        if not isinstance(values, list):
            raise errors.parsing(f"[terms] query does not support [{field}]")
        limit = self.index.max_terms_count
        if len(values) > limit:
            raise errors.search_phase(
                errors.illegal_argument(
                    f"The number of terms [{len(values)}] used in the Terms Query request has exceeded the allowed "
                    f"maximum of [{limit}]. This maximum can be set by changing the [index.max_terms_count] index "
                    "level setting."
                ),
                self.index.name,
            )
        return self._term_query(field, values)

    def q_ids(self, body: Any) -> Query:
        values = [str(v) for v in body.get("values", [])]
        wanted = set(values)
        ids = self.index.ids
        if self.snap.gen == self.index.gen:  # the id map is current: direct lookup
            id_to_ord = self.index.id_to_ord
            found = sorted(o for o in (id_to_ord.get(v) for v in wanted) if o is not None)
            return Query(lambda o: ids[o] in wanted, lambda: found)
        return Query(lambda o: ids[o] in wanted)

    def q_range(self, body: Any) -> Query:
        field, spec = _field_and_spec(body, "range")
        ft, column = self._column(field)
        if ft is None or column is None:
            return NOTHING
        fmt = spec.get("format")
        lo = hi = None
        lo_inc = hi_inc = True
        for key, value in spec.items():
            if value is None:
                continue
            if key in ("gte", "from"):
                lo, lo_inc = to_field_value(ft, value, fmt=fmt), key == "gte" or spec.get("include_lower", True)
            elif key == "gt":
                lo, lo_inc = to_field_value(ft, value, fmt=fmt, round_up=True), False
            elif key in ("lte", "to"):
                hi, hi_inc = (
                    to_field_value(ft, value, fmt=fmt, round_up=True),
                    key == "lte" or spec.get("include_upper", True),
                )
            elif key == "lt":
                hi, hi_inc = to_field_value(ft, value, fmt=fmt), False
            elif key not in ("format", "boost", "time_zone", "relation", "_name", "include_lower", "include_upper"):
                raise errors.parsing(f"[range] query does not support [{key}]")
        bounds: Bounds = (lo, lo_inc, hi, hi_inc)

        def inside(v: Any) -> bool:
            if lo is not None and (v < lo or (v == lo and not lo_inc)):
                return False
            return not (hi is not None and (v > hi or (v == hi and not hi_inc)))

        def pred(o: int) -> bool:
            v = column[o]
            if v is None:
                return False
            if isinstance(v, tuple):
                return any(inside(x) for x in v)
            return inside(v)

        if not self._indexed(ft):
            return Query(pred)

        def cands() -> list[int]:
            ords, start, end = self._slice(field, bounds)
            return sorted(ords[start:end])

        return Query(pred, cands, {field: bounds}, pure=(field, bounds))

    def q_exists(self, body: Any) -> Query:
        field = body.get("field")
        columns = [c for name, c in self.index.columns.items() if name == field or name.startswith(f"{field}.")]
        if field in ("_id", "_index"):
            return Query(_true, match_all=True)
        if not columns:
            return NOTHING
        return Query(lambda o: any(c[o] is not None for c in columns))

    def q_match(self, body: Any) -> Query:
        field, spec = _field_and_spec(body, "match")
        text = spec.get("query") if isinstance(spec, dict) else spec
        operator = str(spec.get("operator", "or")).lower() if isinstance(spec, dict) else "or"
        ft, column = self._column(field)
        if field == "_id":
            return self.q_ids({"values": [text]})
        if ft is None or column is None:
            return NOTHING
        if ft.type not in ("text", "match_only_text"):
            return self._term_query(field, [text])
        wanted = set(tokens(str(text)))
        if not wanted:
            return NOTHING
        if operator == "and":
            return Query(lambda o: _text_all(column[o], wanted))
        return Query(lambda o: _text_has(column[o], wanted))

    def q_match_phrase(self, body: Any) -> Query:
        field, spec = _field_and_spec(body, "match_phrase")
        text = spec.get("query") if isinstance(spec, dict) else spec
        ft, column = self._column(field)
        if ft is None or column is None:
            return NOTHING
        phrase = " ".join(tokens(str(text)))
        return Query(lambda o: _values(column[o], lambda v: phrase in " ".join(tokens(str(v)))))

    def q_prefix(self, body: Any) -> Query:
        field, spec = _field_and_spec(body, "prefix")
        value = str(spec.get("value") if isinstance(spec, dict) else spec)
        ft, column = self._column(field)
        if field == "_id":
            ids = self.index.ids
            return Query(lambda o: ids[o].startswith(value))
        if ft is None or column is None:
            return NOTHING
        return Query(lambda o: _values(column[o], lambda v: str(v).startswith(value)))

    def q_wildcard(self, body: Any) -> Query:
        field, spec = _field_and_spec(body, "wildcard")
        value = str(spec.get("value", spec.get("wildcard")) if isinstance(spec, dict) else spec)
        insensitive = isinstance(spec, dict) and spec.get("case_insensitive") is True
        return self._wildcard(field, value.lower() if insensitive else value, insensitive)

    def _wildcard(self, field: str, pattern: str, insensitive: bool = False) -> Query:
        ft, column = self._column(field)
        if ft is None or column is None:
            return NOTHING
        if ft.type in ("text", "match_only_text"):  # a text field's terms are its lower-cased tokens
            return Query(
                lambda o: _values(column[o], lambda v: any(fnmatch.fnmatchcase(t, pattern) for t in tokens(v)))
            )
        if insensitive:
            return Query(lambda o: _values(column[o], lambda v: fnmatch.fnmatchcase(str(v).lower(), pattern)))
        return Query(lambda o: _values(column[o], lambda v: fnmatch.fnmatchcase(str(v), pattern)))

    def q_query_string(self, body: Any) -> Query:
        """The ``q=`` subset of the Lucene syntax: terms, ``field:term``, ``field:(a OR b)``, ``"phrases"``,
        ``*``/``?`` wildcards, ``AND``/``OR`` (``default_operator`` between bare terms), ``field:*``."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise errors.parsing("[query_string] requires 'query' field")
        for key in body:
            if key not in ("query", "default_field", "default_operator", "boost", "_name"):
                raise not_supported(f"query_string.{key}")
        operator = str(body.get("default_operator", "or")).lower()
        if operator not in ("and", "or"):
            raise errors.illegal_argument(f"No enum constant org.elasticsearch.index.query.Operator.{operator.upper()}")
        default_field = str(body.get("default_field", "*"))
        query = lucene_query(body["query"], default_field, operator, self._field_kind, self.searchable_fields())
        return self.compile(query)

    def _field_kind(self, field: str) -> str | None:
        ft = self.index.fields.get(field)
        if ft is None:
            return None
        if ft.type in ("text", "match_only_text"):
            return "text"
        return "keyword" if ft.type in KEYWORD_TYPES else "other"

    def searchable_fields(self) -> list[str]:
        return [name for name, ft in self.index.fields.items() if ft.type in KEYWORD_TYPES or ft.type == "text"]

    def q_constant_score(self, body: Any) -> Query:
        inner = self.compile(body.get("filter"))
        return Query(
            inner.pred,
            inner.cands,
            inner.ranges,
            match_all=inner.match_all,
            pure=inner.pure,
            score=float(body.get("boost", 1.0)),
        )

    # --- bool -------------------------------------------------------------------------------------------------

    def q_bool(self, body: Any) -> Query:
        def clauses(name: str) -> list[Query]:
            raw = body.get(name) or []
            return [self.compile(c) for c in (raw if isinstance(raw, list) else [raw])]

        must, filters, should, must_not = clauses("must"), clauses("filter"), clauses("should"), clauses("must_not")
        required = must + filters
        minimum = _minimum_should_match(body.get("minimum_should_match"), len(should), bool(required))
        if not required and not should and not must_not:
            return Query(_true, match_all=True, score=1.0)
        preds = [q.pred for q in required if not q.match_all]
        negs = [q.pred for q in must_not]
        should_preds = [q.pred for q in should]

        def pred(o: int) -> bool:
            for p in preds:
                if not p(o):
                    return False
            for p in negs:
                if p(o):
                    return False
            if minimum:
                hits = 0
                for p in should_preds:
                    if p(o):
                        hits += 1
                        if hits >= minimum:
                            return True
                return False
            return True

        ranges: dict[str, Bounds] = {}
        for q in required:
            for field, bounds in q.ranges.items():
                ranges[field] = _intersect(ranges[field], bounds) if field in ranges else bounds
        with_cands = [q.cands for q in required if q.cands is not None]
        cands: Callable[[], list[int]] | None = None
        if with_cands:
            cheapest = [q.cands for q in required if q.cands is not None and q.pure is None] or with_cands
            cands = cheapest[0]
        elif should and minimum and all(q.cands is not None for q in should):
            parts = [q.cands for q in should]

            def cands() -> list[int]:
                return sorted({o for part in parts for o in part()})  # type: ignore[misc]

        pure = None
        if len(required) == 1 and not should and not must_not and required[0].pure is not None:
            pure = required[0].pure
        scoring = bool(must or should)
        only_all = not must_not and not should and all(q.match_all for q in required)
        return Query(pred, cands, ranges, match_all=only_all, pure=pure, score=1.0 if scoring else 0.0)


def _minimum_should_match(raw: Any, count: int, has_required: bool) -> int:
    if raw is None:
        return 0 if has_required or count == 0 else 1
    text = str(raw).strip()
    if text.endswith("%"):
        percent = int(text[:-1])
        value = count * abs(percent) // 100
        value = count - value if percent < 0 else value
    else:
        value = int(text)
        value = count + value if value < 0 else value
    return max(0, min(value, count)) if count else 0


def _intersect(a: Bounds, b: Bounds) -> Bounds:
    lo, lo_inc, hi, hi_inc = a
    if b[0] is not None and (lo is None or b[0] > lo or (b[0] == lo and not b[1])):
        lo, lo_inc = b[0], b[1]
    if b[2] is not None and (hi is None or b[2] < hi or (b[2] == hi and not b[3])):
        hi, hi_inc = b[2], b[3]
    return lo, lo_inc, hi, hi_inc


def _values(value: Any, test: Callable[[Any], bool]) -> bool:
    if value is None:
        return False
    if isinstance(value, tuple):
        return any(test(v) for v in value)
    return test(value)


def _any_token(text: Any, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(t, pattern) for t in tokens(str(text)))


def _text_has(value: Any, wanted: set[str]) -> bool:
    return _values(value, lambda v: not wanted.isdisjoint(tokens(v)))


def _text_all(value: Any, wanted: set[str]) -> bool:
    return _values(value, lambda v: wanted.issubset(tokens(v)))


def compile_query(snap: Snapshot, query: Any) -> Query:
    return Compiler(snap).compile(query)


def count(snap: Snapshot, q: Query, limit: int | None = None) -> int:
    """Matching visible documents (stops at ``limit``)."""
    if q.match_all:
        return snap.live if limit is None else min(snap.live, limit)
    if q.pure is not None:
        field, bounds = q.pure
        _, start, end = Compiler(snap)._slice(field, bounds)
        return end - start if limit is None else min(end - start, limit)
    total = 0
    for o in iter_candidates(snap, q):
        if q.pred(o):
            total += 1
            if limit is not None and total >= limit:
                break
    return total


def iter_candidates(snap: Snapshot, q: Query, start: int = 0, reverse: bool = False) -> Iterator[int]:
    """Visible ordinals that may match ``q``, in ord order (from ``start``; descending from it when ``reverse``)."""
    if q.cands is not None:
        found = q.cands()
        if reverse:
            end = bisect.bisect_right(found, start)
            return (o for o in reversed(found[:end]) if snap.visible(o))
        first = bisect.bisect_left(found, start)
        return (o for o in found[first:] if snap.visible(o))
    if reverse:
        return (o for o in range(min(start, snap.length - 1), -1, -1) if snap.visible(o))
    return iter(snap.ords(start))
