"""Archive PUTs go without ``Expect: 100-continue`` and land as before; bodies of 2 MiB or more still ask.

Seen from the server's side: the in-memory S3 endpoint (``devstack/s3/memory_server.py``, which
answers ``100 Continue`` and checks ``x-amz-checksum-sha256`` against the body) runs in this process
with a store that keeps each PUT's request headers, and the hook's own client reaches it over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest

from devstack.connections import aws_connection
from devstack.s3.memory_server import MemoryS3, MemoryS3Server, Response
from devstack.s3.moto_server import s3_client

if TYPE_CHECKING:
    from message_export.hooks.archive import MessageArchiveHook

pytestmark = pytest.mark.timeout(60)

BUCKET = "expect-continue"
METADATA = {"job-id": "7", "batch": "3", "dag-run-id": "manual__expect"}


class HeaderRecordingS3(MemoryS3):
    """The in-memory store, keeping the request headers of every PUT by path."""

    def __init__(self) -> None:
        super().__init__()
        self.put_headers: dict[str, dict[str, str]] = {}

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        if method == "PUT":
            self.put_headers[unquote(urlsplit(target).path)] = dict(headers)
        return super().handle(method, target, headers, body)


@pytest.fixture(scope="module")
def recording_s3() -> Iterator[tuple[str, HeaderRecordingS3]]:
    store = HeaderRecordingS3()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(MemoryS3Server(store).start())

    def serve() -> None:
        loop.run_forever()
        loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
        loop.close()

    async def stop() -> None:
        server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        loop.stop()

    thread = threading.Thread(target=serve, name="memory-s3", daemon=True)
    thread.start()
    host, port = server.sockets[0].getsockname()[:2]
    url = f"http://{host}:{port}"
    try:
        s3_client(url).create_bucket(Bucket=BUCKET)
        yield url, store
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop)
        thread.join(timeout=10)


@pytest.fixture
def archive(recording_s3: tuple[str, HeaderRecordingS3], monkeypatch: pytest.MonkeyPatch) -> MessageArchiveHook:
    from message_export.hooks.archive import MessageArchiveHook

    conn_id = f"aws_expect_{uuid.uuid4().hex[:8]}"
    url, _store = recording_s3
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(aws_connection(url, "test", "test")))
    return MessageArchiveHook(conn_id, max_concurrency=8)


def test_archive_puts_are_sent_without_expect_and_land_with_their_checksum(
    recording_s3: tuple[str, HeaderRecordingS3], archive: MessageArchiveHook
) -> None:
    from message_export.hooks.archive import ArchiveObject

    url, store = recording_s3
    run = uuid.uuid4().hex[:8]
    objects = [
        ArchiveObject(f"{run}/dt=2024-10-01/m-{n}.json", json.dumps({"n": n, "text": "x" * 3000}).encode())
        for n in range(20)
    ]

    results = archive.put_objects(BUCKET, objects, METADATA)

    assert all(result.ok for result in results), results
    direct = s3_client(url)
    for obj in objects:
        headers = store.put_headers[f"/{BUCKET}/{obj.key}"]
        assert "expect" not in headers, headers
        assert headers["x-amz-checksum-sha256"] == base64.b64encode(obj.sha256).decode("ascii")
        stored = direct.get_object(Bucket=BUCKET, Key=obj.key)
        assert stored["Body"].read() == obj.body
        assert stored["Metadata"] == METADATA
        assert stored["ContentType"] == "application/json; charset=utf-8"
        assert stored["ServerSideEncryption"] == "AES256"


def test_a_body_of_two_mib_or_more_still_asks_before_it_is_sent(
    recording_s3: tuple[str, HeaderRecordingS3], archive: MessageArchiveHook
) -> None:
    from message_export.hooks.archive import EXPECT_CONTINUE_MIN_BYTES

    url, store = recording_s3
    key = f"{uuid.uuid4().hex[:8]}/manifest.json"
    body = b"[" + b'"m",' * (EXPECT_CONTINUE_MIN_BYTES // 4) + b'"m"]'

    archive.upload_stream(BUCKET, key, io.BytesIO(body), "application/json", METADATA)

    assert store.put_headers[f"/{BUCKET}/{key}"]["expect"] == "100-continue"
    stored = s3_client(url).get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == body
    assert stored["ServerSideEncryption"] == "AES256"
