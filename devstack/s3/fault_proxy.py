"""A reverse proxy in front of an S3 server that adds latency and injects faults.

Requests are forwarded as received (request line, every end-to-end header including ``Host``,
body; chunked bodies with their framing), so SigV4 signatures, ``Content-MD5`` and
``x-amz-checksum-*`` headers stay valid. Only hop-by-hop headers (``Connection``, ``Expect``, ...)
are the proxy's own. Upstream connections are pooled and kept alive when the server allows it.

Faults are rules checked in the order they were added; the first one that fires decides what
happens to a request (a rule whose ``count`` is used up stays listed but never fires again):

- ``add_error``: answer with an S3 XML error (e.g. 503 ``SlowDown``) without forwarding;
- ``drop_connections``: close the client socket before forwarding, no response at all;
- ``lose_responses``: forward (so a PUT lands), then close the client socket without replying;
- ``corrupt_bodies``: forward with one byte of the body changed (same length, headers untouched),
  as a faulty network or middlebox would; only bodies sent with a ``Content-Length`` are changed.

Latency rules all apply, before any fault, with ``time.sleep`` in the handler thread so concurrent
requests overlap like on a real network. Random draws come from one ``random.Random`` per rule,
seeded from the proxy's seed and the rule's position: sequential clients see the same outcomes for
the same seed (concurrent clients interleave draws in arrival order).

Control it from Python (``proxy.faults``) or over HTTP under ``/__fault__`` (S3 bucket names
cannot contain ``_``, so boto3 never sends a path-style request there)::

    GET    /__fault__                  -> {"counters": {...}, "latency": [...], "rules": [...]}
    DELETE /__fault__[?counters=false] -> remove all rules and latency (and reset the counters)
    POST   /__fault__/latency          {"fixed_ms": 20, "jitter_ms": 5}
    POST   /__fault__/errors           {"status": 503, "path_pattern": "^/bucket/", "count": 2}
    POST   /__fault__/drop             {"methods": ["PUT"], "probability": 0.1}
    POST   /__fault__/lost_response    {"methods": ["PUT"], "count": 1}
    POST   /__fault__/corrupt          {"methods": ["PUT"], "count": 1}

``proxy.faults.counters()`` returns requests seen, forwarded, errors, drops, lost responses and
corrupted bodies,
in total and per HTTP method, plus connection counts and the peak of concurrent requests.

Run it standalone with ``python -m devstack.s3.fault_proxy --upstream http://127.0.0.1:5000``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import logging
import random
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)

FAULT_PREFIX = "/__fault__"

FaultKind = Literal["error", "drop", "lost_response", "corrupt"]

_CHUNK = 64 * 1024
# Bodies up to this size are sent upstream together with the headers in one write.
_SMALL_BODY = 256 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "upgrade",
        # Answered by the proxy itself (http.server sends "100 Continue"); never part of a SigV4
        # signature (botocore excludes it from the signed headers).
        "expect",
    }
)

# S3's own codes and messages for the statuses a test is likely to inject.
_S3_ERRORS: dict[int, tuple[str, str]] = {
    400: ("InvalidRequest", "Invalid Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    409: (
        "OperationAborted",
        "A conflicting conditional operation is currently in progress against this resource.",
    ),
    412: (
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
    ),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    501: (
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
    ),
    503: ("SlowDown", "Please reduce your request rate."),
}


@dataclass
class _Latency:
    fixed_ms: float
    jitter_ms: float
    pattern: re.Pattern[str]
    methods: frozenset[str] | None
    rng: random.Random
    remaining: int | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "fixed_ms": self.fixed_ms,
            "jitter_ms": self.jitter_ms,
            "path_pattern": self.pattern.pattern,
            "methods": sorted(self.methods) if self.methods else None,
            "remaining": self.remaining,
        }


@dataclass
class _Rule:
    kind: FaultKind
    pattern: re.Pattern[str]
    methods: frozenset[str] | None
    remaining: int | None
    probability: float | None
    rng: random.Random
    status: int | None = None
    code: str | None = None
    message: str | None = None
    fired: int = 0

    def matches(self, method: str, target: str) -> bool:
        if self.remaining == 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self.pattern.search(target) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path_pattern": self.pattern.pattern,
            "methods": sorted(self.methods) if self.methods else None,
            "remaining": self.remaining,
            "probability": self.probability,
            "status": self.status,
            "code": self.code,
            "fired": self.fired,
        }


@dataclass(frozen=True)
class FaultCounters:
    """What the proxy has seen since the last ``clear()``; ``by_method`` uses the same keys."""

    requests: int = 0
    forwarded: int = 0
    errors: int = 0
    drops: int = 0
    lost_responses: int = 0
    corrupted: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    client_connections: int = 0
    upstream_connections: int = 0
    by_method: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the counters as plain JSON-ready values."""
        return dataclasses.asdict(self)


@dataclass
class _Decision:
    delay_s: float
    rule: _Rule | None
    request_id: str


_OUTCOMES = ("requests", "forwarded", "errors", "drops", "lost_responses", "corrupted")


class FaultController:
    """Thread-safe store of latency and fault rules, and of the counters."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._latency: list[_Latency] = []
        self._rules: list[_Rule] = []
        self._created = 0
        self._in_flight = 0
        self._reset_counters()

    def add_latency(
        self,
        fixed_ms: float,
        jitter_ms: float = 0,
        path_pattern: str = ".*",
        methods: list[str] | None = None,
        count: int | None = None,
    ) -> None:
        """Delay each matching request (only the next ``count`` of them, if given) by ``fixed_ms`` plus a
        uniform draw in ``[0, jitter_ms]``; a delay beyond the client's read timeout is a timeout."""
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        if fixed_ms < 0 or jitter_ms < 0:
            raise ValueError(f"latency must be >= 0 ms, got fixed_ms={fixed_ms!r}, jitter_ms={jitter_ms!r}")
        with self._lock:
            self._latency.append(
                _Latency(
                    float(fixed_ms),
                    float(jitter_ms),
                    _compile(path_pattern),
                    _methods(methods),
                    self._next_rng(),
                    count,
                )
            )

    def add_error(
        self,
        status: int,
        path_pattern: str = ".*",
        methods: list[str] | None = None,
        count: int | None = None,
        probability: float | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer matching requests with an S3 XML error of ``status`` instead of forwarding them.

        :param count: fire at most this many times (``None``: no limit).
        :param probability: fire for this share of matching requests (``None``: every one).
        :param code: the S3 error code; defaults to S3's usual one for ``status``
            (503: ``SlowDown``, 500: ``InternalError``).
        """
        if not 400 <= status <= 599:
            raise ValueError(f"error status must be 4xx or 5xx, got {status!r}")
        self._add_rule(
            "error",
            path_pattern,
            methods,
            count,
            probability,
            status=status,
            code=code,
            message=message,
        )

    def drop_connections(
        self,
        path_pattern: str = ".*",
        methods: list[str] | None = None,
        count: int | None = None,
        probability: float | None = None,
    ) -> None:
        """Close the connection of matching requests without forwarding or answering them."""
        self._add_rule("drop", path_pattern, methods, count, probability)

    def lose_responses(
        self,
        path_pattern: str = ".*",
        methods: list[str] | None = None,
        count: int | None = None,
        probability: float | None = None,
    ) -> None:
        """Forward matching requests upstream, then close the client connection unanswered."""
        self._add_rule("lost_response", path_pattern, methods, count, probability)

    def corrupt_bodies(
        self,
        path_pattern: str = ".*",
        methods: list[str] | None = None,
        count: int | None = None,
        probability: float | None = None,
    ) -> None:
        """Forward matching requests with one byte of their body changed (length and headers kept).

        Only a body sent with a ``Content-Length`` is changed; a chunked or empty one is forwarded
        as received, and only changed bodies count as ``corrupted``.
        """
        self._add_rule("corrupt", path_pattern, methods, count, probability)

    def clear(self, *, counters: bool = True) -> None:
        """Remove all latency and fault rules; reset the counters too unless ``counters=False``."""
        with self._lock:
            self._latency.clear()
            self._rules.clear()
            self._created = 0
            if counters:
                self._reset_counters()

    def counters(self) -> FaultCounters:
        """Return a snapshot of the counters."""
        with self._lock:
            return FaultCounters(
                **{name: self._totals[name] for name in _OUTCOMES},
                in_flight=self._in_flight,
                peak_in_flight=self._peak_in_flight,
                client_connections=self._connections["client"],
                upstream_connections=self._connections["upstream"],
                by_method={method: dict(values) for method, values in sorted(self._by_method.items())},
            )

    def describe(self) -> dict[str, Any]:
        """Return counters, latency and rules as JSON-ready values (``GET /__fault__``)."""
        counters = self.counters().to_dict()
        with self._lock:
            return {
                "seed": self.seed,
                "counters": counters,
                "latency": [latency.describe() for latency in self._latency],
                "rules": [rule.describe() for rule in self._rules],
            }

    # -- used by the request handler -------------------------------------------------------------

    def decide(self, method: str, target: str) -> _Decision:
        """Count a request and pick its delay and the fault rule that fires for it, if any."""
        with self._lock:
            self._count(method, "requests")
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            request_id = f"{self._totals['requests']:016X}"
            delay_ms = 0.0
            for latency in self._latency:
                if latency.remaining == 0:
                    continue
                if (latency.methods is None or method in latency.methods) and latency.pattern.search(target):
                    delay_ms += latency.fixed_ms + (
                        latency.rng.uniform(0, latency.jitter_ms) if latency.jitter_ms else 0
                    )
                    if latency.remaining is not None:
                        latency.remaining -= 1
            for rule in self._rules:
                if not rule.matches(method, target):
                    continue
                if rule.probability is not None and rule.rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                return _Decision(delay_ms / 1000, rule, request_id)
            return _Decision(delay_ms / 1000, None, request_id)

    def record(self, method: str, outcome: str) -> None:
        """Count one outcome (``forwarded``, ``errors``, ``drops``, ``lost_responses``, ``corrupted``)."""
        with self._lock:
            self._count(method, outcome)

    def connection_opened(self, side: Literal["client", "upstream"]) -> None:
        """Count a client connection accepted or an upstream connection opened."""
        with self._lock:
            self._connections[side] += 1

    def finished(self) -> None:
        """Mark one request as no longer in flight."""
        with self._lock:
            self._in_flight -= 1

    def _count(self, method: str, outcome: str) -> None:
        self._totals[outcome] += 1
        per_method = self._by_method.setdefault(method, dict.fromkeys(_OUTCOMES, 0))
        per_method[outcome] += 1

    def _reset_counters(self) -> None:
        self._totals = dict.fromkeys(_OUTCOMES, 0)
        self._by_method: dict[str, dict[str, int]] = {}
        self._connections = {"client": 0, "upstream": 0}
        # in_flight is a gauge, not a count: requests under way when the counters reset still finish.
        self._peak_in_flight = self._in_flight

    def _add_rule(
        self,
        kind: FaultKind,
        path_pattern: str,
        methods: list[str] | None,
        count: int | None,
        probability: float | None,
        **error: Any,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0 or None, got {count!r}")
        if probability is not None and not 0 <= probability <= 1:
            raise ValueError(f"probability must be within [0, 1] or None, got {probability!r}")
        with self._lock:
            self._rules.append(
                _Rule(
                    kind,
                    _compile(path_pattern),
                    _methods(methods),
                    count,
                    probability,
                    self._next_rng(),
                    **error,
                )
            )

    def _next_rng(self) -> random.Random:
        self._created += 1
        return random.Random(self.seed * 1_000_003 + self._created)


def _compile(path_pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(path_pattern)
    except re.error as error:
        raise ValueError(f"invalid path_pattern {path_pattern!r}: {error}") from error


def _methods(methods: list[str] | None) -> frozenset[str] | None:
    if methods is None:
        return None
    if isinstance(methods, str):
        raise TypeError(f"methods must be a list of HTTP methods, got the string {methods!r}")
    return frozenset(method.upper() for method in methods)


def s3_error_body(
    status: int,
    resource: str,
    request_id: str,
    code: str | None = None,
    message: str | None = None,
) -> bytes:
    """Return the XML body S3 sends with an error of ``status``."""
    default_code, default_message = _S3_ERRORS.get(
        status, (HTTPStatus(status).phrase.replace(" ", ""), "Injected fault")
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code or default_code)}</Code>"
        f"<Message>{escape(message or default_message)}</Message>"
        f"<Resource>{escape(resource)}</Resource>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()


class _UpstreamPool:
    """Idle keep-alive connections to the upstream server, reused across handler threads."""

    def __init__(self, host: str, port: int, timeout: float, max_idle: int = 128) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def acquire(self) -> tuple[http.client.HTTPConnection, bool]:
        """Return a connection and whether it was reused (a reused one may have gone stale)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout), False
            if _is_idle_and_open(conn):
                return conn, True
            conn.close()

    def release(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _is_idle_and_open(conn: http.client.HTTPConnection) -> bool:
    # An idle keep-alive socket that is readable has been closed by the server (or sent garbage).
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _corrupted(data: bytes) -> bytes:
    """``data`` with its middle byte changed (one bit flipped), same length."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def _corrupted_stream(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces`` with the first non-empty one corrupted."""
    done = False
    for piece in pieces:
        if not done and piece:
            piece, done = _corrupted(piece), True
        yield piece


class _UpstreamError(Exception):
    """The upstream server failed; the client has not been answered yet."""


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], upstream: _UpstreamPool, faults: FaultController) -> None:
        self.upstream = upstream
        self.faults = faults
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        super().__init__(address, _ProxyHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._clients_lock:
            self._clients.add(request)
        self.faults.connection_opened("client")
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._clients_lock:
            self._clients.discard(request)
        super().shutdown_request(request)

    def close_clients(self) -> None:
        """Cut every open client connection (their handler threads then exit)."""
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Called from socketserver's own exception handler: clients hanging up are routine here.
        log.debug("S3 proxy: error while serving %s", client_address, exc_info=True)  # noqa: LOG014


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("S3 proxy %s: " + format, self.address_string(), *args)

    def _serve(self) -> None:
        if (
            self.path == FAULT_PREFIX
            or self.path.startswith(FAULT_PREFIX + "/")
            or self.path.startswith(FAULT_PREFIX + "?")
        ):
            self._control()
            return
        faults = self.server.faults
        method = self.command
        decision = faults.decide(method, self.path)
        try:
            self._proxy(method, decision)
        finally:
            faults.finished()

    def _proxy(self, method: str, decision: _Decision) -> None:
        faults = self.server.faults
        if decision.delay_s > 0:
            time.sleep(decision.delay_s)
        rule = decision.rule
        if rule is not None and rule.kind == "drop":
            faults.record(method, "drops")
            self._abort()
            return
        if rule is not None and rule.kind == "error":
            for _ in self._request_body():
                pass
            faults.record(method, "errors")
            self._send_s3_error(rule.status or 500, decision.request_id, rule.code, rule.message)
            return
        try:
            conn, response = self._forward(corrupt=rule is not None and rule.kind == "corrupt")
        except _UpstreamError as error:
            log.warning(
                "S3 proxy: upstream %s:%s failed for %s %s: %s",
                self.server.upstream.host,
                self.server.upstream.port,
                method,
                self.path,
                error,
            )
            self._send_s3_error(
                502,
                decision.request_id,
                "BadGateway",
                f"Upstream S3 server failed: {error}",
            )
            self.close_connection = True
            return
        faults.record(method, "forwarded")
        if rule is not None and rule.kind == "lost_response":
            try:
                response.read()
            finally:
                self._finish_upstream(conn, response)
            faults.record(method, "lost_responses")
            self._abort()
            return
        self._relay(conn, response)

    # -- request side ----------------------------------------------------------------------------

    def _request_body(self) -> Iterator[bytes]:
        """Yield the raw request body as received (chunked framing included)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            yield from self._raw_chunked_body()
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            data = self.rfile.read(min(_CHUNK, remaining))
            if not data:
                raise ConnectionError("client closed the connection inside the request body")
            remaining -= len(data)
            yield data

    def _raw_chunked_body(self) -> Iterator[bytes]:
        while True:
            size_line = self.rfile.readline(65537)
            if not size_line:
                raise ConnectionError("client closed the connection inside a chunked body")
            yield size_line
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            remaining = size + 2  # chunk data and its CRLF
            while remaining > 0:
                data = self.rfile.read(min(_CHUNK, remaining))
                if not data:
                    raise ConnectionError("client closed the connection inside a chunk")
                remaining -= len(data)
                yield data
        while True:  # trailer section, ends with an empty line
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed the connection inside the chunked trailer")
            yield line
            if line in (b"\r\n", b"\n"):
                return

    def _forward(self, corrupt: bool = False) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request upstream and return the connection and its response (headers read);
        with ``corrupt``, one byte of a ``Content-Length`` body is changed on the way."""
        content_length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        has_body = chunked or int(content_length or 0) > 0
        small_body: bytes | None = None
        if not chunked and has_body and int(content_length or 0) <= _SMALL_BODY:
            small_body = b"".join(self._request_body())
        body = self._request_body()
        if corrupt and has_body and not chunked:
            if small_body is not None:
                small_body = _corrupted(small_body)
            else:
                body = _corrupted_stream(body)
            self.server.faults.record(self.command, "corrupted")
        body_sent = False
        for attempt in (1, 2):
            conn, reused = self.server.upstream.acquire()
            if not reused:
                self.server.faults.connection_opened("upstream")
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self._forwarded_request_headers():
                    conn.putheader(name, value)
                if small_body is not None or not has_body:
                    conn.endheaders(small_body)
                else:
                    conn.endheaders()
                    body_sent = True
                    for data in body:
                        conn.send(data)
                return conn, conn.getresponse()
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                # A stale keep-alive connection fails at once; retry on a fresh one if the body can
                # be sent again. A fresh connection failing is a real upstream failure.
                if reused and not body_sent and attempt == 1:
                    continue
                raise _UpstreamError(f"{type(error).__name__}: {error}") from error
        raise AssertionError("unreachable")

    def _forwarded_request_headers(self) -> list[tuple[str, str]]:
        listed = {name.strip().lower() for name in self.headers.get("Connection", "").split(",") if name.strip()}
        return [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in _HOP_BY_HOP and name.lower() not in listed
        ]

    # -- response side ---------------------------------------------------------------------------

    def _relay(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        length = response.getheader("Content-Length")
        # Upstream "Connection: close" is hop-by-hop: the client keeps its connection as long as the
        # body is delimited, by Content-Length or by chunks the proxy adds.
        rechunk = not no_body and length is None
        try:
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() in _HOP_BY_HOP or name.lower() == "transfer-encoding":
                    continue
                self.send_header(name, value)
            if rechunk:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if no_body:
                response.read()  # returns b"" and marks the response complete
            elif rechunk:
                while data := response.read1(_CHUNK):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.write(b"0\r\n\r\n")
            else:
                while data := response.read(_CHUNK):
                    self.wfile.write(data)
        except BaseException:
            conn.close()
            self.close_connection = True
            raise
        self._finish_upstream(conn, response)

    def _finish_upstream(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        if response.will_close or not response.isclosed():
            conn.close()
        else:
            self.server.upstream.release(conn)

    def _send_s3_error(self, status: int, request_id: str, code: str | None, message: str | None) -> None:
        resource = unquote(urlsplit(self.path).path)
        body = s3_error_body(status, resource, request_id, code, message)
        self.send_response_only(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", request_id)
        self.send_header("x-amz-id-2", f"injected/{request_id}")
        self.send_header("Date", self.date_time_string())
        self.send_header("Server", "AmazonS3")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _abort(self) -> None:
        """Close the client connection without writing anything."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- control API -----------------------------------------------------------------------------

    def _control(self) -> None:
        faults = self.server.faults
        target = urlsplit(self.path)
        action = target.path[len(FAULT_PREFIX) :].strip("/")
        try:
            raw = b"".join(self._request_body())
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise TypeError(f"expected a JSON object, got {raw[:200]!r}")
            if self.command == "GET" and action == "":
                self._send_json(200, faults.describe())
                return
            if self.command == "DELETE" and action == "":
                keep = parse_qs(target.query).get("counters", ["true"])[0].lower() in {
                    "false",
                    "0",
                    "no",
                }
                faults.clear(counters=not keep)
                self._send_json(200, faults.describe())
                return
            handlers = {
                "latency": faults.add_latency,
                "errors": faults.add_error,
                "drop": faults.drop_connections,
                "lost_response": faults.lose_responses,
                "corrupt": faults.corrupt_bodies,
            }
            if self.command != "POST" or action not in handlers:
                self._send_json(
                    404,
                    {
                        "error": f"unknown fault endpoint {self.command} {target.path}",
                        "endpoints": [f"POST {FAULT_PREFIX}/{name}" for name in handlers]
                        + [f"GET {FAULT_PREFIX}", f"DELETE {FAULT_PREFIX}"],
                    },
                )
                return
            handlers[action](**body)
        except (ValueError, TypeError) as error:
            self._send_json(400, {"error": str(error)})
            return
        self._send_json(201, faults.describe())

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# BaseHTTPRequestHandler dispatches on do_<METHOD>; every method takes the same path.
for _method in ("GET", "PUT", "POST", "HEAD", "DELETE", "OPTIONS", "PATCH"):
    setattr(_ProxyHandler, f"do_{_method}", _ProxyHandler._serve)


class S3FaultProxy:
    """Run the fault-injecting proxy for ``upstream_url`` in a background thread."""

    def __init__(
        self,
        upstream_url: str,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        upstream_timeout: float = 60.0,
    ) -> None:
        upstream = urlsplit(upstream_url)
        if upstream.scheme != "http" or not upstream.hostname:
            raise ValueError(f"upstream_url must be http://host[:port], got {upstream_url!r}")
        self.upstream_url = upstream_url
        self.host = host
        self.port = port
        self.faults = FaultController(seed)
        self._pool = _UpstreamPool(upstream.hostname, upstream.port or 80, upstream_timeout)
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the proxy's endpoint URL; give it to boto3 as ``endpoint_url``."""
        if self._server is None:
            raise RuntimeError("S3FaultProxy is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = _ProxyServer((self.host, self.port), self._pool, self.faults)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"s3-fault-proxy-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open client connections and close upstream connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_clients()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._pool.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the proxy in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--upstream", required=True, help="S3 server URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0,
        help="fixed latency added to every request",
    )
    parser.add_argument("--jitter-ms", type=float, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    proxy = S3FaultProxy(args.upstream, host=args.host, port=args.port, seed=args.seed).start()
    if args.latency_ms or args.jitter_ms:
        proxy.faults.add_latency(args.latency_ms, args.jitter_ms)
    log.info(
        "S3 fault proxy %s -> %s (control: %s%s)",
        proxy.url,
        args.upstream,
        proxy.url,
        FAULT_PREFIX,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
