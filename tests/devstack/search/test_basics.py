"""Cluster, index and document APIs through the official client."""

from __future__ import annotations

import elasticsearch
import pytest
from elasticsearch import Elasticsearch


def test_info_and_product_header(es: Elasticsearch) -> None:
    info = es.info()
    assert info["tagline"] == "You Know, for Search"
    assert int(info["version"]["number"].split(".")[0]) >= 8
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert es.ping()
    assert es.cluster.health()["status"] in ("green", "yellow")


def test_index_lifecycle(es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-life"
    assert not es.indices.exists(index=name)
    created = es.indices.create(index=name, mappings={"properties": {"timestamp": {"type": "date"}}})
    assert created["acknowledged"] and created["index"] == name
    assert es.indices.exists(index=name)
    mapping = es.indices.get_mapping(index=name)
    assert mapping[name]["mappings"]["properties"]["timestamp"] == {"type": "date"}
    with pytest.raises(elasticsearch.BadRequestError) as error:
        es.indices.create(index=name)
    assert error.value.error == "resource_already_exists_exception"
    assert error.value.body["status"] == 400
    assert es.indices.delete(index=name)["acknowledged"]
    assert not es.indices.exists(index=name)


def test_missing_index_errors(es: Elasticsearch, index_name: str) -> None:
    missing = f"{index_name}-missing"
    for call in (
        lambda: es.search(index=missing),
        lambda: es.count(index=missing),
        lambda: es.get(index=missing, id="1"),
        lambda: es.indices.delete(index=missing),
        lambda: es.indices.get_mapping(index=missing),
        lambda: es.open_point_in_time(index=missing, keep_alive="1m"),
    ):
        with pytest.raises(elasticsearch.NotFoundError) as error:
            call()
        body = error.value.body
        assert body["status"] == 404
        assert body["error"]["type"] == "index_not_found_exception"
        assert body["error"]["root_cause"][0]["type"] == "index_not_found_exception"
        assert body["error"]["reason"] == f"no such index [{missing}]"
        assert body["error"]["index"] == missing


def test_document_crud(es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-docs"
    first = es.index(index=name, id="a", document={"timestamp": "2024-10-01T13:45:00.123Z", "n": 1}, refresh=True)
    assert first["result"] == "created" and first["_version"] == 1 and first.meta.status == 201
    second = es.index(index=name, id="a", document={"timestamp": "2024-10-01T13:45:00.123Z", "n": 2})
    assert second["result"] == "updated" and second["_version"] == 2
    doc = es.get(index=name, id="a")
    assert doc["found"] and doc["_source"] == {"timestamp": "2024-10-01T13:45:00.123Z", "n": 2}
    assert doc["_version"] == 2
    with pytest.raises(elasticsearch.NotFoundError) as error:
        es.get(index=name, id="nope")
    assert error.value.body == {"_index": name, "_id": "nope", "found": False}
    assert es.exists(index=name, id="a")
    assert not es.exists(index=name, id="nope")
    assert es.delete(index=name, id="a")["result"] == "deleted"
    with pytest.raises(elasticsearch.NotFoundError) as error:
        es.delete(index=name, id="a")
    assert error.value.body["result"] == "not_found"


def test_create_conflict(es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-create"
    assert es.create(index=name, id="x", document={"a": 1})["result"] == "created"
    with pytest.raises(elasticsearch.ConflictError) as error:
        es.create(index=name, id="x", document={"a": 2})
    body = error.value.body
    assert body["status"] == 409
    assert body["error"]["type"] == "version_conflict_engine_exception"
    assert body["error"]["reason"] == "[x]: version conflict, document already exists (current version [1])"
    assert es.get(index=name, id="x")["_source"] == {"a": 1}


def test_auto_created_index_and_dynamic_mapping(es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-dyn"
    es.index(
        index=name,
        id="1",
        document={"when": "2024-10-01T00:00:00.000Z", "subject": "Hello world", "count": 3, "ratio": 0.5, "ok": True},
        refresh=True,
    )
    props = es.indices.get_mapping(index=name)[name]["mappings"]["properties"]
    assert props["when"]["type"] == "date"
    assert props["subject"] == {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    assert props["count"]["type"] == "long"
    assert props["ratio"]["type"] == "float"
    assert props["ok"]["type"] == "boolean"
    hits = es.search(index=name, query={"term": {"subject.keyword": "Hello world"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["1"]
    hits = es.search(index=name, query={"match": {"subject": "WORLD"}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["1"]


def test_gzip_request_bodies(es_url: str, index_name: str) -> None:
    # http_compress=True gzips request bodies (Content-Encoding: gzip) and sends Accept-Encoding: gzip.
    with Elasticsearch(es_url, http_compress=True) as client:
        name = f"{index_name}-gzip"
        client.bulk(operations=[{"index": {"_index": name, "_id": "1"}}, {"a": "x" * 5000}], refresh=True)
        assert client.search(index=name, query={"match_all": {}})["hits"]["hits"][0]["_source"]["a"] == "x" * 5000
        client.indices.delete(index=name)


def test_keep_alive_connection_reuse(es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-ka"
    for i in range(50):
        es.index(index=name, id=str(i), document={"i": i})
    es.indices.refresh(index=name)
    assert es.count(index=name)["count"] == 50
