"""Point in time + ``search_after``, scroll / ``helpers.scan``, ``_bulk`` and ``_mget``."""

from __future__ import annotations

from collections.abc import Callable

import elasticsearch
import pytest
from elasticsearch import Elasticsearch, helpers

BASE_MS = 1_727_740_800_000  # 2024-10-01T00:00:00Z


@pytest.fixture
def stamped(es: Elasticsearch, make_index: Callable[..., str]) -> str:
    """250 documents, timestamps with many ties (5 per millisecond value)."""
    name = make_index("pit")
    actions = (
        {"_index": name, "_id": f"d{i:04d}", "timestamp": BASE_MS + (i // 5) * 1000, "message_id": f"m{i % 17}"}
        for i in range(250)
    )
    helpers.bulk(es, actions, refresh=True)
    return name


def _pit_pass(es: Elasticsearch, index: str, query: dict | None = None, size: int = 37) -> list[dict]:
    pit_id = es.open_point_in_time(index=index, keep_alive="1m")["id"]
    hits: list[dict] = []
    after = None
    try:
        while True:
            extra = {"search_after": after} if after else {}
            page = es.search(
                pit={"id": pit_id, "keep_alive": "1m"},
                query=query or {"match_all": {}},
                sort=[{"timestamp": {"order": "asc"}}, {"_shard_doc": "asc"}],
                size=size,
                track_total_hits=False,
                **extra,
            )
            pit_id = page.get("pit_id", pit_id)
            batch = page["hits"]["hits"]
            if not batch:
                return hits
            hits += batch
            after = batch[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit_id)


def test_pit_search_after_sees_every_document_once(es: Elasticsearch, stamped: str) -> None:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/paginate-search-results.html#search-after
    hits = _pit_pass(es, stamped)
    ids = [h["_id"] for h in hits]
    assert len(ids) == 250 and len(set(ids)) == 250
    stamps = [h["sort"][0] for h in hits]
    assert stamps == sorted(stamps)
    assert all(len(h["sort"]) == 2 and isinstance(h["sort"][1], int) for h in hits)


def test_pit_is_a_snapshot(es: Elasticsearch, stamped: str) -> None:
    pit_id = es.open_point_in_time(index=stamped, keep_alive="1m")["id"]
    try:
        es.index(index=stamped, id="late", document={"timestamp": BASE_MS}, refresh=True)
        es.delete(index=stamped, id="d0000", refresh=True)
        page = es.search(pit={"id": pit_id, "keep_alive": "1m"}, size=1000, track_total_hits=True)
        ids = {h["_id"] for h in page["hits"]["hits"]}
        assert "late" not in ids and "d0000" in ids
        assert page["hits"]["total"]["value"] == 250
    finally:
        es.close_point_in_time(id=pit_id)
    assert es.count(index=stamped)["count"] == 250


def test_pit_implicit_tiebreaker(es: Elasticsearch, stamped: str) -> None:
    # "All search requests that include a PIT automatically include an implicit tiebreaker called _shard_doc"
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/paginate-search-results.html#search-after
    pit_id = es.open_point_in_time(index=stamped, keep_alive="1m")["id"]
    try:
        page = es.search(pit={"id": pit_id}, sort=[{"timestamp": "asc"}], size=3)
        assert page["pit_id"]
        assert all(len(h["sort"]) == 2 for h in page["hits"]["hits"])
        after = page["hits"]["hits"][-1]["sort"]
        more = es.search(pit={"id": pit_id}, sort=[{"timestamp": "asc"}], size=3, search_after=after)
        first, second = [h["_id"] for h in page["hits"]["hits"]], [h["_id"] for h in more["hits"]["hits"]]
        assert not set(first) & set(second)
    finally:
        es.close_point_in_time(id=pit_id)


def test_pit_with_filtered_terms_query(es: Elasticsearch, stamped: str) -> None:
    hits = _pit_pass(es, stamped, {"terms": {"message_id": ["m1", "m2"]}}, size=4)
    assert sorted(h["_id"] for h in hits) == sorted(f"d{i:04d}" for i in range(250) if i % 17 in (1, 2))


def test_pit_with_index_in_path_is_rejected(es: Elasticsearch, stamped: str) -> None:
    pit_id = es.open_point_in_time(index=stamped, keep_alive="1m")["id"]
    try:
        with pytest.raises(elasticsearch.BadRequestError) as error:
            es.search(index=stamped, pit={"id": pit_id, "keep_alive": "1m"})
        assert error.value.body["error"]["type"] == "action_request_validation_exception"
    finally:
        es.close_point_in_time(id=pit_id)


def test_close_pit(es: Elasticsearch, stamped: str) -> None:
    pit_id = es.open_point_in_time(index=stamped, keep_alive="1m")["id"]
    closed = es.close_point_in_time(id=pit_id)
    assert closed["succeeded"] is True and closed["num_freed"] == 1
    with pytest.raises(elasticsearch.NotFoundError) as error:
        es.search(pit={"id": pit_id, "keep_alive": "1m"})
    assert error.value.body["error"]["root_cause"][0]["type"] == "search_context_missing_exception"


def test_scan_reads_everything(es: Elasticsearch, stamped: str) -> None:
    ids = [h["_id"] for h in helpers.scan(es, index=stamped, size=40, scroll="1m")]
    assert len(ids) == 250 and len(set(ids)) == 250
    some = list(helpers.scan(es, index=stamped, query={"query": {"term": {"message_id": "m3"}}}, size=4))
    assert len(some) == len([i for i in range(250) if i % 17 == 3])
    ordered = [h["_id"] for h in helpers.scan(es, index=stamped, preserve_order=True, query={"sort": ["timestamp"]})]
    assert len(ordered) == 250


def test_scroll_api(es: Elasticsearch, stamped: str) -> None:
    page = es.search(index=stamped, scroll="1m", size=100, sort=["_doc"])
    scroll_id = page["_scroll_id"]
    assert page["hits"]["total"]["value"] == 250
    total = len(page["hits"]["hits"])
    while True:
        page = es.scroll(scroll_id=scroll_id, scroll="1m")
        scroll_id = page["_scroll_id"]
        if not page["hits"]["hits"]:
            break
        total += len(page["hits"]["hits"])
    assert total == 250
    assert es.clear_scroll(scroll_id=scroll_id)["succeeded"] is True


def test_bulk_per_item_results(es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-bulk"
    es.create(index=name, id="taken", document={"a": 0}, refresh=True)
    operations = [
        {"index": {"_index": name, "_id": "1"}},
        {"a": 1},
        {"create": {"_index": name, "_id": "taken"}},
        {"a": 2},
        {"delete": {"_index": name, "_id": "never"}},
        {"create": {"_index": name, "_id": "2"}},
        {"a": 3},
        {"delete": {"_index": name, "_id": "taken"}},
    ]
    response = es.bulk(operations=operations, refresh=True)
    assert response["errors"] is True
    items = response["items"]
    assert items[0]["index"]["status"] == 201 and items[0]["index"]["result"] == "created"
    assert items[1]["create"]["status"] == 409
    assert items[1]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert items[2]["delete"]["status"] == 404 and items[2]["delete"]["result"] == "not_found"
    assert items[3]["create"]["status"] == 201
    assert items[4]["delete"]["status"] == 200 and items[4]["delete"]["result"] == "deleted"
    assert es.count(index=name)["count"] == 2
    with pytest.raises(helpers.BulkIndexError) as error:
        helpers.bulk(es, [{"_op_type": "create", "_index": name, "_id": "1", "a": 9}])
    assert error.value.errors[0]["create"]["status"] == 409


def test_bulk_mapping_error_is_per_item(es: Elasticsearch, make_index: Callable[..., str]) -> None:
    name = make_index("badts")
    ok, errors = helpers.bulk(
        es,
        [{"_index": name, "_id": "good", "timestamp": "2024-10-01"}, {"_index": name, "_id": "bad", "timestamp": "x"}],
        raise_on_error=False,
        refresh=True,
    )
    assert ok == 1
    assert errors[0]["index"]["status"] == 400
    assert errors[0]["index"]["error"]["type"] in ("document_parsing_exception", "mapper_parsing_exception")


def test_mget(es: Elasticsearch, make_index: Callable[..., str]) -> None:
    name = make_index("mget")
    helpers.bulk(es, ({"_index": name, "_id": str(i), "a": i, "b": {"c": i, "d": "x"}} for i in range(5)), refresh=True)
    docs = es.mget(index=name, ids=["1", "missing", "3"])["docs"]
    assert [d["found"] for d in docs] == [True, False, True]
    assert docs[0]["_source"] == {"a": 1, "b": {"c": 1, "d": "x"}}
    assert docs[1] == {"_index": name, "_id": "missing", "found": False}
    filtered = es.mget(index=name, ids=["2"], source_includes=["b.c"])["docs"][0]["_source"]
    assert filtered == {"b": {"c": 2}}
    excluded = es.mget(index=name, ids=["2"], source_excludes=["b"])["docs"][0]["_source"]
    assert excluded == {"a": 2}
    per_doc = es.mget(docs=[{"_index": name, "_id": "4", "_source": ["a"]}, {"_index": name, "_id": "0"}])["docs"]
    assert per_doc[0]["_source"] == {"a": 4}
    assert per_doc[1]["_source"]["b"]["d"] == "x"
    no_source = es.mget(index=name, docs=[{"_id": "1", "_source": False}])["docs"][0]
    assert no_source["found"] and "_source" not in no_source
