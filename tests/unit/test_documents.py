from __future__ import annotations

import json
from datetime import date

from message_export.documents import (
    RelatedDocument,
    build_archive_document,
    message_day,
    order_related,
    parse_timestamp,
)


def test_body_shape_sorted_keys_and_empty_sections():
    body = build_archive_document(
        "m1",
        {"z": 1, "a": "é", "timestamp": "2024-10-01T10:00:00Z"},
        {"history": [], "status": [], "audit": []},
        "timestamp",
    )
    assert (
        body
        == (
            '{"audit":[],"history":[],"message":{"a":"é","timestamp":"2024-10-01T10:00:00Z","z":1},'
            '"message_id":"m1","status":[]}'
        ).encode()
    )


def test_related_ordered_by_timestamp_then_id_across_formats():
    docs = [
        RelatedDocument("b", {"timestamp": "2024-10-01T10:00:00Z", "n": 2}),
        RelatedDocument("a", {"timestamp": "2024-10-01T12:00:00+02:00", "n": 1}),  # same instant as b
        RelatedDocument("c", {"timestamp": 1727776800000 - 3600_000, "n": 0}),  # epoch millis, 09:00Z
        RelatedDocument("d", {"n": 9}),  # no timestamp: last
    ]
    assert [d["n"] for d in order_related(docs, "timestamp")] == [0, 1, 2, 9]


def test_deterministic_bytes_regardless_of_input_order():
    a = RelatedDocument("1", {"timestamp": "2024-10-01T01:00:00Z", "k": {"y": 1, "x": 2}})
    b = RelatedDocument("2", {"timestamp": "2024-10-01T02:00:00Z"})
    one = build_archive_document("m", {"b": 1, "a": 2}, {"history": [a, b]}, "timestamp")
    two = build_archive_document("m", {"a": 2, "b": 1}, {"history": [b, a]}, "timestamp")
    assert one == two


def test_escape_heavy_and_nested_content_round_trips():
    nested: dict = {"v": '"quotes" \\ back\\slash \n\t \u2028 \x00'}
    for _ in range(200):
        nested = {"n": nested}
    body = build_archive_document("id\"'", nested, {}, "timestamp")
    assert json.loads(body) == {"message_id": "id\"'", "message": nested}


def test_lone_surrogates_are_kept_as_escapes():
    body = build_archive_document("m", {"text": "\ud800"}, {}, "timestamp")
    assert json.loads(body)["message"]["text"] == "\ud800"


def test_timestamps_and_partition_day():
    assert parse_timestamp("2024-10-01T23:30:00-01:00").date() == date(2024, 10, 2)
    assert parse_timestamp(0).year == 1970
    assert parse_timestamp("garbage") is None
    assert message_day({"timestamp": "2024-10-01T23:59:59.999Z"}, "timestamp", date(2000, 1, 1)) == date(2024, 10, 1)
    assert message_day({}, "timestamp", date(2024, 10, 3)) == date(2024, 10, 3)
