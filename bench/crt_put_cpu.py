"""CPU per archive PUT: the product's botocore client next to lighter ways of sending the same PUT.

``python -m bench.crt_put_cpu [--crt-site DIR] [--aio-site DIR]``. ``--crt-site`` names a directory
holding ``awscrt`` installed apart from the project's venv (``pip install --target DIR awscrt==0.36.0``,
the version botocore's ``crt`` extra pins), ``--aio-site`` one holding aiobotocore (``pip install
--target DIR --no-deps aiobotocore==3.9.0 aioitertools==0.13.0``, the versions of the MWAA constraints;
aiohttp, wrapt and the rest are in the venv), so the venv, and botocore's behaviour for everyone
else, stay as they are. Variants needing a directory that was not given are skipped.

Variants, each in its own worker process (process CPU time then counts its own threads only, the
CRT's native event-loop threads included), driven round by round in alternation so a busy machine
weighs on all alike:

- ``product``: ``MessageArchiveHook.put_objects`` as the export calls it, no ``awscrt`` importable
  (its client asks for ``100 Continue`` only before bodies of 2 MiB or more);
- ``product-expect-always``: the same with botocore's ``add_expect_header`` handler registered back,
  so every PUT carries ``Expect: 100-continue`` and waits for the interim response, as botocore does
  by default (the product before it stopped: the difference is what that change saves);
- ``aiobotocore``: the hook's own async client (``get_async_conn``: aiobotocore, the hook's Config,
  connection and user agent) on an asyncio loop in the worker, 32 ``put_object`` calls at a time,
  same extra args and checksum; ``aiobotocore-no-expect``: the same without ``Expect``;
- ``product+awscrt``: the same code with ``awscrt`` importable (botocore then signs SigV4 with the CRT);
- ``s3transfer-crt``: s3transfer's ``CRTTransferManager`` (boto3's ``preferred_transfer_client='crt'``)
  uploading the same bodies with the same extra args and the precomputed ``ChecksumSHA256``;
- ``awscrt-direct``: ``awscrt.s3.S3Client.make_request(PUT_OBJECT)`` with a hand-built request,
  CRT SigV4, SHA-256 computed by the CRT into the header;
- ``hand-built-python`` (a yardstick, no retries, no fault checks): the same PUT signed with
  botocore's Python SigV4 signer and sent through urllib3, no ``awscrt``.

The CRT variants sign with credentials bridged from the hook's own boto3 session (the Airflow
connection) through a delegate provider, as an implementation in the hook would.

Every variant builds the ``ArchiveObject`` (the SHA-256 the ledger keeps) and keeps 32 PUTs in
flight. All go through the latency proxy (15 ms + up to 10 ms) to the in-memory S3 server. After the
timed rounds, 100 more PUTs of each variant have their Python function calls counted, the figure a
busy machine does not change (native code is not counted, which flatters the CRT variants, nor are
calls in threads started before the count: the asyncio executor's, which read aiohttp's bodies).
Then the objects are checked (count, body, metadata, content type, encryption) and each variant
meets injected faults, one PUT each: a corrupted body, 503 SlowDown, 500, 403, a lost response, a
dropped connection, a response stalled 12 s. ``--no-faults`` skips them.

Not part of ``make bench``: ``awscrt`` is not a dependency of the project.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from bench.environment import PLUGINS, REPO, airflow_environment, put_repo_on_path
from bench.measure import python_calls

put_repo_on_path()

BUCKET = "message-archive"
CONN_ID = "bench_crt"
CREDENTIALS = ("test", "test")
METADATA = {"job-id": "1", "batch": "0", "dag-run-id": "bench", "exported-at": "2024-10-02T00:00:00+00:00"}
CONTENT_TYPE = "application/json; charset=utf-8"
SSE = "AES256"
VARIANTS = (
    "product",
    "product-expect-always",
    "aiobotocore",
    "aiobotocore-no-expect",
    "product+awscrt",
    "s3transfer-crt",
    "awscrt-direct",
    "hand-built-python",
)
NEEDS_CRT = ("product+awscrt", "s3transfer-crt", "awscrt-direct")
NEEDS_AIO = ("aiobotocore", "aiobotocore-no-expect")
CALL_COUNT_PUTS = 100  # PUTs of each variant whose Python function calls are counted
RETRYING = tuple(name for name in VARIANTS if name != "hand-built-python")  # meet the fault checks


def body_of(size: int) -> bytes:
    return (hashlib.sha256(b"bench-crt").hexdigest() * (size // 64 + 1)).encode()[:size]


# --- workers -----------------------------------------------------------------------------------


def send_no_expect(client: Any) -> None:
    """Unregister botocore's ``Expect: 100-continue`` handler from ``client`` (it is registered for
    every S3 operation, under ``before-call.s3``)."""
    from botocore.handlers import add_expect_header

    client.meta.events.unregister("before-call.s3", add_expect_header)


class ProductPutter:
    def __init__(self, url: str, concurrency: int, expect_always: bool = False) -> None:
        from botocore.handlers import add_expect_header

        from message_export.hooks.archive import ArchiveObject, MessageArchiveHook

        self._object = ArchiveObject
        self._hook = MessageArchiveHook(CONN_ID, max_concurrency=concurrency)
        if expect_always:
            self._hook.get_conn().meta.events.register("before-call.s3", add_expect_header)

    def put(self, keys: list[str], body: bytes) -> list[str | None]:
        results = self._hook.put_objects(BUCKET, [self._object(key, body) for key in keys], METADATA)
        return [result.error for result in results]


def hook_credentials_provider() -> Any:
    """The CRT credentials provider an implementation in the hook would use: a delegate reading the
    frozen credentials of the hook's own boto3 session (the Airflow connection; refreshable ones
    refresh themselves), as s3transfer's ``BotocoreCRTCredentialsWrapper`` does."""
    from awscrt.auth import AwsCredentials, AwsCredentialsProvider

    from message_export.hooks.archive import MessageArchiveHook

    credentials = MessageArchiveHook(CONN_ID).get_session().get_credentials()

    def current() -> AwsCredentials:
        frozen = credentials.get_frozen_credentials()
        return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    return AwsCredentialsProvider.new_delegate(current)


class _Gate:
    """At most ``limit`` uploads in flight; collects each one's error."""

    def __init__(self, limit: int, count: int) -> None:
        self.slots = threading.Semaphore(limit)
        self.errors: list[str | None] = [None] * count
        self.left = count
        self.lock = threading.Lock()
        self.finished = threading.Event()
        if count == 0:
            self.finished.set()

    def done(self, index: int, error: str | None) -> None:
        self.errors[index] = error
        self.slots.release()
        with self.lock:
            self.left -= 1
            if self.left == 0:
                self.finished.set()


class S3TransferCrtPutter:
    def __init__(self, url: str, concurrency: int) -> None:
        import boto3
        from botocore.config import Config
        from s3transfer.crt import (
            BotocoreCRTRequestSerializer,
            CRTTransferManager,
            create_s3_crt_client,
        )
        from s3transfer.manager import TransferConfig

        from message_export.hooks.archive import ArchiveObject

        self._object = ArchiveObject
        session = boto3.Session(
            aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1], region_name="us-east-1"
        )
        botocore_session = session._session
        provider = hook_credentials_provider()
        crt_client = create_s3_crt_client("us-east-1", crt_credentials_provider=provider, use_ssl=False)
        serializer = BotocoreCRTRequestSerializer(
            botocore_session,
            {
                "region_name": "us-east-1",
                "endpoint_url": url,
                "config": Config(s3={"addressing_style": "path"}, parameter_validation=False),
            },
        )
        self._manager = CRTTransferManager(
            crt_client, serializer, config=TransferConfig(max_request_concurrency=concurrency)
        )
        self._concurrency = concurrency

    def put(self, keys: list[str], body: bytes) -> list[str | None]:
        from s3transfer.subscribers import BaseSubscriber

        gate = _Gate(self._concurrency, len(keys))
        objects = [self._object(key, body) for key in keys]

        class Done(BaseSubscriber):
            def __init__(self, index: int) -> None:
                self.index = index

            def on_done(self, future: Any, **kwargs: Any) -> None:
                try:
                    future.result()
                except Exception as error:
                    gate.done(self.index, f"{type(error).__name__}: {error}")
                else:
                    gate.done(self.index, None)

        for index, obj in enumerate(objects):
            gate.slots.acquire()
            self._manager.upload(
                io.BytesIO(obj.body),
                BUCKET,
                obj.key,
                extra_args={
                    "ContentType": CONTENT_TYPE,
                    "ServerSideEncryption": SSE,
                    "Metadata": dict(METADATA),
                    "ChecksumSHA256": base64.b64encode(obj.sha256).decode("ascii"),
                },
                subscribers=[Done(index)],
            )
        gate.finished.wait()
        return gate.errors


class AwsCrtDirectPutter:
    def __init__(self, url: str, concurrency: int) -> None:
        from awscrt import io as crt_io
        from awscrt import s3

        from message_export.hooks.archive import ArchiveObject

        self._object = ArchiveObject
        self._s3 = s3
        self._host = url.split("//", 1)[1]
        loops = crt_io.EventLoopGroup()
        bootstrap = crt_io.ClientBootstrap(loops, crt_io.DefaultHostResolver(loops))
        provider = hook_credentials_provider()
        self._client = s3.S3Client(
            bootstrap=bootstrap,
            region="us-east-1",
            signing_config=s3.create_default_s3_signing_config(region="us-east-1", credential_provider=provider),
            tls_mode=s3.S3RequestTlsMode.DISABLED,
        )
        self._checksum = s3.S3ChecksumConfig(
            algorithm=s3.S3ChecksumAlgorithm.SHA256, location=s3.S3ChecksumLocation.HEADER
        )
        self._fixed = [
            ("Host", self._host),
            ("Content-Type", CONTENT_TYPE),
            ("x-amz-server-side-encryption", SSE),
            *((f"x-amz-meta-{name}", value) for name, value in METADATA.items()),
        ]
        self._concurrency = concurrency

    def put(self, keys: list[str], body: bytes) -> list[str | None]:
        from urllib.parse import quote

        from awscrt.http import HttpHeaders, HttpRequest

        s3 = self._s3
        gate = _Gate(self._concurrency, len(keys))
        objects = [self._object(key, body) for key in keys]
        requests = []  # keep the requests alive until they finish
        for index, obj in enumerate(objects):

            def on_done(error: Any = None, status_code: Any = None, error_body: Any = None, index=index, **_: Any):
                if error is None:
                    gate.done(index, None)
                else:
                    detail = (error_body or b"")[:200].decode("utf-8", "replace")
                    gate.done(index, f"{type(error).__name__} {status_code}: {error} {detail}")

            gate.slots.acquire()
            headers = HttpHeaders([*self._fixed, ("Content-Length", str(len(obj.body)))])
            request = HttpRequest("PUT", f"/{BUCKET}/{quote(obj.key, safe='/~')}", headers, io.BytesIO(obj.body))
            requests.append(
                self._client.make_request(
                    type=s3.S3RequestType.PUT_OBJECT,
                    request=request,
                    operation_name="PutObject",
                    checksum_config=self._checksum,
                    on_done=on_done,
                )
            )
        gate.finished.wait()
        return gate.errors


class HandBuiltPythonPutter:
    """Not a candidate, a yardstick: the same PUT without botocore's client machinery and without the
    CRT (botocore's Python SigV4 signer, urllib3's pool), no retries. Shows how much of the CRT's
    saving comes from skipping botocore's per-call work rather than from native code."""

    def __init__(self, url: str, concurrency: int) -> None:
        from urllib.parse import quote

        import urllib3
        from botocore.auth import S3SigV4Auth

        from message_export.hooks.archive import ArchiveObject, MessageArchiveHook

        self._object = ArchiveObject
        self._quote = quote
        self._credentials = MessageArchiveHook(CONN_ID).get_session().get_credentials()
        self._signer = S3SigV4Auth
        self._url = url
        host, port = url.split("//", 1)[1].split(":")
        self._pool = urllib3.HTTPConnectionPool(
            host,
            int(port),
            maxsize=concurrency,
            block=True,
            timeout=urllib3.Timeout(connect=10, read=60),
            retries=False,
        )
        self._concurrency = concurrency
        self._fixed = {
            "Content-Type": CONTENT_TYPE,
            "x-amz-server-side-encryption": SSE,
            "x-amz-sdk-checksum-algorithm": "SHA256",
            **{f"x-amz-meta-{name}": value for name, value in METADATA.items()},
        }

    def _put_one(self, obj: Any) -> str | None:
        from botocore.awsrequest import AWSRequest

        path = f"/{BUCKET}/{self._quote(obj.key, safe='/~')}"
        headers = {**self._fixed, "x-amz-checksum-sha256": base64.b64encode(obj.sha256).decode("ascii")}
        request = AWSRequest(method="PUT", url=f"{self._url}{path}", data=obj.body, headers=headers)
        self._signer(self._credentials.get_frozen_credentials(), "s3", "us-east-1").add_auth(request)
        response = self._pool.urlopen("PUT", path, body=obj.body, headers=dict(request.headers.items()), retries=False)
        return None if response.status == 200 else f"S3 {response.status}: {response.data[:120]!r}"

    def put(self, keys: list[str], body: bytes) -> list[str | None]:
        from concurrent.futures import ThreadPoolExecutor

        # a pool per call, as the product's: the threads start inside the call, where calls are counted
        with ThreadPoolExecutor(max_workers=self._concurrency) as threads:
            return list(threads.map(self._put_one, [self._object(key, body) for key in keys]))


class AiobotocorePutter:
    """The hook's own aiobotocore client (the amazon provider's ``get_async_conn``, as its deferrable
    operators use it: same connection, endpoint, credentials, Config and user agent), driven by one
    asyncio loop in this process; as many ``put_object`` calls in flight as the product's threads."""

    def __init__(self, url: str, concurrency: int, expect: bool = True) -> None:
        import asyncio

        from message_export.hooks.archive import ArchiveObject, MessageArchiveHook

        self._object = ArchiveObject
        self._hook = MessageArchiveHook(CONN_ID, max_concurrency=concurrency)
        self._concurrency = concurrency
        self._loop = asyncio.new_event_loop()
        self._client = self._loop.run_until_complete(self._open(expect))

    async def _open(self, expect: bool) -> Any:
        creator = await self._hook.get_async_conn()
        self._creator = creator
        client = await creator.__aenter__()
        if not expect:
            send_no_expect(client)
        return client

    async def _put_all(self, objects: list[Any]) -> list[str | None]:
        import asyncio

        from botocore.exceptions import BotoCoreError, ClientError

        from message_export.hooks.archive import _client_error_text, put_object_arguments

        slots = asyncio.Semaphore(self._concurrency)
        extra = {**self._hook._put_args, "Metadata": dict(METADATA)}

        async def put(obj: Any) -> str | None:
            async with slots:
                try:
                    await self._client.put_object(**put_object_arguments(BUCKET, obj, extra))
                except (ClientError, BotoCoreError) as error:
                    return _client_error_text(error)
                return None

        return list(await asyncio.gather(*(put(obj) for obj in objects)))

    def put(self, keys: list[str], body: bytes) -> list[str | None]:
        return self._loop.run_until_complete(self._put_all([self._object(key, body) for key in keys]))

    def close(self) -> None:
        self._loop.run_until_complete(self._creator.__aexit__(None, None, None))
        self._loop.close()


PUTTERS = {
    "product": ProductPutter,
    "product-expect-always": lambda url, concurrency: ProductPutter(url, concurrency, expect_always=True),
    "aiobotocore": AiobotocorePutter,
    "aiobotocore-no-expect": lambda url, concurrency: AiobotocorePutter(url, concurrency, expect=False),
    "product+awscrt": ProductPutter,
    "s3transfer-crt": S3TransferCrtPutter,
    "awscrt-direct": AwsCrtDirectPutter,
    "hand-built-python": HandBuiltPythonPutter,
}


def worker(variant: str, url: str, concurrency: int, body_bytes: int) -> None:
    """Serve one JSON command a line on stdin: ``{"keys": [...]}`` -> CPU, wall time and errors;
    ``{"count_calls": [...]}`` -> the Python function calls made putting those keys."""
    out = os.fdopen(os.dup(1), "w")  # replies only: whatever else prints goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import awscrt_probe  # noqa: F401  (see _probe_module)

    from bench.measure import peak_rss_mb

    putter = PUTTERS[variant](url, concurrency)
    body = body_of(body_bytes)
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("quit"):
            break
        if "count_calls" in command:
            calls = python_calls(partial(putter.put, command["count_calls"], body))
            out.write(json.dumps({"python_calls": calls}) + "\n")
            out.flush()
            continue
        started, cpu_started = time.perf_counter(), time.process_time()
        errors = putter.put(command["keys"], body)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        failed = [error for error in errors if error is not None]
        reply = {"cpu": cpu, "wall": wall, "failed": len(failed), "errors": failed[:3], "peak_rss_mb": peak_rss_mb()}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    if close := getattr(putter, "close", None):
        close()


# --- orchestrator ------------------------------------------------------------------------------


class Worker:
    def __init__(self, variant: str, url: str, args: argparse.Namespace, home: Path) -> None:
        from tests.support.connections import aws_connection

        env = {**os.environ, **airflow_environment(home)}
        env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(aws_connection(url, *CREDENTIALS))
        paths = [str(PLUGINS), str(REPO), str(home)]
        if variant in NEEDS_CRT:
            paths.append(args.crt_site)
        if variant in NEEDS_AIO:
            paths.append(args.aio_site)
        env["PYTHONPATH"] = os.pathsep.join(paths)
        self.variant = variant
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.crt_put_cpu", "--worker", variant, "--url", url),
                *("--concurrency", str(args.concurrency), "--body-bytes", str(args.body_bytes)),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def put(self, keys: list[str]) -> dict[str, Any]:
        return self.send({"keys": keys})

    def send(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.variant} worker exited with {self.process.wait()}")
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin
            self.process.stdin.write(json.dumps({"quit": True}) + "\n")
            self.process.stdin.flush()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _probe_module(home: Path) -> None:
    """A module every worker imports first: records whether ``awscrt`` is importable and botocore's
    choice of SigV4 signer, so the report shows what each variant really ran."""
    (home / "awscrt_probe.py").write_text(
        "import sys\n"
        "try:\n    import awscrt\n    version = awscrt.__version__\nexcept ImportError:\n    version = None\n"
        "import botocore.auth\n"
        "print(f'awscrt={version} s3v4 signer={botocore.auth.AUTH_TYPE_MAPS[\"s3v4\"].__name__}', file=sys.stderr)\n"
    )


def verify(client: Any, prefix: str, expected: int, body: bytes, sample: int = 40) -> list[str]:
    """Problems with the objects under ``prefix``: count, then body/metadata/type/SSE of a sample."""
    problems = []
    keys = [
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]
    if len(keys) != expected:
        problems.append(f"{len(keys)} objects under {prefix}, expected {expected}")
    step = max(1, len(keys) // sample)
    for key in keys[::step]:
        got = client.get_object(Bucket=BUCKET, Key=key)
        if got["Body"].read() != body:
            problems.append(f"{key}: body differs")
        if got["Metadata"] != METADATA:
            problems.append(f"{key}: metadata {got['Metadata']}")
        if got["ContentType"] != CONTENT_TYPE:
            problems.append(f"{key}: content type {got['ContentType']}")
        if got.get("ServerSideEncryption") != SSE:
            problems.append(f"{key}: SSE {got.get('ServerSideEncryption')}")
    return problems


def fault_checks(worker: Worker, faults: Any, client: Any, prefix: str) -> dict[str, Any]:
    """Each fault once, one PUT each: what the client returned, how many requests the proxy saw, and
    whether the object is there."""
    cases = {
        "corrupted body (expect refused)": lambda: faults.corrupt_bodies(methods=["PUT"], count=1),
        "503 SlowDown x2 (expect retried, stored)": lambda: faults.add_error(503, methods=["PUT"], count=2),
        "500 InternalError x2 (expect retried, stored)": lambda: faults.add_error(500, methods=["PUT"], count=2),
        "403 AccessDenied (expect failed, 1 request)": lambda: faults.add_error(
            403, methods=["PUT"], count=1, code="AccessDenied", message="Access Denied"
        ),
        "lost response (expect retried, stored)": lambda: faults.lose_responses(methods=["PUT"], count=1),
        "dropped connection (expect retried, stored)": lambda: faults.drop_connections(methods=["PUT"], count=1),
        "response stalled 12 s (product: read timeout 60 s, waits)": lambda: faults.add_latency(
            12_000, methods=["PUT"], count=1
        ),
    }
    results = {}
    for number, (name, arm) in enumerate(cases.items()):
        faults.clear()
        arm()
        key = f"{prefix}faults/{number}.json"
        started = time.perf_counter()
        reply = worker.put([key])
        elapsed = time.perf_counter() - started
        counters = faults.counters().to_dict()
        try:
            client.head_object(Bucket=BUCKET, Key=key)
            stored = True
        except client.exceptions.ClientError:
            stored = False
        results[name] = {
            "error": reply["errors"][0][:160] if reply["errors"] else None,
            "requests": counters.get("requests"),
            "stored": stored,
            "seconds": round(elapsed, 2),
        }
    faults.clear()
    return results


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    import boto3
    import psutil
    from botocore.config import Config

    from bench.profiles import Latency
    from bench.s3_candidates import MemoryS3Process
    from bench.stack import S3Stack

    home = Path(tempfile.mkdtemp(prefix="bench-crt-"))
    _probe_module(home)
    server = MemoryS3Process(home / "s3.log").start()
    stack = S3Stack(server)
    latency = Latency(args.latency_ms, args.jitter_ms)
    direct = boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=CREDENTIALS[0],
        aws_secret_access_key=CREDENTIALS[1],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    run = uuid.uuid4().hex[:8]
    workers = {name: Worker(name, stack.url, args, home) for name in args.variants}
    totals = {name: {"cpu": 0.0, "wall": 0.0, "puts": 0, "failed": 0, "errors": [], "rounds": []} for name in workers}
    loads = []
    try:
        stack.set_latency(latency)
        per_round = args.puts // args.rounds
        for name, work in workers.items():  # warm up: clients built, connections open
            work.put([f"crt/{run}/warm/{name}/{n:03d}.json" for n in range(args.concurrency * 2)])
        for round_number in range(args.rounds):
            order = list(workers.items())
            if round_number % 2:
                order.reverse()  # no variant always runs right after the same one
            for name, work in order:
                keys = [f"crt/{run}/{name}/{round_number}/{n:06d}.json" for n in range(per_round)]
                reply = work.put(keys)
                figures = totals[name]
                figures["cpu"] += reply["cpu"]
                figures["wall"] += reply["wall"]
                figures["puts"] += per_round
                figures["failed"] += reply["failed"]
                figures["errors"] += reply["errors"]
                figures["peak_rss_mb"] = reply["peak_rss_mb"]
                figures["rounds"].append(
                    f"{1000 * reply['cpu'] / per_round:.2f} ms/PUT, {per_round / reply['wall']:.0f} PUT/s"
                )
            loads.append(psutil.getloadavg()[0])
        calls = {  # after the timed rounds: counting slows the worker down
            name: work.send({"count_calls": [f"crt/{run}/{name}/calls/{n:06d}.json" for n in range(CALL_COUNT_PUTS)]})
            for name, work in workers.items()
        }
        stack.set_latency(None)
        body = body_of(args.body_bytes)
        report = {
            "conditions": {
                "puts_per_variant": per_round * args.rounds,
                "rounds": args.rounds,
                "concurrency": args.concurrency,
                "body_bytes": args.body_bytes,
                "latency": f"{args.latency_ms:g} ms + uniform [0, {args.jitter_ms:g}] ms (proxy)",
                "load_average_1m_after_each_round": loads,
                "cpus": os.cpu_count(),
            },
            "variants": {},
        }
        product_cpu = totals["product"]["cpu"] / totals["product"]["puts"] if "product" in totals else None
        for name, figures in totals.items():
            report["variants"][name] = {
                "cpu_ms_per_put": 1000 * figures["cpu"] / figures["puts"],
                "cpu_vs_product": figures["cpu"] / figures["puts"] / product_cpu if product_cpu else None,
                "python_calls_per_put": calls[name]["python_calls"] / CALL_COUNT_PUTS,
                "put_per_s": figures["puts"] / figures["wall"],
                "puts": figures["puts"],
                "failed": figures["failed"],
                "errors": figures["errors"][:3],
                "rounds": figures["rounds"],
                "worker_peak_rss_mb": round(figures["peak_rss_mb"]),
                "verify_problems": verify(direct, f"crt/{run}/{name}/", figures["puts"] + CALL_COUNT_PUTS, body),
            }
        if args.faults:
            for name, work in workers.items():
                if name in RETRYING:
                    prefix = f"crt/{run}/{name}/"
                    report["variants"][name]["faults"] = fault_checks(work, stack.proxy.faults, direct, prefix)
        return report
    finally:
        for work in workers.values():
            work.stop()
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--crt-site", help="directory holding awscrt (pip --target); without it no CRT variant runs")
    parser.add_argument(
        "--aio-site", help="directory holding aiobotocore (pip --target); without it no aiobotocore variant runs"
    )
    parser.add_argument("--puts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--body-bytes", type=int, default=3783)
    parser.add_argument("--latency-ms", type=float, default=15.0)
    parser.add_argument("--jitter-ms", type=float, default=10.0)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, help="default: every variant that can run")
    parser.add_argument("--no-faults", dest="faults", action="store_false")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.concurrency, args.body_bytes)
        return
    missing = {name: "--crt-site" for name in NEEDS_CRT if not args.crt_site}
    missing.update({name: "--aio-site" for name in NEEDS_AIO if not args.aio_site})
    if args.variants is None:
        args.variants = [name for name in VARIANTS if name not in missing]
        if missing:
            print(f"skipped (their directory was not given): {', '.join(missing)}", file=sys.stderr)
    elif wanted := [f"{name} needs {missing[name]}" for name in args.variants if name in missing]:
        parser.error("; ".join(wanted))
    print(json.dumps(orchestrate(args), indent=2))


if __name__ == "__main__":
    main()
