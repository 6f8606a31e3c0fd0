"""``_search`` and ``_count``: query DSL, sort, paging, ``_source``, totals and their errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import elasticsearch
import pytest
from elasticsearch import Elasticsearch, helpers

BASE = datetime(2024, 10, 1, tzinfo=UTC)
CHANNELS = ["email", "chat", "sms"]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _docs(n: int = 30) -> list[dict]:
    docs = []
    for i in range(n):
        doc = {
            "message_id": f"m{i:03d}",
            "timestamp": _iso(BASE + timedelta(minutes=i, milliseconds=i)),
            "channel": CHANNELS[i % 3],
            "n": i,
            "subject": f"Quarterly report number {i}" if i % 2 else f"Lunch plans {i}",
        }
        if i % 5:
            doc["score_hint"] = i * 10
        docs.append(doc)
    return docs


@pytest.fixture
def messages(es: Elasticsearch, make_index: Callable[..., str]) -> str:
    name = make_index(
        "msgs",
        {
            "properties": {
                "message_id": {"type": "keyword"},
                "timestamp": {"type": "date"},
                "channel": {"type": "keyword"},
                "n": {"type": "long"},
                "score_hint": {"type": "long"},
                "subject": {"type": "text"},
            }
        },
    )
    helpers.bulk(es, ({"_index": name, "_id": d["message_id"], **d} for d in _docs()), refresh=True)
    return name


def _ids(response) -> list[str]:
    return [h["_id"] for h in response["hits"]["hits"]]


def test_match_all_defaults(es: Elasticsearch, messages: str) -> None:
    response = es.search(index=messages)
    assert response["hits"]["total"] == {"value": 30, "relation": "eq"}
    assert len(response["hits"]["hits"]) == 10  # default size
    assert response["timed_out"] is False
    assert response["_shards"]["failed"] == 0
    assert isinstance(response["took"], int)
    hit = response["hits"]["hits"][0]
    assert set(hit) >= {"_index", "_id", "_score", "_source"}
    assert "sort" not in hit


def test_get_and_post_search(es: Elasticsearch, messages: str) -> None:
    body = {"query": {"term": {"channel": "sms"}}, "size": 100}
    posted = es.perform_request("POST", f"/{messages}/_search", body=body, headers={"content-type": "application/json"})
    got = es.perform_request("GET", f"/{messages}/_search", body=body, headers={"content-type": "application/json"})
    assert sorted(_ids(posted)) == sorted(_ids(got))
    assert len(_ids(got)) == 10


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"term": {"channel": "chat"}}, 10),
        ({"term": {"channel": {"value": "chat"}}}, 10),
        ({"term": {"n": 7}}, 1),
        ({"terms": {"message_id": ["m001", "m002", "nope"]}}, 2),
        ({"ids": {"values": ["m003", "m004", "zzz"]}}, 2),
        ({"range": {"n": {"gte": 10, "lt": 20}}}, 10),
        ({"range": {"n": {"gt": 10, "lte": 20}}}, 10),
        ({"range": {"timestamp": {"gte": "2024-10-01T00:10:00Z"}}}, 20),
        ({"range": {"timestamp": {"gte": "2024-10-01T00:10:00.010Z"}}}, 20),
        ({"range": {"timestamp": {"gt": "2024-10-01T00:10:00.010Z"}}}, 19),
        ({"range": {"timestamp": {"lt": _millis(BASE + timedelta(minutes=5)), "format": "epoch_millis"}}}, 5),
        ({"range": {"timestamp": {"lt": str(_millis(BASE + timedelta(minutes=5))), "format": "epoch_millis"}}}, 5),
        (
            {"range": {"timestamp": {"gte": "2024-10-01T00:05:00", "format": "strict_date_optional_time"}}},
            25,
        ),
        ({"exists": {"field": "score_hint"}}, 24),
        ({"bool": {"must_not": [{"exists": {"field": "score_hint"}}]}}, 6),
        ({"bool": {"filter": [{"term": {"channel": "email"}}, {"range": {"n": {"gte": 15}}}]}}, 5),
        ({"bool": {"should": [{"term": {"n": 1}}, {"term": {"n": 2}}, {"term": {"n": 3}}]}}, 3),
        (
            {
                "bool": {
                    "should": [{"term": {"channel": "sms"}}, {"range": {"n": {"lt": 6}}}, {"term": {"n": 5}}],
                    "minimum_should_match": 2,
                }
            },
            2,
        ),
        ({"bool": {"must": [{"match_all": {}}], "must_not": [{"terms": {"channel": ["sms", "chat"]}}]}}, 10),
        ({"match": {"subject": "quarterly"}}, 15),
        ({"match": {"subject": "lunch report"}}, 30),
        ({"match": {"channel": "sms"}}, 10),
        ({"match_all": {}}, 30),
    ],
)
def test_query_dsl(es: Elasticsearch, messages: str, query: dict, expected: int) -> None:
    response = es.search(index=messages, query=query, size=100)
    assert response["hits"]["total"]["value"] == expected
    assert len(response["hits"]["hits"]) == expected
    assert es.count(index=messages, query=query)["count"] == expected


def test_sort_forms_and_sort_values(es: Elasticsearch, messages: str) -> None:
    asc = es.search(index=messages, sort=["timestamp"], size=3)
    assert _ids(asc) == ["m000", "m001", "m002"]
    assert asc["hits"]["hits"][1]["sort"] == [_millis(BASE + timedelta(minutes=1, milliseconds=1))]
    assert asc["hits"]["hits"][0]["_score"] is None and asc["hits"]["max_score"] is None
    desc = es.search(index=messages, sort=[{"timestamp": {"order": "desc"}}], size=2)
    assert _ids(desc) == ["m029", "m028"]
    short = es.search(index=messages, sort=[{"n": "desc"}], size=1)
    assert _ids(short) == ["m029"]
    multi = es.search(index=messages, sort=[{"channel": "asc"}, {"n": "desc"}], size=4)
    assert _ids(multi) == ["m028", "m025", "m022", "m019"]
    assert multi["hits"]["hits"][0]["sort"] == ["chat", 28]
    # Query-string form (sort=field:order), as the client sends a list of "f:o" strings.
    string_form = es.search(index=messages, sort="n:desc", size=2)
    assert _ids(string_form) == ["m029", "m028"]


def test_missing_values_sort_last(es: Elasticsearch, messages: str) -> None:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/sort-search-results.html#_missing_values
    asc = es.search(index=messages, sort=[{"score_hint": "asc"}], size=30)
    assert _ids(asc)[-6:] == ["m000", "m005", "m010", "m015", "m020", "m025"]
    desc = es.search(index=messages, sort=[{"score_hint": "desc"}], size=30)
    assert _ids(desc)[0] == "m029"
    assert len(set(_ids(desc)[-6:])) == 6 and all(int(i[1:]) % 5 == 0 for i in _ids(desc)[-6:])


def test_from_and_size(es: Elasticsearch, messages: str) -> None:
    page = es.search(index=messages, sort=["n"], from_=5, size=3)
    assert _ids(page) == ["m005", "m006", "m007"]
    assert es.search(index=messages, size=0)["hits"]["hits"] == []


def test_max_result_window(es: Elasticsearch, messages: str) -> None:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/index-modules.html#index-max-result-window
    es.search(index=messages, from_=9990, size=10)
    with pytest.raises(elasticsearch.BadRequestError) as error:
        es.search(index=messages, from_=9995, size=10)
    body = error.value.body
    assert body["status"] == 400
    assert body["error"]["type"] == "search_phase_execution_exception"
    root = body["error"]["root_cause"][0]
    assert root["type"] == "illegal_argument_exception"
    assert root["reason"].startswith(
        "Result window is too large, from + size must be less than or equal to: [10000] but was [10005]."
    )
    with pytest.raises(elasticsearch.BadRequestError):
        es.search(index=messages, size=10_001)


def test_sort_on_id_is_rejected(es: Elasticsearch, messages: str) -> None:
    # Since 8.0 indices.id_field_data.enabled defaults to false:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/mapping-id-field.html
    with pytest.raises(elasticsearch.BadRequestError) as error:
        es.search(index=messages, sort=["_id"])
    root = error.value.body["error"]["root_cause"][0]
    assert root["type"] == "illegal_argument_exception"
    assert root["reason"].startswith("Fielddata access on the _id field is disallowed")


def test_search_after_pages(es: Elasticsearch, messages: str) -> None:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/paginate-search-results.html#search-after
    seen: list[str] = []
    after = None
    while True:
        extra = {"search_after": after} if after else {}
        page = es.search(index=messages, sort=[{"timestamp": "desc"}, {"message_id": "asc"}], size=7, **extra)
        hits = page["hits"]["hits"]
        if not hits:
            break
        seen += [h["_id"] for h in hits]
        after = hits[-1]["sort"]
    assert seen == [f"m{i:03d}" for i in range(29, -1, -1)]


def test_search_after_with_range_and_secondary_sort(es: Elasticsearch, messages: str) -> None:
    query = {"bool": {"filter": [{"range": {"n": {"gte": 3, "lt": 25}}}, {"term": {"channel": "chat"}}]}}
    first = es.search(index=messages, query=query, sort=[{"channel": "asc"}, {"n": "asc"}], size=3)
    assert _ids(first) == ["m004", "m007", "m010"]
    second = es.search(
        index=messages, query=query, sort=[{"channel": "asc"}, {"n": "asc"}], size=3, search_after=["chat", 10]
    )
    assert _ids(second) == ["m013", "m016", "m019"]


def test_source_filtering(es: Elasticsearch, messages: str) -> None:
    q = {"ids": {"values": ["m001"]}}
    assert "_source" not in es.search(index=messages, query=q, source=False)["hits"]["hits"][0]
    only = es.search(index=messages, query=q, source=["message_id", "n"])["hits"]["hits"][0]["_source"]
    assert only == {"message_id": "m001", "n": 1}
    incl = es.search(index=messages, query=q, source={"includes": ["chan*"]})["hits"]["hits"][0]["_source"]
    assert incl == {"channel": "chat"}
    excl = es.search(index=messages, query=q, source={"excludes": ["subject", "timestamp"]})["hits"]["hits"][0]
    assert set(excl["_source"]) == {"message_id", "channel", "n", "score_hint"}
    params = es.search(index=messages, query=q, source_includes=["n"])["hits"]["hits"][0]["_source"]
    assert params == {"n": 1}
    params = es.search(index=messages, query=q, source_excludes=["subject"])["hits"]["hits"][0]["_source"]
    assert "subject" not in params and "n" in params


def test_track_total_hits(es: Elasticsearch, messages: str) -> None:
    assert "total" not in es.search(index=messages, track_total_hits=False)["hits"]
    assert es.search(index=messages, track_total_hits=True)["hits"]["total"] == {"value": 30, "relation": "eq"}
    assert es.search(index=messages, track_total_hits=5)["hits"]["total"] == {"value": 5, "relation": "gte"}


def test_default_total_is_capped_at_10000(es: Elasticsearch, make_index: Callable[..., str]) -> None:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/search-your-data.html#track-total-hits
    name = make_index("big")
    helpers.bulk(es, ({"_index": name, "_id": str(i), "n": i} for i in range(10_050)), refresh=True)
    assert es.search(index=name, size=0)["hits"]["total"] == {"value": 10_000, "relation": "gte"}
    assert es.search(index=name, size=0, track_total_hits=True)["hits"]["total"]["value"] == 10_050
    assert es.count(index=name)["count"] == 10_050


def test_multi_index_wildcards_and_all(es: Elasticsearch, make_index: Callable[..., str], index_name: str) -> None:
    a, b = make_index("a"), make_index("b")
    es.index(index=a, id="1", document={"timestamp": "2024-10-01T00:00:00.000Z"}, refresh=True)
    es.index(index=b, id="2", document={"timestamp": "2024-10-02T00:00:00.000Z"}, refresh=True)
    both = es.search(index=f"{a},{b}", sort=["timestamp"])
    assert [(h["_index"], h["_id"]) for h in both["hits"]["hits"]] == [(a, "1"), (b, "2")]
    assert es.count(index=f"{index_name}-*")["count"] == 2
    assert es.search(index=[a, b])["hits"]["total"]["value"] == 2
    found = es.search(query={"ids": {"values": ["1", "2"]}}, index=f"{index_name}*")
    assert found["hits"]["total"]["value"] == 2
    assert es.search(index=f"{index_name}-nothing-*")["hits"]["total"]["value"] == 0


def test_unknown_query_is_a_parsing_error(es: Elasticsearch, messages: str) -> None:
    with pytest.raises(elasticsearch.BadRequestError) as error:
        es.search(index=messages, query={"no_such_query": {}})
    assert error.value.body["error"]["root_cause"][0]["type"] in (
        "parsing_exception",
        "named_object_not_found_exception",
    )


def test_filter_path(es: Elasticsearch, messages: str) -> None:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/common-options.html#common-options-response-filtering
    response = es.search(index=messages, query={"ids": {"values": ["m001"]}}, filter_path="hits.hits._id,took")
    assert set(response) == {"took", "hits"}
    assert response["hits"] == {"hits": [{"_id": "m001"}]}
    response = es.search(index=messages, query={"ids": {"values": ["m001"]}}, filter_path="-hits.hits._source")
    assert "_source" not in response["hits"]["hits"][0] and response["hits"]["total"]["value"] == 1


def test_multi_valued_sort_and_terms(es: Elasticsearch, make_index: Callable[..., str]) -> None:
    # Multi-valued fields sort by their min (asc) / max (desc) value by default:
    # https://www.elastic.co/guide/en/elasticsearch/reference/current/sort-search-results.html#_sort_mode_option
    name = make_index("multi", {"properties": {"v": {"type": "long"}, "tags": {"type": "keyword"}}})
    docs = {"a": {"v": [5, 1], "tags": ["x", "y"]}, "b": {"v": [3], "tags": ["y"]}, "c": {"v": [2, 9], "tags": "z"}}
    helpers.bulk(es, ({"_index": name, "_id": k, **v} for k, v in docs.items()), refresh=True)
    assert _ids(es.search(index=name, sort=[{"v": "asc"}])) == ["a", "c", "b"]
    assert _ids(es.search(index=name, sort=[{"v": "desc"}])) == ["c", "a", "b"]
    assert sorted(_ids(es.search(index=name, query={"term": {"tags": "y"}}))) == ["a", "b"]
    assert sorted(_ids(es.search(index=name, query={"range": {"v": {"gte": 8}}}))) == ["c"]


def test_update_and_source_params(es: Elasticsearch, index_name: str) -> None:
    name = f"{index_name}-upd"
    es.index(index=name, id="1", document={"a": 1, "b": {"c": 2}}, refresh=True)
    updated = es.update(index=name, id="1", doc={"b": {"d": 3}}, refresh=True)
    assert updated["result"] == "updated" and updated["_version"] == 2
    assert es.get(index=name, id="1")["_source"] == {"a": 1, "b": {"c": 2, "d": 3}}
    assert es.get(index=name, id="1", source_includes=["b.d"])["_source"] == {"b": {"d": 3}}
    assert es.get(index=name, id="1", source_excludes=["b"])["_source"] == {"a": 1}
    assert "_source" not in es.get(index=name, id="1", source=False)
    assert es.get_source(index=name, id="1")["a"] == 1
    with pytest.raises(elasticsearch.NotFoundError):
        es.update(index=name, id="nope", doc={"a": 1})
    assert es.update(index=name, id="new", doc={"a": 5}, doc_as_upsert=True)["result"] == "created"
