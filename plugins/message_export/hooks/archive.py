"""S3: the archive's objects (one per message, or one per batch pass), written through one shared client."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import platform
import threading
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import boto3
import botocore
from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.handlers import add_expect_header
from botocore.utils import determine_content_length

from message_export.gzip_members import MemberError, http_range, read_member
from message_export.heap import settle
from message_export.model import ArchivedMessage

log = logging.getLogger(__name__)

# The amazon provider's AwsBaseHook reads its own version through ProvidersManager.hooks for the user agent
# of every client it builds, and Airflow 3.3 warns about that access (DeprecatedImportWarning): one line per
# S3 client in every task log, about provider internals no user can act on. Only that warning, only when
# raised from that provider module, is ignored; every other warning, ours included, still shows.
warnings.filterwarnings(
    "ignore",
    message=r"ProvidersManager\.hooks is deprecated",
    category=FutureWarning,
    module=r"airflow\.providers\.amazon\.aws\.hooks\.base_aws",
)


class ArchiveError(RuntimeError):
    """The archive bucket cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class ArchiveObject:
    """One object to archive; ``sha256`` is its body's SHA-256, sent with the PUT for S3 to verify
    and kept in the ledger."""

    key: str
    body: bytes
    sha256: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.body).digest())


@dataclass(frozen=True)
class PutResult:
    key: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _client_error_text(error: Exception) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"S3 {status} {info.get('Code')}: {info.get('Message')}"
    return f"S3 {type(error).__name__}: {error}"


# A fixed User-Agent (botocore's classic "Boto3/x Python/x Botocore/x", to which the amazon provider still
# appends its Airflow/provider/caller fields) instead of the one botocore rebuilds for every request from
# a dozen sanitised components: that rebuild was ~15% of the Python work of each PUT.
USER_AGENT = f"Boto3/{boto3.__version__} Python/{platform.python_version()} Botocore/{botocore.__version__}"

# botocore asks for "Expect: 100-continue" on every S3 PUT and UploadPart whatever the body's size, and has no
# setting for it: each archive PUT of a few kB then waits for S3's interim "100 Continue" before sending its body,
# one more round trip and ~10% of the CPU of a PUT (docs/decisions/0003-botocore-over-the-crt.md). AWS's other SDKs
# ask only from a size on (2 MiB in the Go and Kotlin SDKs); this client does the same, so upload_stream's 8 MiB
# parts still ask first and a part S3 refuses (403, wrong region) is not sent for nothing.
EXPECT_CONTINUE_MIN_BYTES = 2 * 1024 * 1024


def _expect_continue_for_large_bodies(model: Any, params: dict[str, Any], **kwargs: Any) -> None:
    length = determine_content_length(params.get("body"))
    if length is None or length >= EXPECT_CONTINUE_MIN_BYTES:
        add_expect_header(model, params, **kwargs)


def expect_continue_only_for_large_bodies(client: Any) -> None:
    """Make ``client`` send ``Expect: 100-continue`` only with bodies of unknown length or of at least
    :data:`EXPECT_CONTINUE_MIN_BYTES`, through its own event system (botocore's handler is swapped, not copied)."""
    client.meta.events.unregister("before-call.s3", add_expect_header)
    client.meta.events.register("before-call.s3", _expect_continue_for_large_bodies)


def put_object_arguments(bucket: str, obj: ArchiveObject, extra: dict[str, Any]) -> dict[str, Any]:
    """``put_object``'s arguments for ``obj``: its body with its SHA-256 as the checksum S3 verifies,
    plus ``extra`` (encryption, ACL, content type, metadata)."""
    checksum = base64.b64encode(obj.sha256).decode("ascii")
    return {
        "Bucket": bucket,
        "Key": obj.key,
        "Body": obj.body,
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": checksum,
        **extra,
    }


ARCHIVE_CONTENT_TYPE = "application/json; charset=utf-8"

# Streams of unknown length go up in 8 MiB parts, a few at a time: memory stays at a few parts.
STREAM_PART_BYTES = 8 * 1024 * 1024
STREAM_CONCURRENCY = 4


# The S3 clients of this process, one per connection and client settings (see MessageArchiveHook.get_client_type).
_process_clients: dict[str, Any] = {}
_process_clients_lock = threading.Lock()


class MessageArchiveHook(S3Hook):
    """Writes archive objects with server-side encryption, an optional ACL and run metadata.

    Retries use botocore's ``standard`` mode (jittered exponential backoff on throttling, 5xx and
    connection errors); the connection pool is sized to the upload concurrency. Every archive PUT
    carries the body's SHA-256 (``x-amz-checksum-sha256``, algorithm ``SHA256``): S3 rejects a
    body that changed on the way (``BadDigest``) and keeps the checksum with the object (``HEAD``
    with ``ChecksumMode=ENABLED``), equal to the ledger's ``body_sha256``; botocore then computes no
    CRC32 of its own. Bodies are deterministic, so a repeated PUT (after a lost response or a
    retried task) stores the same bytes again; the only objects ever deleted are the batch layout's
    that no ledger row references (:meth:`delete_keys`, called by ``finalize`` once a day completes).

    Encryption, KMS key and ACL are the provider's ``extra_args``: every upload sends them, this
    hook's and ``S3Hook``'s own (``load_bytes``, ``load_file``, ...). The client is the provider's
    ``conn`` (cached per hook, ``get_conn()`` returns it); :meth:`get_client_type` builds it once per
    process and connection.
    """

    hook_name = "Amazon S3 (message export archive)"

    def __init__(
        self,
        aws_conn_id: str = "aws_default",
        *,
        max_concurrency: int = 32,
        max_attempts: int = 8,
        read_timeout: float = 60.0,
        server_side_encryption: str = "AES256",
        kms_key_id: str | None = None,
        acl: str | None = None,
        **kwargs: Any,
    ) -> None:
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            max_pool_connections=max_concurrency,
            connect_timeout=10,
            read_timeout=read_timeout,
            tcp_keepalive=True,
            user_agent=USER_AGENT,
            # botocore's per-call check of the request against the API model (~5% of a PUT's Python work)
            # adds nothing here: bucket, encryption, KMS key and ACL are validated with the config file,
            # keys come from keys.archive_key and metadata values are strings the pipeline builds.
            parameter_validation=False,
        )
        extra_args: dict[str, str] = {}
        if server_side_encryption != "none":
            extra_args["ServerSideEncryption"] = server_side_encryption
        if kms_key_id:
            extra_args["SSEKMSKeyId"] = kms_key_id
        if acl:
            extra_args["ACL"] = acl
        super().__init__(aws_conn_id=aws_conn_id, extra_args=extra_args, config=config, **kwargs)
        self._max_concurrency = max_concurrency
        self._client_settings = (max_concurrency, max_attempts, read_timeout)

    def get_client_type(
        self, region_name: str | None = None, config: Config | None = None, deferrable: bool = False
    ) -> Any:
        """Return this process's S3 client for the connection and client settings, built on first use.

        ``AwsBaseHook.conn`` (what ``get_conn()`` returns) calls this once per hook; every batch builds
        its hooks anew, and building a boto3 client costs tens of milliseconds of CPU, so hooks of one
        process with the same connection and settings share one client (boto3 clients are thread-safe).
        Under Airflow's executors every task instance is a process of its own, so this is one client
        per task; where one process runs many batches (``dag.test()``, the bench) it is one for all.
        A client built with another ``config`` or for deferrable use is the provider's, unshared.
        """
        if config is not None or deferrable:
            return super().get_client_type(region_name=region_name, config=config, deferrable=deferrable)
        key = self._client_key(region_name)
        with _process_clients_lock:
            client = _process_clients.get(key)
            if client is None:
                client = _process_clients[key] = super().get_client_type(region_name=region_name)
                expect_continue_only_for_large_bodies(client)
                settle()  # the client and its API model last the process: keep the collector off them
        return client

    def _client_key(self, region_name: str | None) -> str:
        """What a shared client depends on: the connection's fields, the region and the client settings."""
        conn = self.conn_config
        fields = [
            conn.conn_id,
            conn.login,
            conn.password,
            conn.schema,
            conn.extra_config,
            region_name,
            conn.verify,
            self._client_settings,
        ]
        return json.dumps(fields, sort_keys=True, default=str)

    def check_bucket(self, bucket: str, prefix: str) -> None:
        """Fail with a clear message when the bucket is missing, forbidden or unreachable.

        Lists one key under ``prefix`` rather than calling HeadBucket, so a ListBucket permission
        restricted to the prefix is enough.
        """
        try:
            self.get_conn().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/", MaxKeys=1)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                raise ArchiveError(
                    f"S3 bucket '{bucket}' does not exist (AWS connection '{self.aws_conn_id}'); "
                    "create it or fix s3.bucket in the config file"
                ) from None
            if status == 403:
                raise ArchiveError(
                    f"S3 bucket '{bucket}': access denied for AWS connection '{self.aws_conn_id}'; "
                    f"grant s3:ListBucket (prefix {prefix}/*) and s3:PutObject/GetObject on {prefix}/* "
                    "(see docs/deploying.md, Permissions)"
                ) from None
            raise ArchiveError(f"S3 bucket '{bucket}': {_client_error_text(error)}") from None
        except BotoCoreError as error:
            raise ArchiveError(
                f"S3 unreachable for AWS connection '{self.aws_conn_id}': {error}; check endpoint and network"
            ) from None

    def put_objects(
        self, bucket: str, objects: Sequence[ArchiveObject], metadata: Mapping[str, str]
    ) -> list[PutResult]:
        """Put ``objects`` concurrently; return one result per object, in order."""
        client = self.get_conn()
        extra = {"ContentType": ARCHIVE_CONTENT_TYPE, **self.extra_args, "Metadata": dict(metadata)}

        def put(obj: ArchiveObject) -> PutResult:
            try:
                client.put_object(**put_object_arguments(bucket, obj, extra))
            except (ClientError, BotoCoreError) as error:
                return PutResult(obj.key, _client_error_text(error))
            return PutResult(obj.key)

        if not objects:
            return []
        with ThreadPoolExecutor(max_workers=min(self._max_concurrency, len(objects))) as pool:
            return list(pool.map(put, objects))

    def count_objects(self, bucket: str, prefix: str) -> int:
        """Return how many objects exist under ``prefix``."""
        paginator = self.get_conn().get_paginator("list_objects_v2")
        try:
            return sum(page.get("KeyCount", 0) for page in paginator.paginate(Bucket=bucket, Prefix=prefix))
        except (ClientError, BotoCoreError) as error:
            raise ArchiveError(
                f"S3 bucket '{bucket}': could not count the objects under '{prefix}' with AWS connection "
                f"'{self.aws_conn_id}': {_client_error_text(error)}; check the bucket and s3:ListBucket on the prefix"
            ) from None

    def list_keys(self, bucket: str, prefix: str) -> set[str]:
        """Return the keys of the objects under ``prefix``."""
        paginator = self.get_conn().get_paginator("list_objects_v2")
        try:
            return {
                obj["Key"]
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for obj in page.get("Contents", [])
            }
        except (ClientError, BotoCoreError) as error:
            raise ArchiveError(
                f"S3 bucket '{bucket}': could not list the objects under '{prefix}' with AWS connection "
                f"'{self.aws_conn_id}': {_client_error_text(error)}; check the bucket and s3:ListBucket on the prefix"
            ) from None

    def delete_keys(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete ``keys`` (batches of 1,000 through ``S3Hook.delete_objects``); raise :class:`ArchiveError`."""
        try:
            self.delete_objects(bucket, list(keys))
        except (ClientError, BotoCoreError, AirflowException) as error:
            raise ArchiveError(
                f"S3 bucket '{bucket}': could not delete {len(keys)} objects with AWS connection "
                f"'{self.aws_conn_id}': {_client_error_text(error)}; check s3:DeleteObject on the prefix"
            ) from None

    def read_object(self, bucket: str, key: str, byte_range: str | None = None) -> bytes:
        """Return the object's bytes, or only ``byte_range`` of them (an HTTP ``Range``: one ranged GET)."""
        arguments: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if byte_range is not None:
            arguments["Range"] = byte_range
        try:
            return self.get_conn().get_object(**arguments)["Body"].read()
        except (ClientError, BotoCoreError) as error:
            raise ArchiveError(
                f"S3 bucket '{bucket}': could not read '{key}'{f' ({byte_range})' if byte_range else ''} with AWS "
                f"connection '{self.aws_conn_id}': {_client_error_text(error)}; check s3:GetObject on the prefix"
            ) from None

    def read_archived(self, message: ArchivedMessage) -> bytes:
        """Return an archived message's JSON document with one GET: the whole object in the message layout,
        its gzip member's byte range (a Range GET) in the batch layout; raise :class:`ArchiveError` when
        the bytes are not the document the ledger recorded (size or SHA-256)."""
        bucket, key = message.s3_path.removeprefix("s3://").split("/", 1)
        if message.archive_offset is None or message.archive_length is None:
            body = self.read_object(bucket, key)
        else:
            byte_range = http_range(message.archive_offset, message.archive_length)
            member = self.read_object(bucket, key, byte_range)
            try:
                body = read_member(member)
            except MemberError as error:
                raise ArchiveError(f"{message.s3_path} ({byte_range}): {error}") from None
        if message.body_sha256 is not None and hashlib.sha256(body).digest() != message.body_sha256:
            raise ArchiveError(
                f"{message.s3_path}: the bytes read for message {message.message_id!r} do not have the SHA-256 the "
                "ledger recorded; re-export its day with reprocess=true"
            )
        return body

    def upload_object(
        self,
        bucket: str,
        key: str,
        spool: IO[bytes],
        size: int,
        sha256: bytes,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> None:
        """Upload a seekable file of ``size`` bytes whose SHA-256 is ``sha256``: one PUT carrying the checksum for S3
        to verify (as every message's PUT does) up to one part, a multipart upload (:meth:`upload_stream`) beyond;
        raise :class:`ArchiveError` when it cannot be stored."""
        if size > STREAM_PART_BYTES:
            self.upload_stream(bucket, key, spool, content_type, metadata)
            return
        extra = {"ContentType": content_type, **self.extra_args, "Metadata": dict(metadata)}
        arguments = {
            "Bucket": bucket,
            "Key": key,
            "Body": spool.read(),
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(sha256).decode("ascii"),
            **extra,
        }
        try:
            self.get_conn().put_object(**arguments)
        except (ClientError, BotoCoreError) as error:
            raise ArchiveError(
                f"S3 bucket '{bucket}': could not write '{key}' with AWS connection '{self.aws_conn_id}': "
                f"{_client_error_text(error)}; check s3:PutObject on the prefix"
            ) from None

    def upload_stream(
        self, bucket: str, key: str, stream: IO[bytes], content_type: str, metadata: Mapping[str, str]
    ) -> None:
        """Upload a readable stream of unknown length to ``key`` (multipart once it passes one part),
        with the archive's encryption and ACL; raise :class:`ArchiveError` when it cannot be stored."""
        transfer = TransferConfig(
            multipart_threshold=STREAM_PART_BYTES,
            multipart_chunksize=STREAM_PART_BYTES,
            max_concurrency=STREAM_CONCURRENCY,
        )
        transfer.max_in_memory_upload_chunks = STREAM_CONCURRENCY  # s3transfer's default buffers 10 parts
        extra = {**self.extra_args, "ContentType": content_type, "Metadata": dict(metadata)}
        try:
            self.get_conn().upload_fileobj(stream, bucket, key, ExtraArgs=extra, Config=transfer)
        except (ClientError, BotoCoreError, S3UploadFailedError) as error:
            raise ArchiveError(
                f"S3 bucket '{bucket}': could not write '{key}' with AWS connection '{self.aws_conn_id}': "
                f"{_client_error_text(error)}; check s3:PutObject on the prefix"
            ) from None
