from __future__ import annotations

import json
from datetime import date

import pytest

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


def test_related_order_is_chronological_across_fractional_seconds_and_undated_ties():
    docs = [
        RelatedDocument("e", {"timestamp": "2024-10-01T10:00:00.5Z"}),
        RelatedDocument("d", {"timestamp": "2024-10-01T10:00:00Z"}),
        RelatedDocument("c", {"timestamp": "2024-10-01T09:59:59.999999Z"}),
        RelatedDocument("b", {"timestamp": "not a date"}),
        RelatedDocument("a", {}),
        RelatedDocument("f", {"timestamp": "0999-01-01T00:00:00Z"}),
    ]
    assert [d.get("timestamp") for d in order_related(docs, "timestamp")] == [
        "0999-01-01T00:00:00Z",
        "2024-10-01T09:59:59.999999Z",
        "2024-10-01T10:00:00Z",
        "2024-10-01T10:00:00.5Z",
        None,  # undated ones last, by id: a, then b
        "not a date",
    ]


def _json_dumps(body: dict) -> bytes:
    """The document's bytes as json.dumps writes them (what orjson must match where it writes them)."""
    try:
        return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except UnicodeEncodeError:
        return json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()


HOSTILE_VALUES = [
    "".join(chr(c) for c in range(0x20)) + '"\\/\x7f\x80\x9f\xa0é\u2028\u2029\ufeff\uffff\U0001f600\U0010ffff',
    "\ud800 lone surrogate",
    1e-05,  # json writes 1e-05, orjson 1e-5: json writes documents with floats
    0.1,
    -(2**63),
    2**64 - 1,
    2**64,  # past orjson's integers
    -(2**63) - 1,
    True,
    None,
    {"ö": 1, "o": 2, "\U0001f600": 3, "\uffff": 4, "": 5},
    [[[[[[["deep"]]]]]]],
]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
def test_document_bytes_are_json_dumps_bytes_whichever_writer_writes_them(value):
    message = {"field": value, "list": [value, {"k": value}], "timestamp": "2024-10-01T10:00:00Z"}
    related = {"history": [RelatedDocument("h1", {"note": value, "timestamp": "2024-10-01T11:00:00Z"})]}
    body = build_archive_document("m1", message, related, "timestamp")
    expected = {"message_id": "m1", "message": message, "history": [related["history"][0].source]}
    assert body == _json_dumps(expected)


def test_deeper_nesting_than_orjson_takes_is_written_by_json():
    deep: list = []
    for _ in range(300):
        deep = [deep]
    body = build_archive_document("m1", {"deep": deep}, {}, "timestamp")
    assert body == _json_dumps({"message_id": "m1", "message": {"deep": deep}})


def test_a_nan_is_still_refused():
    with pytest.raises(ValueError, match="Out of range float"):
        build_archive_document("m1", {"x": float("nan")}, {}, "timestamp")
