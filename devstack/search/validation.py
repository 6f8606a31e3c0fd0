"""Strict request checks of the Elasticsearch-compatible server: URL parameters and body keys.

The server refuses what the engines refuse, with their error types and reasons, and refuses with a 400 naming it
what the engines would accept but the server does not implement, so a request never "works" here by being
silently ignored.
"""

from __future__ import annotations

from typing import Any

from devstack.search import errors

# Accepted on every endpoint (RestRequest's global parameters); filter_path is applied to the response.
GLOBAL_PARAMS = frozenset({"pretty", "human", "error_trace", "filter_path", "source", "source_content_type"})

# Parameters that change nothing in a one-node, one-shard-per-index, real-time cluster without caches.
NO_EFFECT_PARAMS = frozenset(
    {
        "routing",
        "preference",
        "request_cache",
        "timeout",
        "typed_keys",
        "batched_reduce_size",
        "max_concurrent_shard_requests",
        "pre_filter_shard_size",
        "ccs_minimize_roundtrips",
        "search_type",
    }
)

SEARCH_PARAMS = frozenset(
    {
        "q",
        "df",
        "default_operator",
        "size",
        "from",
        "sort",
        "_source",
        "_source_includes",
        "_source_excludes",
        "track_total_hits",
        "rest_total_hits_as_int",
        "allow_partial_search_results",
        "ignore_unavailable",
        "allow_no_indices",
        "scroll",
        "stored_fields",
    }
    | NO_EFFECT_PARAMS
)
SEARCH_UNSUPPORTED_PARAMS = frozenset(
    {
        "analyzer",
        "analyze_wildcard",
        "lenient",
        "docvalue_fields",
        "explain",
        "version",
        "seq_no_primary_term",
        "terminate_after",
        "track_scores",
        "stats",
        "suggest_field",
        "suggest_mode",
        "suggest_size",
        "suggest_text",
        "expand_wildcards",
        "ignore_throttled",
        "include_named_queries_score",
        "force_synthetic_source",
    }
)
COUNT_PARAMS = frozenset(
    {"q", "df", "default_operator", "ignore_unavailable", "allow_no_indices", "terminate_after"}
    | {"routing", "preference"}
)
# Read only together with q (RestActions.urlParamsToQueryBuilder): without it they are unconsumed, so unrecognized.
QUERY_STRING_PARAMS = frozenset({"df", "default_operator"})
COUNT_UNSUPPORTED_PARAMS = frozenset(
    {"analyzer", "analyze_wildcard", "lenient", "min_score", "expand_wildcards", "ignore_throttled"}
)
MGET_PARAMS = frozenset(
    {"_source", "_source_includes", "_source_excludes", "realtime", "refresh", "routing", "preference"}
)
MGET_UNSUPPORTED_PARAMS = frozenset({"stored_fields", "force_synthetic_source"})
SCROLL_PARAMS = frozenset({"scroll", "scroll_id", "rest_total_hits_as_int"})
OPEN_PIT_PARAMS = frozenset(
    {"keep_alive", "ignore_unavailable", "routing", "preference", "allow_partial_search_results"}
)
OPENSEARCH_CREATE_PIT_PARAMS = frozenset({"keep_alive", "routing", "preference", "allow_partial_pit_creation"})
PIT_UNSUPPORTED_PARAMS = frozenset({"expand_wildcards", "max_concurrent_shard_requests", "index_filter"})

SEARCH_BODY_KEYS = frozenset(
    {"query", "from", "size", "sort", "search_after", "_source", "track_total_hits", "pit", "timeout", "stored_fields"}
)
# Keys of SearchSourceBuilder the engines accept but this server does not implement.
SEARCH_UNSUPPORTED_BODY_KEYS = frozenset(
    {
        "aggs",
        "aggregations",
        "highlight",
        "script_fields",
        "collapse",
        "rescore",
        "post_filter",
        "suggest",
        "docvalue_fields",
        "fields",
        "explain",
        "version",
        "seq_no_primary_term",
        "min_score",
        "terminate_after",
        "track_scores",
        "indices_boost",
        "profile",
        "stats",
        "ext",
        "slice",
        "runtime_mappings",
        "knn",
        "retriever",
        "rank",
        "search_pipeline",
        "verbose_pipeline",
        "include_named_queries_score",
    }
)


def check_params(path: str, params: dict[str, str], supported: frozenset[str], unsupported: frozenset[str]) -> None:
    """Refuse unknown URL parameters like RestHandler does, and known ones this server does not implement."""
    if "q" not in params:
        supported = supported - QUERY_STRING_PARAMS
    unknown = sorted(p for p in params if p not in supported and p not in unsupported and p not in GLOBAL_PARAMS)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        names = ", ".join(f"[{p}]" for p in unknown)
        raise errors.illegal_argument(f"request [{path}] contains unrecognized parameter{plural}: {names}")
    for name in sorted(p for p in params if p in unsupported):
        raise not_supported(f"{name}={params[name]}")


def not_supported(what: str) -> errors.EsError:
    """The server's own refusal of an option the engines accept but it does not implement."""
    return errors.illegal_argument(f"[{what}] is not supported by the es-compat test server (see docs/es_server.md)")


def token_name(value: Any) -> str:
    """The XContent token a JSON value starts with, as the engines name it in parse errors."""
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, (int, float)):
        return "VALUE_NUMBER"
    if value is None:
        return "VALUE_NULL"
    return "VALUE_STRING"


def check_search_body(body: dict[str, Any]) -> None:
    """SearchSourceBuilder.parseXContent: unknown keys are a parsing_exception; unimplemented ones a 400."""
    for key, value in body.items():
        if key in SEARCH_BODY_KEYS:
            continue
        if key in SEARCH_UNSUPPORTED_BODY_KEYS:
            raise not_supported(key)
        raise errors.parsing(f"Unknown key for a {token_name(value)} in [{key}].")


def check_count_body(body: dict[str, Any]) -> None:
    """RestActions.getQueryContent: a count body holds ``query`` and nothing else."""
    for key in body:
        if key != "query":
            raise errors.parsing(f"request does not support [{key}]")


def parse_bool_param(raw: str | None, default: bool) -> bool:
    """Booleans.parseBoolean: only ``true``/``false`` (and an empty value for true)."""
    if raw is None:
        return default
    if raw in ("true", ""):
        return True
    if raw == "false":
        return False
    raise errors.illegal_argument(f"Failed to parse value [{raw}] as only [true] or [false] are allowed.")


def parse_int_param(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError as error:
        raise errors.illegal_argument(f"Failed to parse int parameter [{name}] with value [{raw}]") from error


# The keys each compound (object-form) query accepts; field-level options are checked by _check_field_spec.
_QUERY_KEYS = {
    "match_all": {"boost", "_name"},
    "match_none": {"boost", "_name"},
    "bool": {"must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name", "adjust_pure_negative"},
    "constant_score": {"filter", "boost", "_name"},
    "exists": {"field", "boost", "_name"},
    "ids": {"values", "boost", "_name"},
}
# Field-level options per query: implemented ones, and the engines' others, refused by name here.
_FIELD_KEYS = {
    "term": ({"value", "boost", "_name"}, {"case_insensitive"}),
    "match": (
        {"query", "operator", "boost", "_name"},
        {
            "analyzer",
            "fuzziness",
            "prefix_length",
            "max_expansions",
            "fuzzy_transpositions",
            "lenient",
            "zero_terms_query",
            "auto_generate_synonyms_phrase_query",
            "minimum_should_match",
            "fuzzy_rewrite",
        },
    ),
    "match_phrase": ({"query", "boost", "_name"}, {"analyzer", "slop", "zero_terms_query"}),
    "prefix": ({"value", "boost", "_name"}, {"rewrite", "case_insensitive"}),
    "wildcard": ({"value", "wildcard", "boost", "_name", "case_insensitive"}, {"rewrite"}),
}


def check_query_keys(kind: str, body: Any) -> None:
    """Unknown keys of a query are ``[kind] query does not support [key]``; known, unimplemented ones a 400."""
    allowed = _QUERY_KEYS.get(kind)
    if allowed is not None and isinstance(body, dict):
        for key in body:
            if key not in allowed:
                raise errors.parsing(f"[{kind}] query does not support [{key}]")
    spec_keys = _FIELD_KEYS.get(kind)
    if spec_keys is not None and isinstance(body, dict):
        implemented, refused = spec_keys
        for value in body.values():
            if not isinstance(value, dict):
                continue
            for key in value:
                if key in refused:
                    raise not_supported(f"{kind}.{key}")
                if key not in implemented:
                    raise errors.parsing(f"[{kind}] query does not support [{key}]")
