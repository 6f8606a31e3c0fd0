"""The fault-injecting S3 proxy, driven through boto3 against moto (and a signature-checking server)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from devstack.s3.fault_proxy import S3FaultProxy
from devstack.s3.moto_server import ACCESS_KEY, REGION, SECRET_KEY, MotoS3Server, create_bucket, s3_client

pytestmark = pytest.mark.timeout(60)

# botocore's retries "max_attempts" counts retries, not attempts: total_max_attempts=1 means one try.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 4})


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3Server]:
    with MotoS3Server() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoS3Server) -> str:
    name = f"proxy-{uuid.uuid4().hex[:12]}"
    create_bucket(moto.url, name)
    return name


@pytest.fixture
def proxy(moto: MotoS3Server) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(moto.url, seed=0) as running:
        yield running


@pytest.fixture
def direct(moto: MotoS3Server) -> BaseClient:
    """A client that bypasses the proxy, to see what really reached the server."""
    return s3_client(moto.url)


def _md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


# -- transparency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1_234, 1_000_003], ids=["empty", "small", "streamed"])
def test_put_get_round_trip_is_byte_exact(proxy: S3FaultProxy, bucket: str, direct: BaseClient, size: int) -> None:
    body = os.urandom(size)
    client = s3_client(proxy.url, NO_RETRIES)
    key = "2024/10/01/message id with spaces+plus/ü.json"

    put = client.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentMD5=_md5_b64(body),
        ChecksumAlgorithm="SHA256",
        ContentType="application/json",
        Metadata={"message-id": "m-1", "source_index": "messages"},
    )

    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"message-id": "m-1", "source_index": "messages"}
    assert got["ContentType"] == "application/json"
    assert direct.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == size


def test_client_keep_alive_survives_an_upstream_that_closes(proxy: S3FaultProxy, bucket: str) -> None:
    client = s3_client(proxy.url, NO_RETRIES)
    for number in range(20):
        client.put_object(Bucket=bucket, Key=f"k{number}", Body=b"x")
        client.head_object(Bucket=bucket, Key=f"k{number}")

    counters = proxy.faults.counters()
    assert counters.by_method["PUT"]["forwarded"] == 20
    assert counters.by_method["HEAD"]["forwarded"] == 20
    assert counters.client_connections == 1
    # moto's server (werkzeug) answers every request with "Connection: close".
    assert counters.upstream_connections == 40


class _SignatureCheckingUpstream(ThreadingHTTPServer):
    """Answers every request with 200 after checking its SigV4 signature and payload hash."""

    daemon_threads = True

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _SignatureCheckingHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _sigv4_signature(method: str, target: str, headers: dict[str, str], signed: list[str]) -> str:
    """Recompute the signature of a received request with botocore's own S3 signer."""
    host = headers["host"]
    request = AWSRequest(
        method=method,
        url=f"http://{host}{target}",
        headers={name: headers[name] for name in signed},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


class _SignatureCheckingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SignatureCheckingUpstream

    def _answer(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        record: dict[str, Any] = {"method": self.command, "path": self.path, "headers": headers, "body": body}
        if "authorization" in headers:
            fields = dict(part.strip().split("=", 1) for part in headers["authorization"].split(" ", 1)[1].split(","))
            signed = fields["SignedHeaders"].split(";")
            record["signed_headers"] = signed
            record["signature_valid"] = fields["Signature"] == _sigv4_signature(
                self.command, self.path, headers, signed
            )
        self.server.received.append(record)
        self.send_response(200)
        self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_upstream_keep_alive_connections_are_pooled(checking_upstream: _SignatureCheckingUpstream) -> None:
    with S3FaultProxy(checking_upstream.url) as proxy:
        client = s3_client(proxy.url, NO_RETRIES)
        for number in range(20):
            client.put_object(Bucket="archive", Key=f"k{number}", Body=b"x")
        counters = proxy.faults.counters()

    assert len(checking_upstream.received) == 20
    assert (counters.client_connections, counters.upstream_connections) == (1, 1)


@pytest.fixture
def checking_upstream() -> Iterator[_SignatureCheckingUpstream]:
    server = _SignatureCheckingUpstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_sigv4_signatures_stay_valid_through_the_proxy(checking_upstream: _SignatureCheckingUpstream) -> None:
    body = os.urandom(70_000)
    with S3FaultProxy(checking_upstream.url) as proxy:
        client = s3_client(proxy.url, NO_RETRIES)
        client.put_object(
            Bucket="archive",
            Key="a b/ü+1.json",
            Body=body,
            ContentMD5=_md5_b64(body),
            ChecksumAlgorithm="CRC32",
            Metadata={"batch": "7"},
        )
        proxy_host = urlsplit(proxy.url).netloc

    [request] = checking_upstream.received
    assert request["signature_valid"] is True
    assert request["headers"]["host"] == proxy_host
    assert {"host", "x-amz-date", "x-amz-content-sha256", "content-md5", "x-amz-meta-batch"} <= set(
        request["signed_headers"]
    )
    assert request["body"] == body
    assert request["headers"]["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert request["headers"]["content-md5"] == _md5_b64(body)
    assert "x-amz-checksum-crc32" in request["headers"]
    # The check above can fail: the same request seen under another Host does not verify.
    moved = dict(request["headers"], host="s3.example.com")
    assert (
        _sigv4_signature("PUT", request["path"], moved, request["signed_headers"])
        != request["headers"]["authorization"].rsplit("Signature=", 1)[1]
    )


def test_chunked_request_bodies_are_relayed(checking_upstream: _SignatureCheckingUpstream) -> None:
    pieces = [b"first piece,", os.urandom(100_000), b"", b"last"]
    with S3FaultProxy(checking_upstream.url) as proxy:
        conn = http.client.HTTPConnection(urlsplit(proxy.url).hostname, urlsplit(proxy.url).port, timeout=10)
        conn.request("PUT", "/archive/chunked", body=iter(pieces), encode_chunked=True)
        response = conn.getresponse()
        response.read()
        conn.close()

    assert response.status == 200
    [request] = checking_upstream.received
    assert request["headers"]["transfer-encoding"] == "chunked"
    assert request["body"] == b"".join(pieces)


# -- injected errors -------------------------------------------------------------------------------


def test_n_errors_then_success(proxy: S3FaultProxy, bucket: str, direct: BaseClient) -> None:
    proxy.faults.add_error(503, count=2)
    client = s3_client(proxy.url, NO_RETRIES)

    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            client.put_object(Bucket=bucket, Key="k", Body=b"payload")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert raised.value.response["Error"]["Code"] == "SlowDown"
        assert raised.value.response["Error"]["Resource"] == f"/{bucket}/k"
    with pytest.raises(ClientError, match="404"):
        direct.head_object(Bucket=bucket, Key="k")  # injected errors are never forwarded
    client.put_object(Bucket=bucket, Key="k", Body=b"payload")

    assert direct.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"
    counters = proxy.faults.counters()
    assert (counters.requests, counters.errors, counters.forwarded) == (3, 2, 1)


def test_retrying_client_absorbs_injected_errors(proxy: S3FaultProxy, bucket: str) -> None:
    proxy.faults.add_error(500, methods=["PUT"], count=1)
    client = s3_client(proxy.url, RETRIES)

    client.put_object(Bucket=bucket, Key="k", Body=b"payload")

    counters = proxy.faults.counters()
    assert counters.by_method["PUT"] == {
        "requests": 2,
        "forwarded": 1,
        "errors": 1,
        "drops": 0,
        "lost_responses": 0,
        "corrupted": 0,
    }


def test_errors_match_path_and_method_only(proxy: S3FaultProxy, bucket: str) -> None:
    proxy.faults.add_error(500, path_pattern=r"/blocked/", methods=["get"])
    client = s3_client(proxy.url, NO_RETRIES)
    client.put_object(Bucket=bucket, Key="blocked/a", Body=b"a")
    client.put_object(Bucket=bucket, Key="open/a", Body=b"a")

    assert client.get_object(Bucket=bucket, Key="open/a")["Body"].read() == b"a"
    with pytest.raises(ClientError) as raised:
        client.get_object(Bucket=bucket, Key="blocked/a")
    assert raised.value.response["Error"]["Code"] == "InternalError"


def test_head_errors_have_no_body(proxy: S3FaultProxy, bucket: str) -> None:
    proxy.faults.add_error(404, methods=["HEAD"], count=1)
    client = s3_client(proxy.url, NO_RETRIES)
    client.put_object(Bucket=bucket, Key="k", Body=b"a")

    with pytest.raises(ClientError) as raised:
        client.head_object(Bucket=bucket, Key="k")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # The keep-alive connection is still in sync: the next request on it succeeds.
    assert client.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1


def _outcomes(moto: MotoS3Server, bucket: str, seed: int, requests: int = 40) -> list[bool]:
    """Return, per request, whether the 30% error rule fired."""
    with S3FaultProxy(moto.url, seed=seed) as proxy:
        proxy.faults.add_error(503, probability=0.3)
        client = s3_client(proxy.url, NO_RETRIES)
        failed = []
        for _ in range(requests):
            try:
                client.head_bucket(Bucket=bucket)
                failed.append(False)
            except ClientError:
                failed.append(True)
        assert proxy.faults.counters().errors == sum(failed)
        return failed


def test_probability_is_deterministic_for_a_seed(moto: MotoS3Server, bucket: str) -> None:
    first = _outcomes(moto, bucket, seed=7)
    again = _outcomes(moto, bucket, seed=7)
    other = _outcomes(moto, bucket, seed=8)

    assert first == again
    assert first != other
    assert 0 < sum(first) < len(first)


def test_count_caps_a_probabilistic_rule(proxy: S3FaultProxy, bucket: str) -> None:
    proxy.faults.add_error(503, probability=1.0, count=2)
    client = s3_client(proxy.url, NO_RETRIES)
    results = []
    for _ in range(5):
        try:
            client.head_bucket(Bucket=bucket)
            results.append("ok")
        except ClientError:
            results.append("error")

    assert results == ["error", "error", "ok", "ok", "ok"]


# -- dropped connections and lost responses --------------------------------------------------------


def test_dropped_connection_is_a_connection_error_without_retries(
    proxy: S3FaultProxy, bucket: str, direct: BaseClient
) -> None:
    proxy.faults.drop_connections(methods=["PUT"], count=1)
    client = s3_client(proxy.url, NO_RETRIES)

    with pytest.raises(ConnectionClosedError):
        client.put_object(Bucket=bucket, Key="k", Body=b"payload")

    with pytest.raises(ClientError, match="404"):
        direct.head_object(Bucket=bucket, Key="k")  # dropped before forwarding
    counters = proxy.faults.counters()
    assert (counters.drops, counters.forwarded) == (1, 0)


def test_dropped_connection_is_absorbed_by_retries(proxy: S3FaultProxy, bucket: str, direct: BaseClient) -> None:
    proxy.faults.drop_connections(methods=["PUT"], count=1)
    client = s3_client(proxy.url, RETRIES)

    client.put_object(Bucket=bucket, Key="k", Body=b"payload")

    assert direct.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"
    counters = proxy.faults.counters()
    assert (counters.drops, counters.forwarded) == (1, 1)


def test_lost_response_lands_upstream_while_the_client_sees_an_error(
    proxy: S3FaultProxy, bucket: str, direct: BaseClient
) -> None:
    proxy.faults.lose_responses(methods=["PUT"], count=1)
    client = s3_client(proxy.url, NO_RETRIES)

    with pytest.raises(ConnectionClosedError):
        client.put_object(Bucket=bucket, Key="k", Body=b"landed anyway")

    assert direct.get_object(Bucket=bucket, Key="k")["Body"].read() == b"landed anyway"
    counters = proxy.faults.counters()
    assert (counters.lost_responses, counters.forwarded) == (1, 1)


def test_lost_response_then_retry_puts_twice(proxy: S3FaultProxy, bucket: str, direct: BaseClient) -> None:
    proxy.faults.lose_responses(methods=["PUT"], count=1)
    client = s3_client(proxy.url, RETRIES)

    client.put_object(Bucket=bucket, Key="k", Body=b"v1")

    assert direct.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    assert proxy.faults.counters().by_method["PUT"]["forwarded"] == 2


@pytest.mark.parametrize("size", [1_000, 300_001], ids=["small", "streamed"])
def test_corrupted_body_reaches_the_server_with_one_byte_changed(
    proxy: S3FaultProxy, moto: MotoS3Server, bucket: str, size: int
) -> None:
    proxy.faults.corrupt_bodies(methods=["PUT"], count=1)
    client = s3_client(proxy.url, NO_RETRIES)
    body = os.urandom(size)

    # moto stores what it receives without checking the body's checksums: the change lands.
    client.put_object(Bucket=bucket, Key="corrupted", Body=body)
    client.put_object(Bucket=bucket, Key="intact", Body=body)

    # read back without botocore's own check of the stored CRC32 (which would reject the changed body)
    direct = s3_client(moto.url, Config(response_checksum_validation="when_required"))
    stored = direct.get_object(Bucket=bucket, Key="corrupted")["Body"].read()
    assert len(stored) == len(body)
    assert sum(a != b for a, b in zip(stored, body, strict=True)) == 1
    assert direct.get_object(Bucket=bucket, Key="intact")["Body"].read() == body
    counters = proxy.faults.counters()
    assert (counters.corrupted, counters.by_method["PUT"]["forwarded"]) == (1, 2)


# -- latency ---------------------------------------------------------------------------------------


def test_latency_delays_every_request(proxy: S3FaultProxy, bucket: str) -> None:
    client = s3_client(proxy.url, NO_RETRIES)
    client.head_bucket(Bucket=bucket)  # connect outside the measurement
    proxy.faults.add_latency(150, jitter_ms=50)

    started = time.monotonic()
    for _ in range(3):
        client.head_bucket(Bucket=bucket)
    elapsed = time.monotonic() - started

    assert elapsed >= 3 * 0.150


def test_latency_overlaps_for_concurrent_requests(proxy: S3FaultProxy, bucket: str) -> None:
    proxy.faults.add_latency(500)
    host, port = urlsplit(proxy.url).hostname, urlsplit(proxy.url).port
    workers = 8
    start = threading.Barrier(workers)
    statuses: list[int] = []

    def request() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        start.wait()
        conn.request("GET", "/moto-api/")
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=request) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * workers
    # Every request was sleeping in the proxy at the same time: latency does not serialise them.
    assert proxy.faults.counters().peak_in_flight == workers


# -- control API, counters, lifecycle --------------------------------------------------------------


def _control(proxy: S3FaultProxy, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    target = urlsplit(proxy.url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    result = response.status, json.loads(response.read())
    conn.close()
    return result


def test_http_control_api(proxy: S3FaultProxy, bucket: str) -> None:
    client = s3_client(proxy.url, NO_RETRIES)

    status, state = _control(proxy, "POST", "/__fault__/errors", {"status": 503, "methods": ["HEAD"], "count": 1})
    assert status == 201
    assert state["rules"][0] | {"fired": None} == {
        "kind": "error",
        "path_pattern": ".*",
        "methods": ["HEAD"],
        "remaining": 1,
        "probability": None,
        "status": 503,
        "code": None,
        "fired": None,
    }
    with pytest.raises(ClientError):
        client.head_bucket(Bucket=bucket)
    assert _control(proxy, "POST", "/__fault__/drop", {"methods": ["GET"], "probability": 0.5})[0] == 201
    assert _control(proxy, "POST", "/__fault__/lost_response", {"count": 1, "path_pattern": "^/x/"})[0] == 201
    assert _control(proxy, "POST", "/__fault__/latency", {"fixed_ms": 1, "jitter_ms": 2})[0] == 201

    status, state = _control(proxy, "GET", "/__fault__")
    assert status == 200
    assert state["counters"]["errors"] == 1
    assert state["counters"]["by_method"]["HEAD"]["errors"] == 1
    assert [rule["kind"] for rule in state["rules"]] == ["error", "drop", "lost_response"]
    assert state["latency"] == [
        {"fixed_ms": 1.0, "jitter_ms": 2.0, "path_pattern": ".*", "methods": None, "remaining": None}
    ]

    status, state = _control(proxy, "DELETE", "/__fault__")
    assert status == 200
    assert (state["rules"], state["latency"], state["counters"]["requests"]) == ([], [], 0)
    client.head_bucket(Bucket=bucket)


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/__fault__/errors", {"status": 200}, 400, "4xx or 5xx"),
        ("/__fault__/errors", {"status": 503, "probability": 1.5}, 400, "probability"),
        ("/__fault__/drop", {"path_pattern": "("}, 400, "invalid path_pattern"),
        ("/__fault__/drop", {"bogus": 1}, 400, "bogus"),
        ("/__fault__/latency", {"fixed_ms": -1}, 400, "latency"),
        ("/__fault__/explode", {}, 404, "unknown fault endpoint"),
    ],
)
def test_http_control_api_rejects_bad_requests(
    proxy: S3FaultProxy, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    got_status, payload = _control(proxy, "POST", path, body)

    assert got_status == status
    assert message in payload["error"]
    assert proxy.faults.describe()["rules"] == []


def test_counters_per_method_and_clear(proxy: S3FaultProxy, bucket: str) -> None:
    client = s3_client(proxy.url, NO_RETRIES)
    proxy.faults.add_error(503, methods=["GET"], count=1)
    client.put_object(Bucket=bucket, Key="k", Body=b"a")
    client.head_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError):
        client.get_object(Bucket=bucket, Key="k")

    counters = proxy.faults.counters()
    assert counters.requests == 3
    assert {method: values["requests"] for method, values in counters.by_method.items()} == {
        "GET": 1,
        "HEAD": 1,
        "PUT": 1,
    }
    assert counters.by_method["GET"]["errors"] == 1

    proxy.faults.clear(counters=False)
    assert proxy.faults.counters().requests == 3
    proxy.faults.clear()
    assert proxy.faults.counters().requests == 0
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"a"


def test_stop_cuts_open_keep_alive_connections(moto: MotoS3Server, bucket: str) -> None:
    proxy = S3FaultProxy(moto.url).start()
    client = s3_client(proxy.url, NO_RETRIES)
    client.head_bucket(Bucket=bucket)

    proxy.stop()

    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        client.head_bucket(Bucket=bucket)
