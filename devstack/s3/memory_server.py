"""A minimal in-memory S3 endpoint on asyncio, for the benchmark only.

The benchmark needs an S3 server that is not itself the bottleneck: moto (a threaded Python
server with full request validation) accepts a few hundred PUT/s on this kind of machine. This
server does only what the export touches, over path-style HTTP/1.1 with keep-alive:

- ``PUT /bucket`` (create), ``HEAD /bucket``;
- ``PUT /bucket/key`` with ``Content-MD5`` and ``x-amz-checksum-crc32`` / ``-sha1`` / ``-sha256``
  checked against the body (``BadDigest``, as S3 answers), ``x-amz-meta-*``, ``Content-Type`` and the
  ``x-amz-server-side-encryption*`` headers stored and echoed; ``aws-chunked`` bodies decoded;
  ``Expect: 100-continue`` answered;
- ``GET`` / ``HEAD /bucket/key`` (``NoSuchKey`` when absent);
- ``GET /bucket?list-type=2`` with ``prefix``, ``max-keys``, ``start-after``,
  ``continuation-token`` and ``encoding-type=url``.

It does not check signatures, and everything else answers 501 ``NotImplemented``: tests whose
point is S3's behaviour use moto (``devstack/s3/moto_server.py``). Conformance through boto3 is
checked in ``tests/devstack/s3/test_memory_server.py``.

Run it with ``python -m devstack.s3.memory_server --port 0`` (prints ``listening on URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import hashlib
import sys
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

_ECHOED_PREFIXES = ("x-amz-meta-", "x-amz-server-side-encryption")
_MAX_KEYS = 1000
# The flexible checksums S3 verifies that the standard library computes (CRC32C/CRC64NVME need awscrt).
_CHECKSUMS = {
    "crc32": ("CRC32", lambda body: zlib.crc32(body).to_bytes(4, "big")),
    "sha1": ("SHA1", lambda body: hashlib.sha1(body, usedforsecurity=False).digest()),
    "sha256": ("SHA256", lambda body: hashlib.sha256(body).digest()),
}


@dataclass
class StoredObject:
    body: bytes
    etag: str
    content_type: str
    headers: dict[str, str]
    modified: datetime


@dataclass
class Bucket:
    objects: dict[str, StoredObject] = field(default_factory=dict)
    sorted_keys: list[str] = field(default_factory=list)

    def put(self, key: str, stored: StoredObject) -> None:
        if key not in self.objects:
            bisect.insort(self.sorted_keys, key)
        self.objects[key] = stored


@dataclass
class Response:
    status: int
    reason: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    head_only: bool = False


def _error(status: int, reason: str, code: str, message: str, resource: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource></Error>"
    ).encode()
    return Response(status, reason, body, {"Content-Type": "application/xml"})


class MemoryS3:
    """The buckets and the request handling, independent of the transport."""

    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}
        self.requests = 0

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        self.requests += 1
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        bucket_name, _, key = path.lstrip("/").partition("/")
        if not bucket_name:
            return _error(501, "Not Implemented", "NotImplemented", "ListBuckets is not supported", path)
        if not key:
            return self._bucket_request(method, bucket_name, query)
        bucket = self.buckets.get(bucket_name)
        if bucket is None:
            return _error(404, "Not Found", "NoSuchBucket", "The specified bucket does not exist", path)
        if method == "PUT" and not query:
            return self._put(bucket, key, headers, body)
        if method in ("GET", "HEAD") and not query:
            stored = bucket.objects.get(key)
            if stored is None:
                return _error(404, "Not Found", "NoSuchKey", "The specified key does not exist.", path)
            return Response(
                200,
                "OK",
                stored.body,
                {
                    **stored.headers,
                    "Content-Type": stored.content_type,
                    "ETag": stored.etag,
                    "Last-Modified": format_datetime(stored.modified, usegmt=True),
                },
            )
        return _error(501, "Not Implemented", "NotImplemented", f"{method} {target} is not supported", path)

    def _bucket_request(self, method: str, name: str, query: dict[str, str]) -> Response:
        if method == "PUT" and not query:
            self.buckets.setdefault(name, Bucket())
            return Response(200, "OK", headers={"Location": f"/{name}"})
        bucket = self.buckets.get(name)
        if bucket is None:
            return _error(404, "Not Found", "NoSuchBucket", "The specified bucket does not exist", f"/{name}")
        if method == "HEAD" and not query:
            return Response(200, "OK")
        if method == "GET" and query.get("list-type") == "2" and "delimiter" not in query:
            return self._list_v2(name, bucket, query)
        return _error(501, "Not Implemented", "NotImplemented", f"{method} /{name}?{query} is not supported", name)

    def _put(self, bucket: Bucket, key: str, headers: dict[str, str], body: bytes) -> Response:
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        expected = headers.get("content-md5")
        if expected is not None and base64.b64decode(expected) != digest:
            return _error(400, "Bad Request", "BadDigest", "The Content-MD5 you specified did not match", key)
        for name, (label, compute) in _CHECKSUMS.items():
            given = headers.get(f"x-amz-checksum-{name}")
            if given is not None and base64.b64decode(given) != compute(body):
                message = f"The {label} you specified did not match the calculated checksum."
                return _error(400, "Bad Request", "BadDigest", message, key)
        echoed = {name: value for name, value in headers.items() if name.startswith(_ECHOED_PREFIXES)}
        etag = f'"{digest.hex()}"'
        bucket.put(
            key,
            StoredObject(
                body,
                etag,
                headers.get("content-type", "binary/octet-stream"),
                echoed,
                datetime.now(UTC).replace(microsecond=0),
            ),
        )
        sse = {name: value for name, value in echoed.items() if name.startswith("x-amz-server-side-encryption")}
        return Response(200, "OK", headers={"ETag": etag, **sse})

    def _list_v2(self, name: str, bucket: Bucket, query: dict[str, str]) -> Response:
        prefix = query.get("prefix", "")
        max_keys = min(int(query.get("max-keys", _MAX_KEYS)), _MAX_KEYS)
        token = query.get("continuation-token")
        after = base64.urlsafe_b64decode(token.encode()).decode() if token else query.get("start-after", "")
        keys = bucket.sorted_keys
        position = bisect.bisect_right(keys, after) if after else bisect.bisect_left(keys, prefix)
        page: list[str] = []
        while position < len(keys) and keys[position].startswith(prefix) and len(page) < max_keys:
            page.append(keys[position])
            position += 1
        truncated = position < len(keys) and keys[position].startswith(prefix) and bool(page)
        url = query.get("encoding-type") == "url"

        def shown(value: str) -> str:
            return escape(quote(value, safe="/") if url else value)

        contents = "".join(
            f"<Contents><Key>{shown(key)}</Key>"
            f"<LastModified>{bucket.objects[key].modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
            f"<ETag>{escape(bucket.objects[key].etag)}</ETag><Size>{len(bucket.objects[key].body)}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for key in page
        )
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
            f"<Name>{escape(name)}</Name><Prefix>{shown(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>",
            f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
        ]
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if "start-after" in query:
            parts.append(f"<StartAfter>{shown(query['start-after'])}</StartAfter>")
        if truncated:
            parts.append(
                f"<NextContinuationToken>{base64.urlsafe_b64encode(page[-1].encode()).decode()}</NextContinuationToken>"
            )
        parts.append(contents)
        parts.append("</ListBucketResult>")
        return Response(200, "OK", "".join(parts).encode(), {"Content-Type": "application/xml"})


def _decode_aws_chunked(raw: bytes) -> bytes:
    """Strip ``aws-chunked`` framing (``size[;chunk-signature=...]\\r\\n data \\r\\n``, trailers)."""
    out = bytearray()
    position = 0
    while True:
        end = raw.index(b"\r\n", position)
        size = int(raw[position:end].split(b";", 1)[0], 16)
        position = end + 2
        if size == 0:
            return bytes(out)
        out += raw[position : position + size]
        position += size + 2


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


class MemoryS3Server:
    """:class:`MemoryS3` served over HTTP/1.1 keep-alive connections."""

    def __init__(self, store: MemoryS3 | None = None) -> None:
        self.store = store or MemoryS3()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head[:-4].decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                if "aws-chunked" in headers.get("content-encoding", "") or headers.get(
                    "x-amz-content-sha256", ""
                ).startswith("STREAMING-"):
                    body = _decode_aws_chunked(body)
                response = self.store.handle(method, target, headers, body)
                response.head_only = method == "HEAD"
                writer.write(_render(response))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except Exception as error:  # one broken connection must not stop the server
            print(f"memory S3 server: connection dropped after {type(error).__name__}: {error}", file=sys.stderr)
        finally:
            writer.close()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        return await asyncio.start_server(self.serve_connection, host, port, backlog=1024)


def _render(response: Response) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    headers = {"x-amz-request-id": "memory", "Content-Length": str(len(response.body)), **response.headers}
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if response.head_only else head + response.body


async def _main(host: str, port: int) -> None:
    server = await MemoryS3Server().start(host, port)
    bound = server.sockets[0].getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    options = parser.parse_args()
    try:
        asyncio.run(_main(options.host, options.port))
    except KeyboardInterrupt:
        pass
