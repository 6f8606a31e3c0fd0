"""``_search``, ``_count``, point in time and scroll for the Elasticsearch-compatible server."""

from __future__ import annotations

import base64
import heapq
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from devstack.search import errors
from devstack.search.faults import FaultController
from devstack.search.mapping import filter_source, source_filter_spec
from devstack.search.query import Query, compile_query, count
from devstack.search.search_request import (
    COUNT_PARAM_KEYS,
    build_request,
    render_total_as_int,
    total_as_int_requested,
    track_limit,
)
from devstack.search.sort import (
    ELASTICSEARCH,
    SortClause,
    SortDialect,
    after_key,
    build_clauses,
    make_display,
    ordered,
    parse_sort,
)
from devstack.search.store import Snapshot, Store
from devstack.search.validation import (
    check_count_body,
    check_search_body,
    not_supported,
    parse_bool_param,
    parse_int_param,
    token_name,
)

DEFAULT_TRACK_TOTAL_HITS = 10_000
_TIME_VALUE = re.compile(r"^(-?\d+)(nanos|micros|ms|s|m|h|d)$")
_UNIT_S = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time_value(raw: Any, setting: str) -> float:
    """``1m`` → 60.0 seconds (Elasticsearch time units); 400 on anything else."""
    match = _TIME_VALUE.match(str(raw).strip())
    if not match:
        raise errors.illegal_argument(
            f"failed to parse setting [{setting}] with value [{raw}] as a time value: unit is missing or unrecognized"
        )
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1", "")


@dataclass
class Context:
    """A point in time or scroll: snapshots of its indices and when it expires (monotonic seconds)."""

    snapshots: list[Snapshot]
    expires_at: float
    # scroll only
    request: dict[str, Any] = field(default_factory=dict)
    last_key: tuple | None = None
    total: dict[str, Any] | None = None


def _new_id(prefix: bytes, counter: int) -> str:
    raw = prefix + counter.to_bytes(8, "big") + secrets.token_bytes(16)
    return base64.urlsafe_b64encode(raw).decode()


class SearchService:
    def __init__(self, store: Store, faults: FaultController, dialect: SortDialect = ELASTICSEARCH) -> None:
        self.store = store
        self.faults = faults
        self.dialect = dialect
        self.pits: dict[str, Context] = {}
        self.scrolls: dict[str, Context] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.pits.clear()
        self.scrolls.clear()

    def expire_all(self) -> None:
        self.pits.clear()
        self.scrolls.clear()

    # --- contexts ---------------------------------------------------------------------------------------------

    def open_pit(self, index_expr: str, params: dict[str, str]) -> dict[str, Any]:
        if "keep_alive" not in params:
            raise errors.validation("[keep_alive] is not specified")
        keep_alive = parse_time_value(params["keep_alive"], "keep_alive")
        indices = self.store.resolve(
            index_expr, ignore_unavailable=_bool(params.get("ignore_unavailable"), False), allow_no_indices=True
        )
        pit_id = _new_id(b"esc-pit\x00", next(self._ids))
        self.pits[pit_id] = Context([i.snapshot() for i in indices], time.monotonic() + keep_alive)
        shards = len(indices)
        return {"id": pit_id, "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0}}

    def close_pit(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        pit_id = (body or {}).get("id")
        if not pit_id:
            raise errors.validation("[id] is required")
        context = self.pits.pop(pit_id, None)
        freed = 1 if context is not None and context.expires_at > time.monotonic() else 0
        # Like ClearScrollResponse: nothing freed answers 404 with the same body.
        return (200 if freed else 404), {"succeeded": True, "num_freed": freed}

    def create_pit(self, index_expr: str, params: dict[str, str]) -> dict[str, Any]:
        """OpenSearch's ``POST /<index>/_search/point_in_time``."""
        if "keep_alive" not in params:
            raise errors.validation("keep alive not specified")
        opened = self.open_pit(index_expr, params)
        return {"pit_id": opened["id"], "_shards": opened["_shards"], "creation_time": int(time.time() * 1000)}

    def delete_pits(self, body: dict[str, Any] | None, every: bool = False) -> dict[str, Any]:
        """OpenSearch's ``DELETE /_search/point_in_time`` (``{"pit_id": [...]}``) and ``.../_all``."""
        if every:
            ids = list(self.pits)
        else:
            ids = (body or {}).get("pit_id")
            if not ids:
                raise errors.validation("No point in time ids specified")
            ids = [ids] if isinstance(ids, str) else list(ids)
        now = time.monotonic()
        pits = []
        for pit_id in ids:
            context = self.pits.pop(pit_id, None)
            pits.append({"successful": context is not None and context.expires_at > now, "pit_id": pit_id})
        return {"pits": pits}

    def _context(self, contexts: dict[str, Context], context_id: str, keep_alive: Any) -> Context:
        context = contexts.get(context_id)
        now = time.monotonic()
        if context is None or context.expires_at <= now:
            contexts.pop(context_id, None)
            raise errors.search_context_missing(context_id)
        if keep_alive is not None:
            context.expires_at = now + parse_time_value(keep_alive, "keep_alive")
        return context

    def clear_scroll(self, body: dict[str, Any] | None, path_id: str | None) -> tuple[int, dict[str, Any]]:
        raw = (body or {}).get("scroll_id", path_id)
        ids = raw if isinstance(raw, list) else [s for s in str(raw or "").split(",") if s]
        if ids == ["_all"]:
            freed = len(self.scrolls)
            self.scrolls.clear()
        else:
            now = time.monotonic()
            freed = sum(1 for i in ids if (c := self.scrolls.pop(i, None)) is not None and c.expires_at > now)
        return (200 if freed else 404), {"succeeded": True, "num_freed": freed}

    # --- search -----------------------------------------------------------------------------------------------

    def search(self, index_expr: str | None, params: dict[str, str], body: dict[str, Any] | None) -> dict[str, Any]:
        started = time.perf_counter()
        if isinstance(body, dict):
            check_search_body(body)
        request = build_request(params, body or {})
        totals_as_int = total_as_int_requested(params, request)
        stored = request.get("stored_fields")
        if stored is not None and stored != "_none_":
            raise not_supported(f"stored_fields={stored}")
        pit = request.get("pit")
        scroll = params.get("scroll")
        self._check_shard_doc(request, pit is not None, bool(scroll))
        if pit is not None:
            if index_expr:
                raise errors.validation(
                    "[indices] cannot be used with point in time. Do not specify any index with point in time."
                )
            if scroll:
                raise errors.validation("using [point in time] is not allowed in a scroll context")
            pit_id = pit.get("id") if isinstance(pit, dict) else None
            if not pit_id:
                raise errors.parsing("[pit] failed to parse field [id]")
            snapshots = self._context(self.pits, pit_id, pit.get("keep_alive")).snapshots
        else:
            indices = self.store.resolve(
                index_expr,
                ignore_unavailable=_bool(params.get("ignore_unavailable"), False),
                allow_no_indices=_bool(params.get("allow_no_indices"), True),
            )
            snapshots = [i.snapshot() for i in indices]
        size, from_ = int(request.get("size", 10)), int(request.get("from", 0))
        from_ = 0 if from_ == -1 else from_
        if size < 0 or from_ < 0:
            name, value = ("size", size) if size < 0 else ("from", from_)
            raise errors.illegal_argument(f"[{name}] parameter cannot be negative, found [{value}]")
        for snap in snapshots:
            limit = snap.index.max_result_window
            if scroll and size > limit:
                raise errors.scroll_batch_too_large(snap.index.name, limit, size)
            if not scroll and from_ + size > limit:
                raise errors.max_result_window(snap.index.name, limit, from_ + size)
        if request.get("search_after") is not None:
            if from_ > 0:
                raise errors.illegal_argument("`from` parameter must be set to 0 when `search_after` is used.")
            if scroll:
                raise errors.illegal_argument("`search_after` cannot be used in a scroll context.")
        response = self._execute(snapshots, request, from_, size, None, pit is not None, scrolling=bool(scroll))
        if scroll:
            keep_alive = parse_time_value(scroll, "scroll")
            scroll_id = _new_id(b"esc-scr\x00", next(self._ids))
            self.scrolls[scroll_id] = Context(
                snapshots,
                time.monotonic() + keep_alive,
                request={**request, "size": size},
                last_key=response.pop("_last_key"),
                total=response["hits"].get("total"),
            )
            response = {"_scroll_id": scroll_id, **response}
        else:
            response.pop("_last_key")
        if pit is not None:
            response = {"pit_id": pit["id"], **response}
        self._partial(response, params, request, snapshots)
        response["took"] = int((time.perf_counter() - started) * 1000)
        if totals_as_int:
            render_total_as_int(response)
        return response

    def _check_shard_doc(self, request: dict[str, Any], with_pit: bool, scrolling: bool) -> None:
        """OpenSearch 3.3+'s SearchRequest.validate: ``_shard_doc`` only inside a point in time, at most once."""
        if not self.dialect.shard_doc_needs_pit:
            return
        uses = sum(1 for field, _ in parse_sort(request.get("sort")) if field == "_shard_doc")
        problems = []
        if uses and scrolling:
            problems.append("_shard_doc cannot be used with scroll. Use PIT + search_after instead.")
        if uses and not with_pit:
            problems.append("_shard_doc is only supported with point-in-time (PIT). Add a PIT or remove _shard_doc.")
        if uses > 1:
            problems.append("duplicate _shard_doc sort detected. Specify it at most once.")
        if problems:
            raise errors.validation(*problems)

    def scroll(self, params: dict[str, str], body: dict[str, Any] | None, path_id: str | None) -> dict[str, Any]:
        started = time.perf_counter()
        body = body or {}
        scroll_id = body.get("scroll_id") or params.get("scroll_id") or path_id
        if not scroll_id:
            raise errors.validation("scrollId is missing")
        context = self._context(self.scrolls, scroll_id, body.get("scroll", params.get("scroll")))
        request = context.request
        response = self._execute(
            context.snapshots,
            request,
            0,
            int(request["size"]),
            context.last_key,
            False,
            total=context.total,
            scrolling=True,
        )
        last = response.pop("_last_key")
        if last is not None:
            context.last_key = last
        response = {"_scroll_id": scroll_id, **response}
        self._partial(response, params, request, context.snapshots)
        response["took"] = int((time.perf_counter() - started) * 1000)
        if parse_bool_param(params.get("rest_total_hits_as_int"), False):
            render_total_as_int(response)
        return response

    def count(self, index_expr: str | None, params: dict[str, str], body: dict[str, Any] | None) -> dict[str, Any]:
        if isinstance(body, dict):
            check_count_body(body)
        request = build_request(params, body or {}, COUNT_PARAM_KEYS)
        terminate_after = parse_int_param("terminate_after", params.get("terminate_after", "0"))
        if terminate_after < 0:
            raise errors.illegal_argument("terminateAfter must be > 0")
        indices = self.store.resolve(
            index_expr,
            ignore_unavailable=_bool(params.get("ignore_unavailable"), False),
            allow_no_indices=_bool(params.get("allow_no_indices"), True),
        )
        total = 0
        terminated = False
        for snap in (i.snapshot() for i in indices):
            q = compile_query(snap, request.get("query"))
            if terminate_after:
                # terminate_after counts per shard (one per index here); the shard stops once it has that many
                found = count(snap, q, terminate_after + 1)
                terminated = terminated or found > terminate_after
                total += min(found, terminate_after)
            else:
                total += count(snap, q)
        n = len(indices)
        response: dict[str, Any] = {"terminated_early": terminated} if terminate_after else {}
        response["count"] = total
        response["_shards"] = {"total": n, "successful": n, "skipped": 0, "failed": 0}
        self._partial(response, params, request, [i.snapshot() for i in indices])
        return response

    def _partial(
        self, response: dict[str, Any], params: dict[str, str], request: dict[str, Any], snapshots: list[Snapshot]
    ) -> None:
        if not self.faults.take_partial():
            return
        name = snapshots[0].index.name if snapshots else "_all"
        allow = request.get("allow_partial_search_results", params.get("allow_partial_search_results"))
        if not _bool(allow, True):
            raise errors.partial_shards_failure(name)
        shards = response["_shards"]
        shards["total"] += 1
        shards["failed"] += 1
        cause = errors.shard_unavailable_cause(name).cause()
        shards["failures"] = [{"shard": 1, "index": name, "node": errors.NODE_ID, "reason": cause}]

    def _execute(
        self,
        snapshots: list[Snapshot],
        request: dict[str, Any],
        from_: int,
        size: int,
        internal_after: tuple | None,
        with_pit: bool,
        total: dict[str, Any] | None = None,
        scrolling: bool = False,
    ) -> dict[str, Any]:
        need_keys = scrolling or len(snapshots) > 1
        sort = parse_sort(request.get("sort"))
        mapped = {f for s in snapshots for f, _ in sort if f in s.index.fields}
        compiled: list[tuple[Snapshot, Query, list[SortClause]]] = []
        search_after = request.get("search_after")
        if search_after is not None and not isinstance(search_after, list):
            raise errors.parsing(f"Unknown key for a {token_name(search_after)} in [search_after].")
        for snap in snapshots:
            q = compile_query(snap, request.get("query"))
            clauses = build_clauses(snap, sort, mapped, with_pit, self.dialect, search_after)
            compiled.append((snap, q, clauses))
        generators = []
        for position, (snap, q, clauses) in enumerate(compiled):
            after = internal_after
            if after is None and search_after is not None:
                after = after_key(clauses, list(search_after), q.score, snap.index.name)
            generators.append(ordered(snap, position, q, clauses, after, need_keys))
        merged = heapq.merge(*generators) if len(generators) != 1 else generators[0]
        page = list(itertools.islice(merged, from_, from_ + size)) if size else []
        for generator in generators:
            generator.close()
        if total is None:
            total = _total(compiled, request.get("track_total_hits"))
        fetch, includes, excludes = source_filter_spec(
            request.get("_source"), request.get("_source_includes"), request.get("_source_excludes")
        )
        if request.get("stored_fields") == "_none_":
            fetch = False
        show_sort = bool(sort)
        scored = not sort or any(f == "_score" for f, _ in sort)
        hits = []
        max_score: float | None = None
        displays = [make_display(s, p, c, q.score) for p, (s, q, c) in enumerate(compiled)] if show_sort else []
        for key, ord_ in page:
            position = key[-1] >> 32 if key is not None else 0
            snap, q, clauses = compiled[position]
            index = snap.index
            score = q.score if scored else None
            if score is not None:
                max_score = score if max_score is None else max(max_score, score)
            hit: dict[str, Any] = {"_index": index.name, "_id": index.ids[ord_], "_score": score}
            if fetch:
                hit["_source"] = filter_source(index.source(ord_), includes, excludes)
            if show_sort:
                hit["sort"] = displays[position](ord_)
            hits.append(hit)
        n = len(snapshots)
        hits_body: dict[str, Any] = {}
        if total is not None:
            hits_body["total"] = total
        hits_body["max_score"] = max_score
        hits_body["hits"] = hits
        return {
            "took": 0,
            "timed_out": False,
            "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0},
            "hits": hits_body,
            "_last_key": page[-1][0] if page else None,
        }


def _total(compiled: list[tuple[Snapshot, Query, Any]], track: Any) -> dict[str, Any] | None:
    if track is None:
        limit: int | None = DEFAULT_TRACK_TOTAL_HITS
    elif isinstance(track, bool) or str(track).lower() in ("true", "false"):
        if not _bool(track, True):
            return None
        limit = None
    else:
        limit = track_limit(track)
        if limit == -1:
            return None
        if limit < 0:
            raise errors.illegal_argument(f"[track_total_hits] parameter must be positive or equals to -1, got {limit}")
    value = 0
    for snap, q, _ in compiled:
        value += count(snap, q, None if limit is None else limit - value + 1)
        if limit is not None and value > limit:
            return {"value": limit, "relation": "gte"}
    return {"value": value, "relation": "eq"}
