"""The effective request of ``_search`` and ``_count``: body and URL parameters merged, ``q=``, total-hit options."""

from __future__ import annotations

from typing import Any

from devstack.search import errors
from devstack.search.validation import parse_bool_param, parse_int_param, token_name

_PARAM_KEYS = ("size", "from", "sort", "_source", "_source_includes", "_source_excludes", "track_total_hits")
COUNT_PARAM_KEYS: tuple[str, ...] = ()
_ACCURATE = 2**31 - 1  # SearchContext.TRACK_TOTAL_HITS_ACCURATE


def build_request(
    params: dict[str, str], body: dict[str, Any], param_keys: tuple[str, ...] = _PARAM_KEYS
) -> dict[str, Any]:
    """The effective search request: body, with URL parameters filled in (parameters win, like Elasticsearch)."""
    if not isinstance(body, dict):
        raise errors.parsing("request body is required to be an object")
    request = dict(body)
    for key in param_keys:
        if key in params:
            request[key] = params[key]
    if "stored_fields" in params:
        request["stored_fields"] = params["stored_fields"]
    if "q" in params:
        request["query"] = _query_string(params)
    for key in ("size", "from"):
        if key in request and request[key] is not None:
            try:
                request[key] = int(request[key])
            except (TypeError, ValueError) as error:
                raise errors.illegal_argument(
                    f"Failed to parse int parameter [{key}] with value [{request[key]}]"
                ) from error
    return request


def _query_string(params: dict[str, str]) -> dict[str, Any]:
    """``q=`` (with ``df`` and ``default_operator``) → a ``query_string`` query, like urlParamsToQueryBuilder."""
    spec: dict[str, Any] = {"query": params["q"]}
    if "df" in params:
        spec["default_field"] = params["df"]
    if "default_operator" in params:
        spec["default_operator"] = params["default_operator"]
    return {"query_string": spec}


def total_as_int_requested(params: dict[str, str], request: dict[str, Any]) -> bool:
    """``rest_total_hits_as_int``: forces accurate totals; refused with an inaccurate ``track_total_hits``."""
    if not parse_bool_param(params.get("rest_total_hits_as_int"), False):
        return False
    track = request.get("track_total_hits")
    if track is None:
        request["track_total_hits"] = True
    elif not (isinstance(track, bool) or str(track).lower() in ("true", "false")):
        limit = track_limit(track)
        if limit not in (-1, _ACCURATE):
            raise errors.illegal_argument(
                f"[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got {limit}"
            )
    return True


def track_limit(track: Any) -> int:
    if isinstance(track, int):
        return track
    if isinstance(track, str):
        return parse_int_param("track_total_hits", track)
    raise errors.parsing(f"[track_total_hits] failed to parse field, found {token_name(track)}")


def render_total_as_int(response: dict[str, Any]) -> None:
    """``hits.total`` as a number, ``-1`` when totals were not tracked (RestSearchAction's 6.x response shape)."""
    hits = response["hits"]
    total = hits.get("total")
    hits["total"] = total["value"] if isinstance(total, dict) else -1
    response["hits"] = {"total": hits.pop("total"), **hits}
