"""The benchmark's in-memory S3 endpoint, checked through boto3 for what the export relies on."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.s3.fault_proxy import S3FaultProxy
from devstack.s3.moto_server import s3_client

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.s3.memory_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on "), line
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def client(server_url: str) -> BaseClient:
    s3 = s3_client(server_url)
    s3.create_bucket(Bucket="conformance")
    return s3


def test_put_with_sse_and_metadata_then_get_and_head(client: BaseClient) -> None:
    body = b'{"message_id": "m-1", "text": "h\xc3\xa9"}'
    put = client.put_object(
        Bucket="conformance",
        Key="messages/dt=2024-10-01/m-1.json",
        Body=body,
        ContentType="application/json; charset=utf-8",
        ServerSideEncryption="AES256",
        Metadata={"job-id": "7", "dag-run-id": "manual__1"},
    )
    assert put["ServerSideEncryption"] == "AES256"
    got = client.get_object(Bucket="conformance", Key="messages/dt=2024-10-01/m-1.json")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/json; charset=utf-8"
    assert got["Metadata"] == {"job-id": "7", "dag-run-id": "manual__1"}
    assert got["ServerSideEncryption"] == "AES256"
    assert got["ETag"] == put["ETag"]
    head = client.head_object(Bucket="conformance", Key="messages/dt=2024-10-01/m-1.json")
    assert head["ContentLength"] == len(body)
    assert head["Metadata"]["job-id"] == "7"


def test_missing_key_and_bucket_are_errors_and_the_connection_survives(client: BaseClient) -> None:
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket="conformance", Key="nope")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as head:
        client.head_object(Bucket="conformance", Key="nope")
    assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as bucket:
        client.list_objects_v2(Bucket="no-such-bucket")
    assert bucket.value.response["Error"]["Code"] == "NoSuchBucket"
    client.put_object(Bucket="conformance", Key="after-errors", Body=b"x")
    assert client.get_object(Bucket="conformance", Key="after-errors")["Body"].read() == b"x"


def test_list_objects_v2_pages_with_continuation_and_odd_keys(client: BaseClient) -> None:
    keys = [f"list/dt=2024-10-0{day}/id {n:03d}+é=.json" for day in (1, 2) for n in range(7)]
    for key in keys:
        client.put_object(Bucket="conformance", Key=key, Body=key.encode())
    client.put_object(Bucket="conformance", Key="lisu-outside-prefix", Body=b"x")
    paginator = client.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket="conformance", Prefix="list/", PaginationConfig={"PageSize": 4}))
    assert [page["KeyCount"] for page in pages] == [4, 4, 4, 2]
    listed = [obj["Key"] for page in pages for obj in page["Contents"]]
    assert listed == sorted(keys)
    assert all(obj["Size"] == len(obj["Key"].encode()) for page in pages for obj in page["Contents"])
    one_day = client.list_objects_v2(Bucket="conformance", Prefix="list/dt=2024-10-02/")
    assert one_day["KeyCount"] == 7 and not one_day["IsTruncated"]
    assert client.list_objects_v2(Bucket="conformance", Prefix="none/")["KeyCount"] == 0


def test_bad_content_md5_is_rejected(server_url: str, client: BaseClient) -> None:
    def corrupt(request, **_kwargs):  # type: ignore[no-untyped-def]
        request.headers["Content-MD5"] = "AAAAAAAAAAAAAAAAAAAAAA=="

    client.meta.events.register("before-sign.s3.PutObject", corrupt)
    try:
        with pytest.raises(ClientError) as error:
            client.put_object(Bucket="conformance", Key="bad-md5", Body=b"abc")
    finally:
        client.meta.events.unregister("before-sign.s3.PutObject", corrupt)
    assert error.value.response["Error"]["Code"] == "BadDigest"


def test_flexible_checksums_are_verified_like_s3(server_url: str, client: BaseClient) -> None:
    body = b'{"message_id": "m-2"}'
    good = base64.b64encode(hashlib.sha256(body).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(body + b" ").digest()).decode()
    client.put_object(Bucket="conformance", Key="sha-ok", Body=body, ChecksumSHA256=good)
    assert client.get_object(Bucket="conformance", Key="sha-ok")["Body"].read() == body
    with pytest.raises(ClientError) as mismatch:
        client.put_object(Bucket="conformance", Key="sha-bad", Body=body, ChecksumSHA256=wrong)
    assert mismatch.value.response["Error"]["Code"] == "BadDigest"
    assert "SHA256" in mismatch.value.response["Error"]["Message"]
    # botocore's default CRC32, with the body changed in flight by the proxy (one attempt: botocore's
    # legacy retry mode would send it again)
    with S3FaultProxy(server_url).start() as proxy:
        proxy.faults.corrupt_bodies(methods=["PUT"], count=1)
        once = s3_client(proxy.url, Config(retries={"mode": "standard", "total_max_attempts": 1}))
        with pytest.raises(ClientError) as corrupted:
            once.put_object(Bucket="conformance", Key="crc-bad", Body=body)
    assert corrupted.value.response["Error"]["Code"] == "BadDigest"
    assert "CRC32" in corrupted.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        client.head_object(Bucket="conformance", Key="crc-bad")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_works_behind_the_latency_proxy(server_url: str, client: BaseClient) -> None:
    with S3FaultProxy(server_url).start() as proxy:
        proxy.faults.add_latency(fixed_ms=5, jitter_ms=0)
        proxied = s3_client(proxy.url)
        proxied.put_object(Bucket="conformance", Key="proxied/a.json", Body=b"{}", ServerSideEncryption="AES256")
        assert proxied.get_object(Bucket="conformance", Key="proxied/a.json")["Body"].read() == b"{}"
        assert proxy.faults.counters().forwarded >= 2
