"""Fixtures for the Elasticsearch-compatible server conformance tests.

Without ``ES_TEST_URL`` the tests run against an in-process :class:`EsCompatServer`; with
``ES_TEST_URL=http://localhost:9200`` the very same tests run against that real cluster (unique index names per
test, deleted afterwards) and the server-specific tests (faults, version modes, ``expire_pits``) are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from devstack.search.server import EsCompatServer

ES_TEST_URL = os.environ.get("ES_TEST_URL")
REAL_CLUSTER = bool(ES_TEST_URL)


@pytest.fixture(scope="session")
def compat_server() -> Iterator[EsCompatServer | None]:
    """The session's in-process server, or ``None`` against a real cluster."""
    if REAL_CLUSTER:
        yield None
        return
    server = EsCompatServer(seed=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(compat_server: EsCompatServer | None) -> Iterator[EsCompatServer]:
    """The in-process server itself, for server-specific tests (skipped against a real cluster)."""
    if compat_server is None:
        pytest.skip("server-specific test: ES_TEST_URL points at a real cluster")
    compat_server.faults.clear()
    try:
        yield compat_server
    finally:
        compat_server.faults.clear()


@pytest.fixture
def es_url(compat_server: EsCompatServer | None) -> str:
    return ES_TEST_URL if compat_server is None else compat_server.url  # type: ignore[return-value]


@pytest.fixture
def es(es_url: str) -> Iterator[Elasticsearch]:
    client = Elasticsearch(es_url, request_timeout=60)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def index_name(es: Elasticsearch) -> Iterator[str]:
    """A unique index-name prefix for this test; every index starting with it is deleted afterwards."""
    name = f"conf-{uuid.uuid4().hex[:12]}"
    yield name
    es.options(ignore_status=404).indices.delete(index=f"{name}*", expand_wildcards="all")


@pytest.fixture
def make_index(es: Elasticsearch, index_name: str) -> Callable[..., str]:
    """Create ``<prefix>-<suffix>`` with the given mappings (``timestamp`` date, ``message_id`` keyword by default)."""

    def make(suffix: str = "idx", mappings: dict | None = None, settings: dict | None = None) -> str:
        name = f"{index_name}-{suffix}"
        if mappings is None:
            mappings = {"properties": {"timestamp": {"type": "date"}, "message_id": {"type": "keyword"}}}
        es.indices.create(index=name, mappings=mappings, settings=settings or {"number_of_shards": 1})
        return name

    return make
