"""A body changed on its way to S3 is refused, because every archive PUT carries its SHA-256.

moto stores what it receives without checking a body against its checksum headers (its own code
says so), so these run against the in-memory endpoint, which verifies ``x-amz-checksum-*`` and
``Content-MD5`` as S3 does, behind the fault proxy that changes one byte of a body over the wire.
That the checksum is sent and kept with the object on moto is checked in
``tests/integration/test_export_dag.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest

from devstack.connections import aws_connection
from devstack.s3.fault_proxy import S3FaultProxy
from devstack.s3.moto_server import s3_client

if TYPE_CHECKING:
    from message_export.hooks.archive import MessageArchiveHook

pytestmark = pytest.mark.timeout(120)

BUCKET = "integrity"
METADATA = {"job-id": "1", "batch": "0", "dag-run-id": "manual__integrity"}


@pytest.fixture(scope="module")
def memory_s3() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.s3.memory_server", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on "), line
        url = line.split()[-1]
        s3_client(url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def proxy(memory_s3: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(memory_s3, seed=3) as running:
        yield running


@pytest.fixture
def archive(proxy: S3FaultProxy, monkeypatch: pytest.MonkeyPatch) -> MessageArchiveHook:
    from message_export.hooks.archive import MessageArchiveHook

    conn_id = f"aws_integrity_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(aws_connection(proxy.url, "test", "test")))
    return MessageArchiveHook(conn_id, max_concurrency=4)


def test_a_body_corrupted_in_flight_is_refused_and_reported_failed(
    proxy: S3FaultProxy, memory_s3: str, archive: MessageArchiveHook
) -> None:
    from message_export.hooks.archive import ArchiveObject

    run = uuid.uuid4().hex[:8]
    objects = [ArchiveObject(f"{run}/dt=2024-10-01/m-{n}.json", b'{"n": %d, "text": "x"}' % n) for n in range(6)]
    proxy.faults.corrupt_bodies(methods=["PUT"], count=1)

    results = archive.put_objects(BUCKET, objects, METADATA)

    failed = [result for result in results if not result.ok]
    assert len(failed) == 1, results
    assert failed[0].error is not None and "400 BadDigest" in failed[0].error and "SHA256" in failed[0].error
    direct = s3_client(memory_s3)
    for obj, result in zip(objects, results, strict=True):
        if result.ok:
            assert direct.get_object(Bucket=BUCKET, Key=obj.key)["Body"].read() == obj.body
        else:  # nothing was stored for the refused body: the message is retried later, not archived wrong
            assert direct.list_objects_v2(Bucket=BUCKET, Prefix=obj.key)["KeyCount"] == 0
    assert proxy.faults.counters().corrupted == 1

    [again] = archive.put_objects(BUCKET, [obj for obj, r in zip(objects, results, strict=True) if not r.ok], METADATA)
    assert again.ok, again


def test_the_put_carries_the_sha256_the_ledger_keeps(archive: MessageArchiveHook) -> None:
    import base64
    import hashlib

    from message_export.hooks.archive import ArchiveObject

    seen: list[dict[str, str]] = []
    client = archive.get_conn()

    def capture(request: Any, **_kwargs: Any) -> None:
        seen.append({name.lower(): value for name, value in request.headers.items()})

    client.meta.events.register("before-send.s3.PutObject", capture)
    try:
        body = b'{"message_id": "m-1"}'
        [result] = archive.put_objects(BUCKET, [ArchiveObject(f"{uuid.uuid4().hex}/m-1.json", body)], METADATA)
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", capture)
    assert result.ok, result
    [headers] = seen
    assert ArchiveObject("k", body).sha256 == hashlib.sha256(body).digest()
    assert headers["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(body).digest())
    assert headers["x-amz-sdk-checksum-algorithm"] == b"SHA256"
    assert "x-amz-checksum-crc32" not in headers
    assert headers["x-amz-server-side-encryption"] == b"AES256"
    assert headers["x-amz-meta-dag-run-id"] == b"manual__integrity"


def test_a_batch_object_corrupted_in_flight_is_refused_and_nothing_is_stored(
    proxy: S3FaultProxy, memory_s3: str, archive: MessageArchiveHook
) -> None:
    """The batch layout's single PUT carries the object's SHA-256 — the one its key names: a body changed on
    the way is refused (its messages fail, retry_failed writes them again) and no object exists under the key."""
    import io

    from message_export.gzip_members import MemberFramer, batch_object_key
    from message_export.hooks.archive import ArchiveError

    framer, data = MemberFramer(), bytearray()
    for n in range(20):
        member, _ = framer.frame(b'{"message_id": "m-%d", "text": "x"}' % n)
        data += member
    key = batch_object_key(uuid.uuid4().hex[:8], date(2024, 10, 1), framer.digest())
    proxy.faults.corrupt_bodies(methods=["PUT"], count=1)
    with pytest.raises(ArchiveError, match="BadDigest"):
        archive.upload_object(
            BUCKET, key, io.BytesIO(bytes(data)), len(data), framer.digest(), "application/gzip", METADATA
        )
    direct = s3_client(memory_s3)
    assert direct.list_objects_v2(Bucket=BUCKET, Prefix=key)["KeyCount"] == 0
    body = bytes(data)
    archive.upload_object(BUCKET, key, io.BytesIO(body), len(body), framer.digest(), "application/gzip", METADATA)
    assert direct.get_object(Bucket=BUCKET, Key=key)["Body"].read() == bytes(data)
