from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from message_export.keys import (
    ArchiveKeyError,
    archive_key,
    decode_message_id,
    encode_message_id,
    parse_archive_key,
)

HOSTILE_IDS = [
    "plain-id_1.0",
    "UPPER",
    "upper",
    "trailing ",
    "trailing  ",
    unicodedata.normalize("NFC", "café"),
    unicodedata.normalize("NFD", "café"),
    "a/b/../c",
    "..",
    ".",
    "100%",
    "%41",
    "~tilde",
    "b64~looks-like-marker",
    "tab\tnew\nline\x00nul\x7f",
    'quote\' "double" `back`',
    "'; DROP TABLE message_tracking; --",
    "emoji 🚀 中文",
    "x" * 512,
    "é" * 256,
    "🚀" * 128,
]


@pytest.mark.parametrize("message_id", HOSTILE_IDS)
def test_round_trip(message_id):
    token = encode_message_id(message_id)
    assert decode_message_id(token) == message_id
    key = archive_key("messages", date(2024, 10, 1), message_id)
    assert parse_archive_key(key) == ("messages", date(2024, 10, 1), message_id)
    assert len(key.encode()) <= 1024
    assert "/" not in token


def test_encoding_is_collision_free_over_hostile_ids():
    tokens = [encode_message_id(m) for m in HOSTILE_IDS]
    assert len(set(tokens)) == len(HOSTILE_IDS)


def test_case_and_normalisation_differences_give_different_keys():
    assert encode_message_id("Abc") != encode_message_id("abc")
    assert encode_message_id(unicodedata.normalize("NFC", "é")) != encode_message_id(unicodedata.normalize("NFD", "é"))


def test_readable_ids_stay_readable():
    assert encode_message_id("msg-2024.10.01_0001") == "msg-2024.10.01_0001"
    assert archive_key("messages/", date(2024, 10, 1), "a b") == "messages/dt=2024-10-01/a%20b.json"


def test_long_non_ascii_ids_use_base64_form():
    assert encode_message_id("é" * 256).startswith("b64~")


@pytest.mark.parametrize("bad", ["", "x" * 513])
def test_ids_outside_elasticsearch_limits_are_rejected(bad):
    with pytest.raises(ArchiveKeyError):
        encode_message_id(bad)


def test_parse_rejects_foreign_keys():
    with pytest.raises(ArchiveKeyError):
        parse_archive_key("messages/2024-10-01/x.json")
