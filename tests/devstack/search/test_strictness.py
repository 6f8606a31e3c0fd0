"""The server is as strict as the engines for the APIs it claims, in both engine modes (issue 25's points 1-11).

Requests go over plain HTTP so each test sends exactly the request it names. Every test runs against the
Elasticsearch mode and the OpenSearch mode; with ``ES_TEST_URL`` / ``OPENSEARCH_TEST_URL`` the same tests run
against a real cluster (server-only tests are then skipped). The expected statuses, error types and reasons are
those of the engines' REST handlers and request validation (RestSearchAction, RestCountAction, SearchRequest,
SearchSourceBuilder, SearchAfterBuilder, TermsQueryBuilder, MultiGetRequest).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.search.server import EsCompatServer

REAL = {"elasticsearch": os.environ.get("ES_TEST_URL"), "opensearch": os.environ.get("OPENSEARCH_TEST_URL")}


class Cluster:
    def __init__(self, engine: str, url: str, in_process: bool) -> None:
        self.engine = engine
        self.url = url.rstrip("/")
        self.in_process = in_process
        self.session = requests.Session()

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[int, Any]:
        response = self.session.request(
            method,
            self.url + path,
            json=body,
            params={k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()},
            timeout=60,
        )
        return response.status_code, (response.json() if response.content else None)

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        status, answer = self.call(method, path, body, **params)
        assert status < 300, (status, answer)
        return answer

    def open_pit(self, index: str) -> tuple[str, dict[str, Any]]:
        """A point in time on ``index`` and the ``pit`` object that searches it."""
        if self.engine == "opensearch":
            pit_id = self.ok("POST", f"/{index}/_search/point_in_time", keep_alive="1m")["pit_id"]
        else:
            pit_id = self.ok("POST", f"/{index}/_pit", keep_alive="1m")["id"]
        return pit_id, {"id": pit_id, "keep_alive": "1m"}


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    engine = request.param
    if REAL[engine]:
        yield Cluster(engine, REAL[engine], in_process=False)
        return
    with EsCompatServer(engine=engine) as server:
        yield Cluster(engine, server.url, in_process=True)


@pytest.fixture
def index(cluster: Cluster) -> Iterator[str]:
    name = f"strict-{uuid.uuid4().hex[:10]}"
    yield name
    cluster.call("DELETE", f"/{name}")


def seed(cluster: Cluster, index: str, mappings: dict[str, Any], docs: dict[str, dict], settings: dict | None = None):
    cluster.ok("PUT", f"/{index}", {"mappings": {"properties": mappings}, "settings": settings or {}})
    for doc_id, source in docs.items():
        cluster.ok("PUT", f"/{index}/_doc/{doc_id}", source)
    cluster.ok("POST", f"/{index}/_refresh")


def assert_error(answer: tuple[int, Any], status: int, error_type: str, reason: str | None = None) -> dict:
    code, body = answer
    assert code == status, body
    assert body["status"] == status
    error = body["error"]
    assert error["type"] == error_type, error
    assert error["root_cause"], error
    if reason is not None:
        assert reason in error["reason"], error["reason"]
    return error


def root_cause(error: dict) -> dict:
    return error["root_cause"][0]


# 1 -------------------------------------------------------------------------------------------------------------


def test_rest_total_hits_as_int_answers_a_number_and_refuses_an_inexact_count(cluster: Cluster, index: str):
    seed(cluster, index, {"n": {"type": "long"}}, {str(i): {"n": i} for i in range(3)})
    assert cluster.ok("POST", f"/{index}/_search", {}, rest_total_hits_as_int=True)["hits"]["total"] == 3
    off = {"track_total_hits": False}
    assert cluster.ok("POST", f"/{index}/_search", off, rest_total_hits_as_int=True)["hits"]["total"] == -1
    exact = {"track_total_hits": True}
    assert cluster.ok("POST", f"/{index}/_search", exact, rest_total_hits_as_int=True)["hits"]["total"] == 3
    assert_error(
        cluster.call("POST", f"/{index}/_search", {"track_total_hits": 100}, rest_total_hits_as_int=True),
        400,
        "illegal_argument_exception",
        "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got 100",
    )


# 2 -------------------------------------------------------------------------------------------------------------


def test_query_clause_without_the_query_wrapper_is_a_parsing_exception(cluster: Cluster, index: str):
    seed(cluster, index, {"tag": {"type": "keyword"}}, {"a": {"tag": "x"}})
    clause = {"term": {"tag": "x"}}
    assert_error(
        cluster.call("POST", f"/{index}/_search", clause),
        400,
        "parsing_exception",
        "Unknown key for a START_OBJECT in [term].",
    )
    assert_error(
        cluster.call("POST", f"/{index}/_count", clause), 400, "parsing_exception", "request does not support [term]"
    )
    assert cluster.ok("POST", f"/{index}/_count", {"query": clause})["count"] == 1


def test_unknown_parameters_and_body_keys_are_refused(cluster: Cluster, index: str):
    seed(cluster, index, {"tag": {"type": "keyword"}}, {"a": {"tag": "x"}})
    assert_error(
        cluster.call("POST", f"/{index}/_search", {}, no_such_param="1"),
        400,
        "illegal_argument_exception",
        f"request [/{index}/_search] contains unrecognized parameter: [no_such_param]",
    )
    # df without q is never read, so the engines report it as unrecognized too
    assert_error(cluster.call("POST", f"/{index}/_count", None, df="tag"), 400, "illegal_argument_exception", "[df]")
    assert_error(
        cluster.call("POST", f"/{index}/_search", {"size": 1, "sizes": 2}),
        400,
        "parsing_exception",
        "Unknown key for a VALUE_NUMBER in [sizes].",
    )
    assert_error(
        cluster.call("POST", f"/{index}/_search", {"query": {"bool": {"must": [], "mustt": []}}}),
        400,
        "parsing_exception",
        "[bool] query does not support [mustt]",
    )


@pytest.mark.parametrize("param", ["size", "from", "track_total_hits"])
def test_int_parameters_of_the_wrong_type_are_refused(cluster: Cluster, index: str, param: str):
    seed(cluster, index, {"tag": {"type": "keyword"}}, {"a": {"tag": "x"}})
    assert_error(
        cluster.call("GET", f"/{index}/_search", **{param: "ten"}),
        400,
        "illegal_argument_exception",
        f"Failed to parse int parameter [{param}] with value [ten]",
    )


@pytest.mark.parametrize("key", ["size", "from"])
def test_negative_size_or_from_is_refused(cluster: Cluster, index: str, key: str):
    seed(cluster, index, {"tag": {"type": "keyword"}}, {"a": {"tag": "x"}})
    assert_error(
        cluster.call("POST", f"/{index}/_search", {key: -2}),
        400,
        "illegal_argument_exception",
        f"[{key}] parameter cannot be negative, found [-2]",
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [({"aggs": {"t": {"terms": {"field": "tag"}}}}, "aggs"), ({"version": True}, "version")],
)
def test_options_the_server_does_not_implement_are_a_400_naming_them(
    cluster: Cluster, index: str, body: dict, named: str
):
    if not cluster.in_process:
        pytest.skip("the server's own refusal of what it does not implement")
    seed(cluster, index, {"tag": {"type": "keyword"}}, {"a": {"tag": "x"}})
    assert_error(cluster.call("POST", f"/{index}/_search", body), 400, "illegal_argument_exception", f"[{named}]")


# 3 -------------------------------------------------------------------------------------------------------------


def test_count_terminate_after(cluster: Cluster, index: str):
    seed(cluster, index, {"n": {"type": "long"}}, {str(i): {"n": i} for i in range(3)})
    assert_error(
        cluster.call("GET", f"/{index}/_count", terminate_after=-1),
        400,
        "illegal_argument_exception",
        "terminateAfter must be > 0",
    )
    answer = cluster.ok("GET", f"/{index}/_count", terminate_after=1)
    assert (answer["count"], answer["terminated_early"]) == (1, True)
    assert "terminated_early" not in cluster.ok("GET", f"/{index}/_count")


# 4 -------------------------------------------------------------------------------------------------------------


def test_q_honours_default_operator(cluster: Cluster, index: str):
    seed(cluster, index, {"body": {"type": "text"}}, {"a": {"body": "hello world"}, "b": {"body": "hello there"}})
    count = lambda **params: cluster.ok("GET", f"/{index}/_count", **params)["count"]  # noqa: E731
    assert count(q="hello planet", df="body") == 2
    assert count(q="hello planet", df="body", default_operator="AND") == 0
    assert count(q="hello world", df="body", default_operator="AND") == 1
    assert count(q="body:(hello AND there)") == 1


def test_q_wildcards_are_lower_cased_on_text_fields(cluster: Cluster, index: str):
    mappings = {"body": {"type": "text"}, "code": {"type": "keyword"}}
    seed(cluster, index, mappings, {"a": {"body": "Banana split", "code": "BAR-1"}})
    count = lambda q: cluster.ok("GET", f"/{index}/_count", q=q)["count"]  # noqa: E731
    assert count("body:BA*") == 1  # the text field's analyzer normalises the pattern
    assert count("body:ban?na") == 1
    assert count("code:BA*") == 1  # keyword: no normaliser, case kept
    assert count("code:ba*") == 0


# 5 -------------------------------------------------------------------------------------------------------------


def test_terms_query_over_max_terms_count_is_refused(cluster: Cluster, index: str):
    seed(cluster, index, {"tag": {"type": "keyword"}}, {"a": {"tag": "x"}}, settings={"index.max_terms_count": 2})
    assert cluster.ok("POST", f"/{index}/_count", {"query": {"terms": {"tag": ["x", "y"]}}})["count"] == 1
    error = assert_error(
        cluster.call("POST", f"/{index}/_search", {"query": {"terms": {"tag": ["x", "y", "z"]}}}),
        400,
        "search_phase_execution_exception",
    )
    assert root_cause(error)["type"] == "illegal_argument_exception"
    assert root_cause(error)["reason"].startswith(
        "The number of terms [3] used in the Terms Query request has exceeded the allowed maximum of [2]."
    )


# 6 -------------------------------------------------------------------------------------------------------------


def test_pit_search_after_with_one_value_per_sort_field(cluster: Cluster, index: str):
    docs = {f"d{i}": {"ts": f"2024-10-01T00:00:0{i // 2}Z", "tag": f"t{i}"} for i in range(6)}
    seed(cluster, index, {"ts": {"type": "date"}, "tag": {"type": "keyword"}}, docs)
    _, pit = cluster.open_pit(index)
    sort = [{"ts": "asc"}, {"tag": "asc"}]
    first = cluster.ok("POST", "/_search", {"pit": pit, "sort": sort, "size": 2})["hits"]["hits"]
    assert [h["_id"] for h in first] == ["d0", "d1"]
    after = first[-1]["sort"][:2]  # the requested sort's values only, without the _shard_doc tiebreaker
    rest = cluster.ok("POST", "/_search", {"pit": pit, "sort": sort, "size": 10, "search_after": after})
    hits = rest["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["d2", "d3", "d4", "d5"]
    assert all(len(h["sort"]) == 2 for h in hits)  # no tiebreaker is added when search_after has no value for it


def test_pit_tiebreaker_is_added_to_a_requested_sort_only(cluster: Cluster, index: str):
    seed(cluster, index, {"ts": {"type": "date"}}, {"a": {"ts": "2024-10-01T00:00:00Z"}})
    _, pit = cluster.open_pit(index)
    implicit = 1 if cluster.engine == "elasticsearch" else 0  # OpenSearch adds no tiebreaker
    hit = cluster.ok("POST", "/_search", {"pit": pit, "sort": [{"ts": "asc"}]})["hits"]["hits"][0]
    assert len(hit["sort"]) == 1 + implicit
    hit = cluster.ok("POST", "/_search", {"pit": pit, "sort": ["_doc"]})["hits"]["hits"][0]
    assert len(hit["sort"]) == 1 + implicit  # only a sort ending with _shard_doc itself gets none
    assert "sort" not in cluster.ok("POST", "/_search", {"pit": pit})["hits"]["hits"][0]  # no sort, no tiebreaker


def test_opensearch_3_3_refuses_shard_doc_outside_a_point_in_time():
    if REAL["opensearch"]:
        pytest.skip("needs an OpenSearch 3.3 server")
    with EsCompatServer(engine="opensearch", version="3.3.0") as server:
        cluster = Cluster("opensearch", server.url, in_process=True)
        seed(cluster, "i", {"n": {"type": "long"}}, {"a": {"n": 1}})
        assert_error(
            cluster.call("POST", "/i/_search", {"sort": ["_shard_doc"]}),
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: _shard_doc is only supported with point-in-time (PIT). "
            "Add a PIT or remove _shard_doc.;",
        )
        _, pit = cluster.open_pit("i")
        assert cluster.ok("POST", "/_search", {"pit": pit, "sort": ["_shard_doc"]})["hits"]["hits"][0]["_id"] == "a"


# 7 -------------------------------------------------------------------------------------------------------------


def test_date_nanos_sorts_at_nanosecond_resolution(cluster: Cluster, index: str):
    docs = {
        "late": {"ts": "2024-10-01T00:00:00.000000002Z"},
        "early": {"ts": "2024-10-01T00:00:00.000000001Z"},
        "ms": {"ts": "2024-10-01T00:00:00Z"},
    }
    seed(cluster, index, {"ts": {"type": "date_nanos"}}, docs)
    base = 1_727_740_800_000_000_000  # 2024-10-01T00:00:00Z in epoch nanoseconds
    hits = cluster.ok("POST", f"/{index}/_search", {"sort": [{"ts": "asc"}]})["hits"]["hits"]
    assert [(h["_id"], h["sort"]) for h in hits] == [("ms", [base]), ("early", [base + 1]), ("late", [base + 2])]
    after = cluster.ok("POST", f"/{index}/_search", {"sort": [{"ts": "asc"}], "search_after": [base + 1]})
    assert [h["_id"] for h in after["hits"]["hits"]] == ["late"]
    sort = [{"ts": {"order": "desc", "format": "strict_date_optional_time_nanos"}}]
    top = cluster.ok("POST", f"/{index}/_search", {"sort": sort, "size": 1})["hits"]["hits"][0]
    assert top["sort"] == ["2024-10-01T00:00:00.000000002Z"]
    query = {"range": {"ts": {"gt": "2024-10-01T00:00:00.000000001Z"}}}
    assert cluster.ok("POST", f"/{index}/_count", {"query": query})["count"] == 1


# 8 -------------------------------------------------------------------------------------------------------------


def test_search_after_date_not_in_the_sort_format_is_refused(cluster: Cluster, index: str):
    seed(cluster, index, {"ts": {"type": "date"}}, {"a": {"ts": "2024-10-01T00:00:00Z"}})
    sort = [{"ts": {"order": "asc", "format": "strict_date_optional_time"}}]
    ok = cluster.ok("POST", f"/{index}/_search", {"sort": sort, "search_after": ["2024-09-30T00:00:00.000Z"]})
    assert [h["_id"] for h in ok["hits"]["hits"]] == ["a"]
    error = assert_error(
        cluster.call("POST", f"/{index}/_search", {"sort": sort, "search_after": ["30/09/2024"]}),
        400,
        "search_phase_execution_exception",
    )
    assert root_cause(error)["type"] == "parse_exception"
    assert root_cause(error)["reason"].startswith(
        "failed to parse date field [30/09/2024] with format [strict_date_optional_time]"
    )


# 9 -------------------------------------------------------------------------------------------------------------


def test_mget_doc_without_id_is_a_validation_error(cluster: Cluster, index: str):
    seed(cluster, index, {"n": {"type": "long"}}, {"a": {"n": 1}})
    assert_error(
        cluster.call("POST", f"/{index}/_mget", {"docs": [{"_index": index}]}),
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: id is missing for doc 0;",
    )
    assert_error(
        cluster.call("POST", "/_mget", {"docs": [{"_id": "a"}, {"_index": index}]}),
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: index is missing for doc 0;2: id is missing for doc 1;",
    )
    assert_error(
        cluster.call("POST", f"/{index}/_mget", {"idz": ["a"]}),
        400,
        "parsing_exception",
        "unknown key [idz] for a START_ARRAY, expected [docs] or [ids]",
    )


# 10 ------------------------------------------------------------------------------------------------------------


def test_half_float_holds_sixteen_bit_values(cluster: Cluster, index: str):
    seed(cluster, index, {"h": {"type": "half_float"}, "f": {"type": "float"}}, {"a": {"h": 1.1, "f": 1.1}})
    hit = cluster.ok("POST", f"/{index}/_search", {"sort": [{"h": "asc"}, {"f": "asc"}]})["hits"]["hits"][0]
    assert hit["sort"] == [1.099609375, 1.100000023841858]  # the 16- and 32-bit values, widened to doubles
    assert hit["_source"] == {"h": 1.1, "f": 1.1}
    count = lambda query: cluster.ok("POST", f"/{index}/_count", {"query": query})["count"]  # noqa: E731
    assert count({"term": {"h": 1.1}}) == 1  # the term is rounded like the indexed value
    assert count({"range": {"h": {"gte": 1.1}}}) == 0  # 1.099609375 < 1.1
    assert count({"range": {"h": {"gte": 1.0996}}}) == 1
    after = cluster.ok("POST", f"/{index}/_search", {"sort": [{"h": "asc"}], "search_after": [1.0996]})
    assert [h["_id"] for h in after["hits"]["hits"]] == ["a"]
    assert (
        cluster.ok("POST", f"/{index}/_search", {"sort": [{"h": "asc"}], "search_after": [1.1]})["hits"]["hits"] == []
    )


# 11 ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "params", "named"),
    [
        ("_mget", {"ids": ["a"]}, {"realtime": "false"}, "realtime=false"),
        ("_mget", {"ids": ["a"]}, {"stored_fields": "n"}, "stored_fields=n"),
        ("_mget", {"docs": [{"_id": "a", "stored_fields": ["n"]}]}, {}, "docs.stored_fields"),
        ("_search", {"docvalue_fields": ["n"]}, {}, "docvalue_fields"),
        ("_search", {"stored_fields": ["n"]}, {}, "stored_fields=['n']"),
    ],
)
def test_unimplemented_get_options_are_refused_by_name(
    cluster: Cluster, index: str, path: str, body: dict, params: dict, named: str
):
    if not cluster.in_process:
        pytest.skip("the server's own refusal of what it does not implement")
    seed(cluster, index, {"n": {"type": "long"}}, {"a": {"n": 1}})
    assert_error(
        cluster.call("POST", f"/{index}/{path}", body, **params), 400, "illegal_argument_exception", f"[{named}]"
    )
    assert cluster.ok("POST", f"/{index}/_mget", {"ids": ["a"]}, realtime="true")["docs"][0]["found"] is True
