"""The day manifest's format: location, lines, determinism and streaming."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import date

from message_export.keys import archive_key, day_prefix
from message_export.manifest import GzipLineStream, ManifestEntry, manifest_key, manifest_lines

DAY = {"dt": "2024-10-01", "counts": {"archived": 2}}


def entries(count: int) -> Iterator[ManifestEntry]:
    for number in range(count):
        mid = f"msg-{number:08d}"
        yield ManifestEntry(archive_key("messages", date(2024, 10, 1), mid), mid, 100 + number, f"{number:064x}")


def read_all(stream: io.RawIOBase, size: int = 1000) -> bytes:
    out = bytearray()
    while chunk := stream.read(size):
        out += chunk
    return bytes(out)


def test_manifest_is_outside_the_days_data_prefix():
    key = manifest_key("messages/", date(2024, 10, 1))
    assert key == "messages/_manifests/dt=2024-10-01/manifest.jsonl.gz"
    assert not key.startswith(day_prefix("messages", date(2024, 10, 1)))


def test_lines_are_the_day_then_one_object_each():
    lines = [json.loads(line) for line in manifest_lines(DAY, entries(2))]
    assert lines[0] == {"type": "day", "manifest_version": 1, **DAY}
    assert lines[1] == {
        "type": "object",
        "key": "messages/dt=2024-10-01/msg-00000000.json",
        "message_id": "msg-00000000",
        "size": 100,
        "sha256": "0" * 64,
    }
    assert len(lines) == 3


def test_hostile_ids_stay_one_valid_ascii_line():
    mid = 'line\nbreak \ud800 é "quote"'
    [_, line] = list(manifest_lines(DAY, [ManifestEntry("k", mid, None, None)]))
    assert line.count(b"\n") == 1 and line.isascii()
    assert json.loads(line)["message_id"] == mid and json.loads(line)["sha256"] is None


def test_gzip_stream_round_trips_and_is_byte_identical_across_runs():
    first = read_all(GzipLineStream(manifest_lines(DAY, entries(5000))))
    second = read_all(GzipLineStream(manifest_lines(DAY, entries(5000))), size=7)
    assert first == second  # no timestamp or file name in the gzip header, whatever the read size
    text = gzip.decompress(first).decode("ascii").splitlines()
    assert len(text) == 5001 and json.loads(text[-1])["message_id"] == "msg-00004999"


def test_gzip_stream_pulls_lines_only_as_it_is_read():
    pulled = 0

    def counted() -> Iterator[bytes]:
        nonlocal pulled
        for line in manifest_lines(DAY, entries(20_000)):
            pulled += 1
            yield line

    stream = GzipLineStream(counted())
    head = stream.read(1024)
    assert len(head) == 1024
    assert 0 < pulled < 5000  # one 64 KiB chunk of lines, not the whole manifest
    rest = read_all(stream, size=1 << 20)
    assert pulled == 20_001 and stream.lines == 20_001
    assert len(gzip.decompress(head + rest).splitlines()) == 20_001
