"""``devstack.sample_data``: deterministic generation, hostile ids, seeding, and the scale measurement."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from devstack.sample_data import (
    MESSAGES,
    RELATED,
    SampleSpec,
    create_indices,
    generate_actions,
    measure,
    message_ids,
    seed,
)
from devstack.search.server import EsCompatServer
from tests.devstack.search.conftest import REAL_CLUSTER

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
START = datetime(2024, 10, 1, tzinfo=UTC)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_generation_is_deterministic() -> None:
    spec = SampleSpec(start=START, days=2, messages_per_day=50, seed=3, body_bytes=300)
    first = list(generate_actions(spec))
    assert first == list(generate_actions(spec))
    other = list(itertools.islice(generate_actions(SampleSpec(START, 2, 50, seed=4, body_bytes=300)), 5))
    assert other != first[:5]


def test_messages_and_related_shape() -> None:
    spec = SampleSpec(start=START, days=2, messages_per_day=200, seed=1, body_bytes=512, max_related=3)
    actions = list(generate_actions(spec))
    messages = [a for a in actions if a["_index"] == MESSAGES]
    assert [m["_id"] for m in messages] == list(message_ids(spec))
    assert len({m["_id"] for m in messages}) == 400
    stamps = {}
    for number, message in enumerate(messages):
        source = message["_source"]
        assert ISO.match(source["timestamp"])
        day_start = START + timedelta(days=number // 200)
        assert day_start <= _parse(source["timestamp"]) < day_start + timedelta(days=1)
        assert len(source["body"]) == 512
        assert {"sender", "recipients", "subject", "channel", "thread_id"} <= set(source)
        stamps[message["_id"]] = _parse(source["timestamp"])
    per_message = Counter()
    for action in actions:
        if action["_index"] == MESSAGES:
            continue
        assert action["_index"] in RELATED.values()
        source = action["_source"]
        assert ISO.match(source["timestamp"])
        assert _parse(source["timestamp"]) >= stamps[source["message_id"]]
        per_message[(action["_index"], source["message_id"])] += 1
    assert max(per_message.values()) <= 3
    assert len({a["_id"] for a in actions if a["_index"] != MESSAGES}) == len(actions) - len(messages)


def test_hostile_ids() -> None:
    spec = SampleSpec(start=START, days=1, messages_per_day=400, seed=2, id_style="hostile")
    ids = list(message_ids(spec))
    assert len(set(ids)) == len(ids)
    assert all(0 < len(i.encode()) <= 512 for i in ids)
    assert any(len(i.encode()) == 512 for i in ids)
    nfc = {unicodedata.normalize("NFC", i) for i in ids}
    assert len(nfc) < len(ids)  # NFC/NFD pairs collide once normalised
    assert len({i.lower() for i in ids}) < len(ids)  # case variants
    assert len({i.strip() for i in ids}) <= len(ids)
    assert any("/" in i for i in ids) and any(".." in i for i in ids) and any("%" in i for i in ids)
    assert any(any(ord(c) < 32 for c in i) for i in ids)
    assert any("'" in i and '"' in i for i in ids) and any("DROP TABLE" in i for i in ids)


@pytest.mark.skipif(REAL_CLUSTER, reason="writes the fixed sample index names; in-process server only")
def test_seed_and_read_back_hostile_ids() -> None:
    spec = SampleSpec(start=START, days=2, messages_per_day=120, seed=5, body_bytes=256, id_style="hostile")
    with EsCompatServer() as server:
        es = Elasticsearch(server.url)
        create_indices(es)
        create_indices(es)  # existing indices are skipped
        summary = seed(es, spec, chunk_size=100)
        assert summary.messages == 240
        assert summary.per_day == {"2024-10-01": 120, "2024-10-02": 120}
        expected_related = Counter(a["_index"] for a in generate_actions(spec) if a["_index"] != MESSAGES)
        assert summary.related == {name: expected_related[name] for name in RELATED.values()}
        assert es.count(index=MESSAGES)["count"] == 240
        ids = list(message_ids(spec))
        docs = es.mget(index=MESSAGES, ids=ids)["docs"]
        assert [d["_id"] for d in docs] == ids and all(d["found"] for d in docs)
        for doc_id in ids[:25]:
            assert es.get(index=MESSAGES, id=doc_id)["_id"] == doc_id
        related = es.search(index=RELATED["history"], query={"terms": {"message_id": ids[:20]}}, size=1000)
        assert {h["_source"]["message_id"] for h in related["hits"]["hits"]} <= set(ids[:20])
        mapping = es.indices.get_mapping(index=RELATED["audit"])[RELATED["audit"]]["mappings"]["properties"]
        assert mapping["message_id"]["type"] == "keyword" and mapping["timestamp"]["type"] == "date"
        es.close()


@pytest.mark.skipif(REAL_CLUSTER, reason="measures the in-process server")
def test_measure_small() -> None:
    result = measure(20_000, page=3_000)
    assert result["seen"] == 20_000 and result["duplicates"] == 0
    assert result["mget_found"] == result["mget_ids"] == 1000


@pytest.mark.slow
@pytest.mark.skipif(REAL_CLUSTER, reason="measures the in-process server")
def test_measure_one_million() -> None:
    # ~1.5 minutes: part of `make test`, left out of `make test-quick` (-m "not slow").
    result = measure(1_000_000)
    print(
        f"\n1M documents: load {result['load_seconds']}s, PIT/search_after pass {result['pass_seconds']}s "
        f"({result['pages']} pages of 10,000), mget of 1,000 ids {result['mget_seconds'] * 1000:.1f} ms"
    )
    assert result["loaded"] == 1_000_000
    assert result["seen"] == 1_000_000 and result["duplicates"] == 0
    assert result["mget_found"] == 1000
