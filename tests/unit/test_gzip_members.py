"""The batch layout's framing: each message one gzip member, the object one gzip stream, offsets exact."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from datetime import date

import pytest

from message_export.gzip_members import (
    MemberError,
    MemberFramer,
    batch_object_key,
    gzip_member,
    http_range,
    is_batch_object_key,
    read_member,
)
from message_export.keys import ArchiveKeyError, parse_archive_key

DOCUMENTS = [b'{"message_id":"a"}', b'{"message_id":"b","x":"\xc3\xa9"}', b"{}", b'{"big":"' + b"z" * 70_000 + b'"}']


def frame_all(documents: list[bytes]) -> tuple[bytes, list]:
    framer = MemberFramer()
    data = bytearray()
    placed = []
    for document in documents:
        member, framed = framer.frame(document)
        assert framed.offset == len(data)
        data += member
        placed.append(framed)
    assert framer.size == len(data)
    assert framer.digest() == hashlib.sha256(data).digest()
    return bytes(data), placed


def test_the_object_is_one_gzip_stream_of_json_lines_in_order():
    data, _ = frame_all(DOCUMENTS)
    assert gzip.decompress(data) == b"".join(d + b"\n" for d in DOCUMENTS)


def test_each_byte_range_alone_decompresses_to_exactly_its_document():
    data, placed = frame_all(DOCUMENTS)
    for document, framed in zip(DOCUMENTS, placed, strict=True):
        member = data[framed.offset : framed.offset + framed.length]
        assert read_member(member) == document
        assert framed.document_bytes == len(document)
        assert framed.document_sha256 == hashlib.sha256(document).digest()


def test_members_are_deterministic():
    assert gzip_member(b'{"a":1}') == gzip_member(b'{"a":1}')
    assert frame_all(DOCUMENTS)[0] == frame_all(DOCUMENTS)[0]


def _sized_documents() -> list[bytes]:
    """Documents of many sizes, up to past zlib's 32 KB window, compressible and not."""
    sizes = sorted({*range(0, 300, 7), *(2**bits + step for bits in range(9, 17) for step in (-263, -1, 0, 1))})
    repetitive = b'{"message_id":"m-0001","event":"delivered"},' * 2000
    incompressible = hashlib.shake_256(b"seed").digest(70_000).replace(b"\n", b" ")
    return [source[:size] for size in sizes for source in (repetitive, incompressible)]


def test_every_member_is_standard_gzip_that_any_reader_decompresses_to_its_line():
    for document in _sized_documents():
        member = gzip_member(document)
        assert gzip.decompress(member) == document + b"\n", f"a document of {len(document)} bytes"
        assert zlib.decompress(member, wbits=16 + zlib.MAX_WBITS) == document + b"\n"
        assert read_member(member) == document
        assert member[:4] == b"\x1f\x8b\x08\x00" and member[4:8] == bytes(4)  # deflate, no name, mtime 0
        assert gzip_member(document) == member  # deterministic


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"not gzip at all",
        gzip_member(b"{}")[:-3],  # truncated
        gzip_member(b"{}") + gzip_member(b"{}"),  # two members: a range one member too long
        gzip.compress(b"{}", mtime=0),  # no newline: not a line of this layout
        gzip.compress(b"{}\n{}\n", mtime=0),  # two lines
    ],
    ids=["empty", "garbage", "truncated", "two-members", "no-newline", "two-lines"],
)
def test_bytes_that_are_not_one_members_line_are_refused(bad: bytes):
    with pytest.raises(MemberError):
        read_member(bad)


def test_http_range_is_inclusive():
    assert http_range(0, 1) == "bytes=0-0"
    assert http_range(100, 50) == "bytes=100-149"
    with pytest.raises(ValueError):
        http_range(5, 0)


def test_bounds_close_an_object_by_bytes_or_by_messages_never_an_empty_one():
    framer = MemberFramer()
    assert not framer.is_full(10_000, max_bytes=100, max_members=1)  # an empty object takes anything
    framer.frame(b"x" * 50)  # 51 bytes with its newline
    assert not framer.is_full(48, max_bytes=100, max_members=10)
    assert framer.is_full(49, max_bytes=100, max_members=10)
    assert framer.is_full(1, max_bytes=100, max_members=1)


def test_batch_keys_are_under_the_day_and_are_not_message_keys():
    digest = hashlib.sha256(b"object").digest()
    key = batch_object_key("messages/", date(2024, 10, 1), digest)
    assert key == f"messages/dt=2024-10-01/part-{digest.hex()}.jsonl.gz"
    assert is_batch_object_key(key)
    assert not is_batch_object_key("messages/dt=2024-10-01/part-abc.jsonl.gz")
    assert not is_batch_object_key("messages/dt=2024-10-01/msg-1.json")
    with pytest.raises(ArchiveKeyError):
        parse_archive_key(key)
