"""Server-specific behaviour: media-type compatibility modes, fault injection, PIT expiry, reset.

Skipped against a real cluster (``ES_TEST_URL``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import elasticsearch
import elasticsearch._sync.client._base as client_base
import pytest
from elasticsearch import Elasticsearch, helpers

from devstack.search.request_log import LoggedRequest, most_in_flight, most_in_window
from devstack.search.server import EsCompatServer
from tests.devstack.search.conftest import REAL_CLUSTER

pytestmark = pytest.mark.skipif(REAL_CLUSTER, reason="server-specific test: ES_TEST_URL points at a real cluster")

COMPAT_8 = "application/vnd.elasticsearch+json; compatible-with=8"


@pytest.fixture(scope="module")
def server8() -> Iterator[EsCompatServer]:
    server = EsCompatServer(version="8.15.0").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client8(server8: EsCompatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Elasticsearch]:
    """A 9.x client speaking ``compatible-with=8``, like an 8.x client does.

    Client-level ``headers=`` alone are not enough: every API method sets its own ``accept`` (and ``content-type``)
    header, which the client then rewrites to ``compatible-with=9`` — so the rewrite template is patched as well.
    """
    monkeypatch.setattr(client_base, "_COMPAT_MIMETYPE_SUB", r"application/vnd.elasticsearch+\g<1>; compatible-with=8")
    client = Elasticsearch(server8.url, headers={"accept": COMPAT_8, "content-type": COMPAT_8})
    yield client
    client.close()


def test_server8_with_compat8_client(client8: Elasticsearch, server8: EsCompatServer) -> None:
    info = client8.info()
    assert info["version"]["number"] == "8.15.0"
    assert info.meta.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=8"
    client8.indices.create(index="compat8", mappings={"properties": {"timestamp": {"type": "date"}}})
    helpers.bulk(client8, ({"_index": "compat8", "_id": str(i), "timestamp": i} for i in range(20)), refresh=True)
    assert client8.count(index="compat8")["count"] == 20
    pit_id = client8.open_point_in_time(index="compat8", keep_alive="1m")["id"]
    page = client8.search(pit={"id": pit_id}, sort=["timestamp"], size=5)
    assert len(page["hits"]["hits"]) == 5
    client8.close_point_in_time(id=pit_id)
    assert client8.mget(index="compat8", ids=["3"])["docs"][0]["found"]
    server8.reset()


def test_server8_rejects_compatible_with_9(server8: EsCompatServer) -> None:
    client = Elasticsearch(server8.url)  # the 9.x client's default: compatible-with=9
    with pytest.raises(elasticsearch.BadRequestError) as error:
        client.info()
    body = error.value.body
    assert body["status"] == 400
    assert body["error"]["type"] == "media_type_header_exception"
    assert "Accept version must be either version 8 or 7, but found 9" in body["error"]["caused_by"]["reason"]
    with pytest.raises(elasticsearch.BadRequestError):
        client.search(index="anything", query={"match_all": {}})


def test_server8_accepts_plain_json(server8: EsCompatServer) -> None:
    client = Elasticsearch(server8.url)
    # The transport layer sends headers as given (no compatible-with rewrite).
    meta, body = client.transport.perform_request("GET", "/", headers={"accept": "application/json"})
    assert meta.status == 200 and body["version"]["number"] == "8.15.0"
    assert meta.headers["content-type"] == "application/json"
    assert meta.headers["x-elastic-product"] == "Elasticsearch"


def test_server9_compat_modes(server: EsCompatServer, es: Elasticsearch, monkeypatch: pytest.MonkeyPatch) -> None:
    assert es.info().meta.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=9"
    monkeypatch.setattr(client_base, "_COMPAT_MIMETYPE_SUB", r"application/vnd.elasticsearch+\g<1>; compatible-with=8")
    with Elasticsearch(server.url) as client:
        assert client.info().meta.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=8"
    monkeypatch.setattr(client_base, "_COMPAT_MIMETYPE_SUB", r"application/vnd.elasticsearch+\g<1>; compatible-with=7")
    with Elasticsearch(server.url) as client, pytest.raises(elasticsearch.BadRequestError) as error:
        client.info()
    assert error.value.body["error"]["type"] == "media_type_header_exception"


# --- faults ---------------------------------------------------------------------------------------------------


def test_latency_is_applied(server: EsCompatServer, es: Elasticsearch) -> None:
    server.faults.add_latency(fixed_ms=60, jitter_ms=10)
    started = time.perf_counter()
    es.info()
    assert time.perf_counter() - started >= 0.06
    assert server.faults.counters()["latency_applied"] >= 1


def test_errors_then_success(server: EsCompatServer, es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-faults"
    es.index(index=name, id="1", document={"a": 1}, refresh=True)
    server.faults.add_error("_mget", status=429, count=2)
    no_retry = es.options(max_retries=0)
    for _ in range(2):
        with pytest.raises(elasticsearch.ApiError) as error:
            no_retry.mget(index=name, ids=["1"])
        assert error.value.meta.status == 429
        assert error.value.body["error"]["type"] == "es_rejected_execution_exception"
        assert error.value.body["error"]["root_cause"][0]["type"] == "es_rejected_execution_exception"
    assert no_retry.mget(index=name, ids=["1"])["docs"][0]["found"]
    assert no_retry.search(index=name)["hits"]["total"]["value"] == 1  # other paths unaffected
    assert server.faults.counters()["errors"] == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_statuses(server: EsCompatServer, es: Elasticsearch, status: int) -> None:
    server.faults.add_error(status=status, count=1, methods=["GET"])
    with pytest.raises(elasticsearch.ApiError) as error:
        es.options(max_retries=0).info()
    assert error.value.meta.status == status
    assert error.value.body["status"] == status and "type" in error.value.body["error"]
    assert es.options(max_retries=0).info()["tagline"]


def test_retries_absorb_errors(server: EsCompatServer, es: Elasticsearch) -> None:
    server.faults.add_error(status=503, count=2)
    assert es.options(max_retries=3, retry_on_status=[503]).info()["tagline"]
    assert server.faults.counters()["errors"] == 2


def test_probability_is_deterministic(server: EsCompatServer, es: Elasticsearch) -> None:
    def pattern() -> list[bool]:
        server.faults.clear()
        server.faults.add_error("^/$", status=503, probability=0.5)
        out = []
        for _ in range(40):
            try:
                es.options(max_retries=0).info()
                out.append(False)
            except elasticsearch.ApiError:
                out.append(True)
        return out

    first, second = pattern(), pattern()
    assert first == second
    assert 5 < sum(first) < 35


def test_dropped_connection(server: EsCompatServer, es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-drop"
    es.index(index=name, id="1", document={"a": 1}, refresh=True)
    server.faults.drop_connections("_search", count=1)
    with pytest.raises(elasticsearch.ConnectionError):
        es.options(max_retries=0).search(index=name)
    assert es.options(max_retries=0).search(index=name)["hits"]["total"]["value"] == 1
    assert server.faults.counters()["drops"] == 1


def test_partial_results(server: EsCompatServer, es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-partial"
    es.index(index=name, id="1", document={"a": 1}, refresh=True)
    server.faults.partial_results(count=1)
    response = es.search(index=name)
    assert response["_shards"]["failed"] == 1 and response["_shards"]["failures"]
    assert es.search(index=name)["_shards"]["failed"] == 0
    server.faults.partial_results(count=1)
    with pytest.raises(elasticsearch.ApiError) as error:
        es.options(max_retries=0).search(index=name, allow_partial_search_results=False)
    assert error.value.meta.status == 503
    assert error.value.body["error"]["type"] == "search_phase_execution_exception"
    assert server.faults.counters()["partial"] == 2


def test_http_control_api(server: EsCompatServer, es: Elasticsearch) -> None:
    json_headers = {"content-type": "application/json", "accept": "application/json"}
    es.transport.perform_request(
        "POST", "/_fault/errors", body={"path_pattern": "^/$", "status": 429, "count": 1}, headers=json_headers
    )
    es.transport.perform_request("POST", "/_fault/latency", body={"fixed_ms": 3, "jitter_ms": 1}, headers=json_headers)
    with pytest.raises(elasticsearch.ApiError):
        es.options(max_retries=0).info()
    _, state = es.transport.perform_request("GET", "/_fault", headers=json_headers)
    assert state["counters"]["errors"] == 1
    assert {r["kind"] for r in state["rules"]} == {"error", "latency"}
    es.transport.perform_request("DELETE", "/_fault", headers=json_headers)
    assert server.faults.counters()["errors"] == 0


def test_request_log_records_arrival_finish_method_path_and_status(server: EsCompatServer, es: Elasticsearch) -> None:
    server.requests.clear()
    server.faults.add_error("^/$", status=429, count=2)  # a burst of two 429s
    server.faults.drop_connections("_count", count=1)
    server.faults.add_latency(fixed_ms=30)
    before = time.monotonic()
    with pytest.raises(elasticsearch.ApiError):
        es.options(max_retries=0).info()
    with pytest.raises(elasticsearch.ApiError):
        es.options(max_retries=0).info()
    es.options(max_retries=0).info()
    with pytest.raises(elasticsearch.ConnectionError):
        es.options(max_retries=0).count()
    log = server.requests.entries()
    assert [(e.method, e.path, e.status) for e in log] == [
        ("GET", "/", 429),
        ("GET", "/", 429),
        ("GET", "/", 200),
        ("POST", "/_count", None),
    ]
    assert all(before <= e.arrived and e.finished - e.arrived >= 0.03 for e in log)  # the latency is inside
    assert most_in_flight(log) == 1 and most_in_window(log, 10.0) == 4
    _, described = es.transport.perform_request("GET", "/_fault/requests", headers={"accept": "application/json"})
    assert [r["status"] for r in described["requests"]] == [429, 429, 200, None]  # control calls not logged
    es.transport.perform_request("DELETE", "/_fault/requests", headers={"accept": "application/json"})
    assert server.requests.entries() == []


def test_window_and_in_flight_measures() -> None:
    def at(arrived: float, finished: float) -> LoggedRequest:
        return LoggedRequest(arrived, finished, "GET", "/", 200)

    log = [at(0.0, 0.5), at(0.2, 0.3), at(0.4, 1.0), at(1.0, 1.1), at(1.05, 1.2)]
    assert most_in_window(log, 1.0) == 4  # [0.2, 1.2): 0.2, 0.4, 1.0, 1.05; [0, 1) holds only three
    assert most_in_flight(log) == 2  # 0.2-0.3 inside 0.0-0.5; 1.0 starts as 0.4-1.0 ends
    assert most_in_window([], 1.0) == 0 and most_in_flight([]) == 0


# --- contexts and reset ---------------------------------------------------------------------------------------


def _assert_context_missing(error: elasticsearch.NotFoundError, pit_id: str) -> None:
    # Real Elasticsearch: a search_phase_execution_exception whose root cause is search_context_missing_exception.
    body = error.body
    assert body["status"] == 404
    assert body["error"]["type"] == "search_phase_execution_exception"
    root = body["error"]["root_cause"][0]
    assert root["type"] == "search_context_missing_exception"
    assert root["reason"] == f"No search context found for id [{pit_id}]"


def test_expire_pits(server: EsCompatServer, es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-exp"
    es.index(index=name, id="1", document={"a": 1}, refresh=True)
    pit_id = es.open_point_in_time(index=name, keep_alive="5m")["id"]
    server.expire_pits()
    with pytest.raises(elasticsearch.NotFoundError) as error:
        es.search(pit={"id": pit_id, "keep_alive": "5m"})
    _assert_context_missing(error.value, pit_id)
    with pytest.raises(elasticsearch.NotFoundError):  # like real ES: nothing freed answers 404
        es.close_point_in_time(id=pit_id)
    pit_id = es.open_point_in_time(index=name, keep_alive="5m")["id"]
    es.transport.perform_request("POST", "/_fault/expire_pits", headers={"accept": "application/json"})
    with pytest.raises(elasticsearch.NotFoundError):
        es.search(pit={"id": pit_id})


def test_keep_alive_elapses(server: EsCompatServer, es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-ka"
    es.index(index=name, id="1", document={"a": 1}, refresh=True)
    pit_id = es.open_point_in_time(index=name, keep_alive="200ms")["id"]
    assert es.search(pit={"id": pit_id, "keep_alive": "200ms"})["hits"]["total"]["value"] == 1
    time.sleep(0.3)
    with pytest.raises(elasticsearch.NotFoundError) as error:
        es.search(pit={"id": pit_id, "keep_alive": "200ms"})
    _assert_context_missing(error.value, pit_id)
    page = es.search(index=name, scroll="200ms", size=1)
    time.sleep(0.3)
    with pytest.raises(elasticsearch.NotFoundError):
        es.scroll(scroll_id=page["_scroll_id"], scroll="1m")


def test_reset(es: Elasticsearch) -> None:
    if REAL_CLUSTER:
        pytest.skip("server-specific")
    with EsCompatServer() as server:
        client = Elasticsearch(server.url)
        client.index(index="x", id="1", document={"a": 1})
        server.faults.add_latency(1)
        server.reset()
        assert not client.indices.exists(index="x")
        assert server.faults.counters()["requests"] == 1  # the exists call, after the reset
        client.close()


def test_stalled_request_is_a_client_timeout_then_service_resumes(server: EsCompatServer, es_url: str) -> None:
    server.faults.stall(2.0, path_pattern=r"^/$", count=1)
    client = Elasticsearch(es_url, request_timeout=0.5, max_retries=0)
    with pytest.raises(elasticsearch.ConnectionTimeout):
        client.info()
    assert client.info()["tagline"] == "You Know, for Search"
    assert server.faults.counters()["stalls"] == 1
    client.close()
