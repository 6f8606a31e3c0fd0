"""The Elasticsearch hook against a stub client: which failures are retryable, and resuming an expired point in time.

The stub stands where the hook's ``client`` goes; no server is involved. Over the wire the same
behaviour is tested in ``tests/integration/test_search_errors.py`` and ``test_staged_extraction.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, ConnectionTimeout, UnsupportedProductError
from elasticsearch import ConnectionError as EsConnectionError

from message_export.hooks.search import MessageSearchHook, client_arguments
from message_export.hooks.search_errors import (
    PartialResultsError,
    SearchAccessError,
    SearchCompatibilityError,
    SearchError,
    SearchUnavailableError,
)
from message_export.windows import Window

CONN_ID = "es_unit"
WINDOW = Window.for_day(date(2024, 10, 1))
DAY_START_MS = 1_727_740_800_000  # 2024-10-01T00:00:00Z


def api_error(status: int, body: Any = None) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.01, NodeConfig("http", "127.0.0.1", 9200))
    return ApiError(f"HTTP {status}", meta=meta, body=body if body is not None else {})


def pit_missing() -> ApiError:
    return api_error(404, {"error": {"type": "search_context_missing_exception", "reason": "No search context"}})


class StubIndices:
    def __init__(self, exists: bool = True) -> None:
        self.answer = exists

    def exists(self, index: str) -> bool:
        return self.answer


class StubClient:
    """The client methods the hook calls; each call takes the next scripted answer (an exception is raised)."""

    def __init__(self, answers: list[Any] | None = None) -> None:
        self.answers = list(answers or [])
        self.calls: list[str] = []
        self.indices = StubIndices()

    def _next(self, name: str) -> Any:
        self.calls.append(name)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def count(self, index: str, body: dict[str, Any]) -> Any:
        return self._next("count")


@pytest.fixture
def make_hook(monkeypatch: pytest.MonkeyPatch) -> Callable[..., MessageSearchHook]:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps({"conn_type": "elasticsearch", "host": "es.example", "port": 9200, "schema": "https"}),
    )

    def make(client: Any, max_retries: int = 0) -> MessageSearchHook:
        hook = MessageSearchHook(CONN_ID, max_retries=max_retries, request_timeout=5)
        hook.client = client  # where the hook keeps its configured client
        return hook

    return make


COUNT = {"count": 7, "_shards": {"total": 1, "failed": 0}, "timed_out": False}


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        (api_error(429), SearchUnavailableError, True),
        (api_error(503), SearchUnavailableError, True),
        (EsConnectionError("connection refused"), SearchUnavailableError, True),
        (ConnectionTimeout("read timed out"), SearchUnavailableError, True),
        (api_error(401), SearchAccessError, False),
        (api_error(403), SearchAccessError, False),
        (api_error(406), SearchCompatibilityError, False),
        (api_error(400, {"error": {"type": "parsing_exception", "reason": "bad"}}), SearchError, False),
        (
            UnsupportedProductError("not elasticsearch", meta=api_error(200).meta, body={}),
            SearchCompatibilityError,
            False,
        ),
    ],
)
def test_a_failure_is_typed_retryable_or_not_and_names_the_connection(make_hook, error, kind, retryable):
    hook = make_hook(StubClient([error]))

    with pytest.raises(SearchError) as raised:
        hook.count_window("messages", "timestamp", WINDOW)

    assert type(raised.value) is kind
    assert raised.value.retryable is retryable
    assert f"Elasticsearch connection '{CONN_ID}' (https://es.example:9200)" in str(raised.value)


def test_transient_failures_are_retried_through_the_hook_then_answered(make_hook):
    client = StubClient([api_error(503), EsConnectionError("reset"), COUNT])

    assert make_hook(client, max_retries=2).count_window("messages", "timestamp", WINDOW) == 7
    assert client.calls == ["count", "count", "count"]


def test_a_refused_request_is_not_retried(make_hook):
    client = StubClient([api_error(403), COUNT])

    with pytest.raises(SearchAccessError):
        make_hook(client, max_retries=3).count_window("messages", "timestamp", WINDOW)
    assert client.calls == ["count"]


def test_failed_shards_are_a_retryable_partial_result(make_hook):
    partial = {"count": 5, "_shards": {"total": 3, "failed": 1}, "timed_out": False}

    with pytest.raises(PartialResultsError) as raised:
        make_hook(StubClient([partial])).count_window("messages", "timestamp", WINDOW)
    assert raised.value.retryable


class PagingClient:
    """A point-in-time paging client over fixed documents that lets the first point in time expire once.

    Documents are ``(id, timestamp in ms)`` sorted as the cluster sorts them (timestamp, then the
    tiebreaker); sort values are ``[timestamp, position]``. A resumed query's ``gte`` filter is honoured.
    """

    def __init__(self, documents: list[tuple[str, int]], expire_on_search: int) -> None:
        self.documents = documents
        self.expire_on_search = expire_on_search
        self.searches: list[dict[str, Any]] = []
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.live: set[str] = set()

    def open_point_in_time(self, index: str, keep_alive: str) -> dict[str, str]:
        pit_id = f"pit-{len(self.opened) + 1}"
        self.opened.append(pit_id)
        self.live.add(pit_id)
        return {"id": pit_id}

    def close_point_in_time(self, id: str) -> dict[str, bool]:
        self.closed.append(id)
        return {"succeeded": True}

    def search(self, index: str | None, body: dict[str, Any], allow_partial_search_results: bool) -> dict[str, Any]:
        self.searches.append(body)
        pit_id = body["pit"]["id"]
        if len(self.searches) == self.expire_on_search:
            self.live.discard(pit_id)
        if pit_id not in self.live:
            raise pit_missing()
        since = _resume_from(body["query"])
        after = tuple(body.get("search_after") or (-1, -1))
        hits = [
            {"_id": doc_id, "sort": [stamp, position]}
            for position, (doc_id, stamp) in enumerate(self.documents)
            if (since is None or stamp >= since) and (stamp, position) > after
        ][: body["size"]]
        return {"pit_id": pit_id, "hits": {"hits": hits}, "_shards": {"total": 1, "failed": 0}, "timed_out": False}


def _resume_from(query: dict[str, Any]) -> int | None:
    for clause in query.get("bool", {}).get("filter", []):
        bound = clause["range"]["timestamp"]
        if bound.get("format") == "epoch_millis":
            return int(bound["gte"])
    return None


def test_an_expired_point_in_time_is_reopened_and_resumed_without_losing_or_repeating_an_id(make_hook):
    t = DAY_START_MS
    documents = [("a", t), ("b", t), ("c", t + 1), ("d", t + 1), ("e", t + 1), ("f", t + 2), ("g", t + 3)]
    # the first page ends inside timestamp t+1 (c); the second search finds the point in time expired
    client = PagingClient(documents, expire_on_search=2)

    pages = list(make_hook(client).iter_window_ids("messages", "timestamp", WINDOW, page_size=3))

    ids = [message_id for page in pages for message_id in page]
    assert ids == ["a", "b", "c", "d", "e", "f", "g"]
    assert client.opened == ["pit-1", "pit-2"]
    assert client.closed == ["pit-2"]
    resumed = client.searches[2]
    assert resumed["pit"]["id"] == "pit-2" and "search_after" not in resumed
    assert _resume_from(resumed["query"]) == t + 1  # from the last page's timestamp, inclusive


def test_paging_ends_on_a_short_page_and_releases_the_point_in_time(make_hook):
    client = PagingClient([("a", DAY_START_MS), ("b", DAY_START_MS + 1)], expire_on_search=0)

    pages = list(make_hook(client).iter_window_ids("messages", "timestamp", WINDOW, page_size=5))

    assert pages == [["a", "b"]]
    assert len(client.searches) == 1 and client.closed == ["pit-1"]


def test_another_search_failure_is_not_taken_for_an_expired_point_in_time(make_hook):
    client = PagingClient([("a", DAY_START_MS)], expire_on_search=0)

    def index_missing(**_kwargs: Any) -> dict[str, Any]:
        raise api_error(404, {"error": {"type": "index_not_found_exception", "reason": "no such index"}})

    client.search = index_missing  # type: ignore[method-assign]

    with pytest.raises(ApiError):
        list(make_hook(client).iter_window_ids("messages", "timestamp", WINDOW))
    assert client.opened == ["pit-1"] and client.closed == ["pit-1"]


def test_the_client_arguments_are_read_from_the_connection_as_the_provider_reads_them():
    from airflow.sdk import Connection

    conn = Connection(
        conn_id="es",
        conn_type="elasticsearch",
        host="es.example",
        port=9243,
        schema="https",
        login="reader",
        password="secret",
        extra=json.dumps({"ca_certs": "/etc/ca.pem", "http_compress": 1, "fetch_size": 100}),
    )

    hosts, arguments = client_arguments(conn)

    assert hosts == ["https://es.example:9243/"]
    assert arguments == {"ca_certs": "/etc/ca.pem", "http_compress": True, "basic_auth": ("reader", "secret")}
