"""The batch layout's pass: objects bounded by bytes and messages, ranges exact, memory flat however big."""

from __future__ import annotations

import gzip
import hashlib
import random
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from message_export.gzip_members import is_batch_object_key, read_member
from message_export.hooks.archive import ArchiveError
from message_export.layouts import ArchiveDocument, ArchiveWrite, Written
from message_export.layouts.per_batch import BatchPass
from message_export.model import ClaimedMessage
from tests.unit.pipeline.services_fake import packaged_config

DAY = date(2024, 10, 1)


@dataclass
class ReadingArchive:
    """Reads each uploaded stream a part at a time, as s3transfer does; keeps the bytes only if asked."""

    keep: bool = True
    fail: bool = False
    objects: dict[str, bytes] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def upload_object(
        self, bucket: str, key: str, spool: Any, size: int, sha256: bytes, content_type: str, metadata: dict[str, str]
    ) -> None:
        assert key.endswith(f"part-{sha256.hex()}.jsonl.gz")
        self.upload_stream(bucket, key, spool, content_type, metadata)
        assert self.sizes[key] == size

    def upload_stream(self, bucket: str, key: str, stream: Any, content_type: str, metadata: dict[str, str]) -> None:
        if self.fail:
            raise ArchiveError(f"S3 bucket '{bucket}': could not write '{key}': S3 403 AccessDenied")
        digest, size, kept = hashlib.sha256(), 0, bytearray()
        while part := stream.read(8 * 1024 * 1024):
            digest.update(part)
            size += len(part)
            if self.keep:
                kept += part
        assert key.endswith(f"part-{digest.hexdigest()}.jsonl.gz")  # the key is the object's content
        self.objects[key], self.sizes[key] = bytes(kept), size


def documents(count: int, size: int = 100, day: date = DAY) -> list[ArchiveDocument]:
    rng = random.Random(count)
    start = datetime(2024, 10, 1, tzinfo=UTC)
    return [
        ArchiveDocument(
            ClaimedMessage(f"m-{n:07d}", 1, 1, start),
            day,
            b'{"message_id":"m-%07d","body":"%s"}' % (n, rng.randbytes(size // 2).hex().encode()),
        )
        for n in range(count)
    ]


def write_all(writes: list[ArchiveWrite]) -> Written:
    """Run a pass's writes in order, as the export's write lane does; return what they wrote."""
    written = Written()
    for write in writes:
        written += write.write()
    return written


def open_pass(archive: ReadingArchive, **s3: Any) -> BatchPass:
    config = packaged_config()
    config = config.model_copy(update={"s3": config.s3.model_copy(update={"layout": "batch", **s3})})
    return BatchPass(config, archive, {"job-id": "1"})  # type: ignore[arg-type]


def test_a_pass_writes_one_object_whose_ranges_hold_each_document():
    archive = ReadingArchive()
    writer = open_pass(archive)
    docs = documents(50)
    assert write_all(writer.add(docs[:20])).objects == [] and write_all(writer.add(docs[20:])).objects == []
    [stored] = write_all(writer.close()).objects
    [(key, data)] = archive.objects.items()
    assert is_batch_object_key(key) and stored.uri == f"s3://message-archive/{key}"
    assert gzip.decompress(data).splitlines() == [d.body for d in docs]
    for doc, outcome in zip(docs, stored.outcomes, strict=True):
        assert outcome.status == "completed" and outcome.message == doc.message
        assert outcome.archive_offset is not None and outcome.archive_length is not None
        member = data[outcome.archive_offset : outcome.archive_offset + outcome.archive_length]
        assert read_member(member) == doc.body
        assert outcome.body_sha256 == hashlib.sha256(doc.body).digest() and outcome.body_bytes == len(doc.body)


def test_objects_are_bounded_by_messages_and_by_bytes():
    archive = ReadingArchive()
    writer = open_pass(archive, batch_object_max_messages=20)
    done = write_all(writer.add(documents(50)))
    done += write_all(writer.close())
    assert [len(obj.outcomes) for obj in done.objects] == [20, 20, 10]
    archive = ReadingArchive()
    writer = open_pass(archive, batch_object_max_bytes=1024 * 1024)
    done = write_all(writer.add(documents(100, size=30_000)))  # ~30 kB each: 34 fit under 1 MiB
    done += write_all(writer.close())
    assert [len(obj.outcomes) for obj in done.objects] == [34, 34, 32]
    assert sum(len(gzip.decompress(data)) > 1024 * 1024 for data in archive.objects.values()) == 0


def test_a_pass_over_several_days_writes_one_object_per_day():
    archive = ReadingArchive()
    writer = open_pass(archive)
    done = write_all(writer.add(documents(5) + documents(3, day=date(2024, 9, 30))))
    done += write_all(writer.close())
    assert sorted(len(obj.outcomes) for obj in done.objects) == [3, 5]
    assert {key.split("/")[1] for key in archive.objects} == {"dt=2024-10-01", "dt=2024-09-30"}


def test_an_object_s3_refuses_fails_its_messages_with_the_reason():
    writer = open_pass(ReadingArchive(fail=True))
    write_all(writer.add(documents(4)))
    done = write_all(writer.close())
    assert done.objects == [] and [o.status for o in done.outcomes] == ["failed"] * 4
    assert all("403 AccessDenied" in (o.error or "") for o in done.outcomes)


def test_memory_stays_flat_while_a_big_object_is_written():
    """~48 MB of JSON Lines (~28 MB of gzip) into one object: the pass holds one chunk at a time and spools the
    members to disk; the upload reads them back a part at a time."""
    archive = ReadingArchive(keep=False)
    writer = open_pass(archive)
    tracemalloc.start()
    try:
        for chunk in range(40):
            docs = documents(100, size=12_000)  # ~1.2 MB per chunk, incompressible
            write_all(
                writer.add(
                    [
                        ArchiveDocument(
                            d.message.__class__(f"c{chunk:02d}-{d.message.message_id}", 1, 1, d.message.window_start),
                            d.day,
                            d.body,
                        )
                        for d in docs
                    ]
                )
            )
            del docs
        write_all(writer.close())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [size] = archive.sizes.values()
    assert size > 24 * 1024 * 1024
    assert peak < 24 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while writing a {size / 1e6:.0f} MB object"
