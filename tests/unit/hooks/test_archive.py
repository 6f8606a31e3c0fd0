"""The archive hook with botocore's Stubber: what a PUT carries, how its client is cached, how failures read.

Nothing is sent: the Stubber answers in place of S3. Over the wire the same hook is tested in
``tests/integration/test_archive_expect_continue.py`` and ``tests/reliability/test_archive_integrity.py``.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber

from message_export.hooks.archive import ARCHIVE_CONTENT_TYPE, ArchiveError, ArchiveObject, MessageArchiveHook

BUCKET = "message-archive"
METADATA = {"job-id": "7", "batch": "3", "dag-run-id": "manual__unit"}


@pytest.fixture
def aws_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """A fresh AWS connection id (so no other test's client is shared), defined in the environment."""

    def define(endpoint_url: str = "http://127.0.0.1:9") -> str:
        conn_id = f"aws_unit_{uuid.uuid4().hex[:8]}"
        conn = {
            "conn_type": "aws",
            "login": "test",
            "password": "test",
            "extra": {"region_name": "us-east-1", "endpoint_url": endpoint_url},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return define


@pytest.fixture
def stubbed(aws_conn: Callable[..., str]) -> Iterator[tuple[MessageArchiveHook, Stubber]]:
    hook = MessageArchiveHook(aws_conn(), max_concurrency=1, server_side_encryption="aws:kms", kms_key_id="key-1")
    with Stubber(hook.get_conn()) as stubber:
        yield hook, stubber
        stubber.assert_no_pending_responses()


def test_encryption_and_acl_are_the_providers_extra_args(aws_conn):
    hook = MessageArchiveHook(aws_conn(), server_side_encryption="aws:kms", kms_key_id="key-1", acl="private")
    assert hook.extra_args == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "key-1", "ACL": "private"}
    assert MessageArchiveHook(aws_conn(), server_side_encryption="none").extra_args == {}


def test_a_put_carries_the_extra_args_checksum_content_type_and_metadata(aws_conn):
    hook = MessageArchiveHook(aws_conn(), max_concurrency=1, acl="bucket-owner-full-control")
    obj = ArchiveObject("messages/dt=2024-10-01/m-1.json", b'{"message_id": "m-1"}')
    with Stubber(hook.get_conn()) as stubber:
        stubber.add_response(
            "put_object",
            {},
            expected_params={
                "Bucket": BUCKET,
                "Key": obj.key,
                "Body": obj.body,
                "ChecksumAlgorithm": "SHA256",
                "ChecksumSHA256": base64.b64encode(obj.sha256).decode("ascii"),
                "ContentType": ARCHIVE_CONTENT_TYPE,
                "ServerSideEncryption": "AES256",
                "ACL": "bucket-owner-full-control",
                "Metadata": METADATA,
            },
        )

        [result] = hook.put_objects(BUCKET, [obj], METADATA)

        stubber.assert_no_pending_responses()
    assert result.ok, result


def test_the_client_is_built_once_per_hook_and_shared_by_hooks_of_the_same_connection(aws_conn, monkeypatch):
    built: list[Any] = []
    build = AwsBaseHook.get_client_type

    def counting(self: MessageArchiveHook, *args: Any, **kwargs: Any) -> Any:
        built.append(build(self, *args, **kwargs))
        return built[-1]

    monkeypatch.setattr(AwsBaseHook, "get_client_type", counting)
    conn_id = aws_conn()
    hook = MessageArchiveHook(conn_id, max_concurrency=4)

    assert hook.get_conn() is hook.get_conn() is hook.conn
    assert MessageArchiveHook(conn_id, max_concurrency=4).get_conn() is hook.get_conn()
    assert len(built) == 1
    # other client settings, or another connection, get a client of their own
    assert MessageArchiveHook(conn_id, max_concurrency=8).get_conn() is not hook.get_conn()
    assert MessageArchiveHook(aws_conn(), max_concurrency=4).get_conn() is not hook.get_conn()
    assert len(built) == 3


def test_a_refused_put_is_one_failed_result_naming_the_s3_error(stubbed):
    hook, stubber = stubbed
    stubber.add_response("put_object", {})
    stubber.add_client_error(
        "put_object", service_error_code="BadDigest", service_message="SHA256 mismatch", http_status_code=400
    )

    results = hook.put_objects(BUCKET, [ArchiveObject("a.json", b"{}"), ArchiveObject("b.json", b"{}")], METADATA)

    assert [result.ok for result in results] == [True, False]
    assert results[1].key == "b.json" and results[1].error == "S3 400 BadDigest: SHA256 mismatch"


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (404, "NoSuchBucket", "does not exist"),
        (403, "AccessDenied", "access denied"),
        (400, "InvalidRequest", "S3 400 InvalidRequest"),
    ],
)
def test_an_unusable_bucket_is_an_archive_error_saying_what_to_do(stubbed, status, code, says):
    hook, stubber = stubbed
    stubber.add_client_error("list_objects_v2", service_error_code=code, http_status_code=status)

    with pytest.raises(ArchiveError, match=says) as raised:
        hook.check_bucket(BUCKET, "messages")
    assert BUCKET in str(raised.value)


def test_an_unreachable_endpoint_is_an_archive_error_naming_the_connection(aws_conn):
    conn_id = aws_conn("http://s3.unreachable.example")
    hook = MessageArchiveHook(conn_id, max_attempts=1)

    def unreachable(**_kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://s3.unreachable.example")

    hook.get_conn().meta.events.register_first("before-send.s3.ListObjectsV2", unreachable)

    with pytest.raises(ArchiveError, match=rf"S3 unreachable for AWS connection '{conn_id}'"):
        hook.check_bucket(BUCKET, "messages")


def test_counting_and_streaming_failures_are_archive_errors(stubbed):
    hook, stubber = stubbed
    stubber.add_client_error("list_objects_v2", service_error_code="AccessDenied", http_status_code=403)
    stubber.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)

    with pytest.raises(ArchiveError, match="could not count the objects under 'messages/dt=2024-10-01/'"):
        hook.count_objects(BUCKET, "messages/dt=2024-10-01/")
    with pytest.raises(ArchiveError, match=r"could not write 'manifest\.json'.*S3 403 AccessDenied"):
        hook.upload_stream(BUCKET, "manifest.json", io.BytesIO(b"[]"), "application/json", METADATA)


def test_a_stream_is_uploaded_with_the_extra_args(stubbed):
    hook, stubber = stubbed
    stubber.add_response(
        "put_object",
        {},
        expected_params={
            "Bucket": BUCKET,
            "Key": "manifest.json",
            "Body": ANY,
            "ContentType": "application/json",
            "Metadata": METADATA,
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": "key-1",
            "ChecksumAlgorithm": ANY,
        },
    )

    hook.upload_stream(BUCKET, "manifest.json", io.BytesIO(b"[]"), "application/json", METADATA)
