"""An in-process, stdlib-only Elasticsearch-compatible HTTP server for tests and benchmarks.

Speaks the REST API subset the project and its peers use (indices, documents, ``_bulk``, ``_mget``, ``_search``
with the query DSL subset, sort, ``search_after``, point in time, scroll, ``_count``) with Elasticsearch's
response shapes, error bodies, ``X-Elastic-Product`` header and versioned media types, plus fault injection.
See docs/es_server.md.

With ``engine="opensearch"`` it answers like OpenSearch 2.x/3.x instead: ``GET /`` reports
``"distribution": "opensearch"``, no ``X-Elastic-Product`` header, 406 on Elasticsearch's compatibility media
types, point in time through ``/<index>/_search/point_in_time``, ``_id`` sorting, ``_shard_doc`` only from 3.3.
With ``sigv4="us-east-1"`` every request must carry a valid AWS SigV4 signature (see ``es_sigv4``).

    server = EsCompatServer(version="9.1.0", seed=0).start()
    es = Elasticsearch(server.url)
    server.faults.add_error("_mget", status=429, count=2)
    server.requests.entries()  # what was asked and answered: arrival, finish, method, path, status
    server.stop()

CLI: ``python -m devstack.search.server --host 127.0.0.1 --port 9200 --version 9.1.0 --seed 0``
     ``python -m devstack.search.server --engine opensearch --version 2.19.0 --sigv4 us-east-1``
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import signal
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devstack.search import errors
from devstack.search.api import DocumentApi
from devstack.search.faults import FaultController
from devstack.search.mapping import filter_path
from devstack.search.request_log import RequestLog
from devstack.search.search import SearchService
from devstack.search.sigv4 import SigV4Verifier
from devstack.search.sort import ELASTICSEARCH, SortDialect
from devstack.search.store import Store
from devstack.search.validation import (
    COUNT_PARAMS,
    COUNT_UNSUPPORTED_PARAMS,
    MGET_PARAMS,
    MGET_UNSUPPORTED_PARAMS,
    OPEN_PIT_PARAMS,
    OPENSEARCH_CREATE_PIT_PARAMS,
    PIT_UNSUPPORTED_PARAMS,
    SCROLL_PARAMS,
    SEARCH_PARAMS,
    SEARCH_UNSUPPORTED_PARAMS,
    check_params,
)

FAULT_PREFIX = "/_fault"
_COMPAT = re.compile(r"compatible-with\s*=\s*(\d+)", re.IGNORECASE)
_VND = "application/vnd.elasticsearch+"
ENGINES = ("elasticsearch", "opensearch")
DEFAULT_VERSIONS = {"elasticsearch": "9.1.0", "opensearch": "2.19.0"}

__all__ = ["FAULT_PREFIX", "EsCompatServer", "FaultController"]


class _Reply(Exception):
    """A finished ``(status, body)`` answer raised from deep inside routing."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _no_handler(method: str, path: str) -> _Reply:
    return _Reply(400, {"error": f"no handler found for uri [{path}] and method [{method}]", "status": 400})


def _bad_method(method: str, path: str, allowed: list[str]) -> _Reply:
    return _Reply(
        405,
        {
            "error": f"Incorrect HTTP method for uri [{path}] and method [{method}], allowed: [{', '.join(allowed)}]",
            "status": 405,
        },
    )


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: EsCompatServer) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    server_version = "es-compat"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    # --- plumbing ---------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(chunks)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
        return raw

    def _decoded(self, raw: bytes) -> bytes:
        if raw and self.headers.get("Content-Encoding", "").lower() == "gzip":
            return gzip.decompress(raw)
        return raw

    def _send(self, status: int, body: Any, content_type: str) -> None:
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; charset=UTF-8"
        else:
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
        reason = self.responses.get(status, ("",))[0]
        product = "X-Elastic-Product: Elasticsearch\r\n" if self.server.app.engine == "elasticsearch" else ""
        head = (
            f"HTTP/1.1 {status} {reason}\r\n{product}Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        data = head.encode("latin-1") + b"\r\n" + (b"" if self.command == "HEAD" else payload)
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _media(self, has_body: bool) -> str:
        """Check the versioned media types like Elasticsearch; return the response Content-Type."""
        major = self.server.app.major
        accept = self.headers.get("Accept")
        content_type = self.headers.get("Content-Type") if has_body else None
        if self.server.app.engine == "opensearch":
            for name, value in (("Content-Type", content_type), ("Accept", accept)):
                if value and _VND in value.lower():
                    raise _Reply(406, {"error": f"{name} header [{value}] is not supported", "status": 406})
            return "application/json; charset=UTF-8"
        accept_v = _version_of(accept)
        content_v = _version_of(content_type)
        allowed = (major, major - 1)
        if accept_v is not None and accept_v not in allowed:
            raise errors.media_type(
                "Accept",
                f"Accept version must be either version {major} or {major - 1}, but found {accept_v}. Accept={accept}",
            )
        if content_v is not None and content_v not in allowed:
            raise errors.media_type(
                "Content-Type",
                f"Content-Type version must be either version {major} or {major - 1}, but found {content_v}. "
                f"Content-Type={content_type}",
            )
        either = accept_v is not None or content_v is not None
        if has_body and accept and content_type and either and accept_v != content_v and "*/*" not in accept:
            raise errors.media_type(
                "Accept, Content-Type",
                "A compatible version is required on both Content-Type and Accept headers if either one has "
                "requested a compatible version and the compatible versions must match. "
                f"Accept={accept}, Content-Type={content_type}",
            )
        if accept_v is not None:
            return f"{_VND}json;compatible-with={accept_v}"
        return "application/json"

    def _handle(self) -> None:
        path = urlsplit(self.path).path or "/"
        if path == FAULT_PREFIX or path.startswith(FAULT_PREFIX + "/"):
            self._answer(path)
            return
        log = self.server.app.requests
        token = log.begin(time.monotonic())
        status: int | None = None
        try:
            status = self._answer(path)
        finally:
            log.record(token, time.monotonic(), self.command, path, status)

    def _answer(self, path: str) -> int | None:
        """Answer the request; return the status sent (``None``: the connection was dropped)."""
        app = self.server.app
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        try:
            wire = self._read_body()
            raw = self._decoded(wire)
        except (OSError, ValueError):
            self._drop()
            return None
        if path == FAULT_PREFIX or path.startswith(FAULT_PREFIX + "/"):
            status, body = app.control(self.command, path[len(FAULT_PREFIX) :], raw)
            self._send(status, body, "application/json")
            return status
        if app.sigv4 is not None:
            refusal = app.sigv4.verify(self.command, self.path, self.headers, wire)
            if refusal is not None:
                self._send(403, refusal, "application/json")
                return 403
        decision = app.faults.decide(self.command, path)
        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.drop:
            self._drop()
            return None
        content_type = "application/json"
        try:
            content_type = self._media(bool(raw))
            if decision.status is not None:
                raise errors.injected(decision.status)
            status, body = app.dispatch(self.command, path, params, raw)
            if params.get("filter_path") and isinstance(body, (dict, list)) and 200 <= status < 300:
                body = filter_path(body, params["filter_path"])
        except errors.EsError as error:
            status, body = error.status, error.body()
        except _Reply as reply:
            status, body = reply.status, reply.body
        except Exception as error:  # a server bug: answer like an unexpected Elasticsearch failure
            status = 500
            body = errors.EsError(500, "exception", f"{type(error).__name__}: {error}").body()
        self._send(status, body, content_type)
        return status


def _dialect(engine: str, version: str) -> SortDialect:
    if engine == "elasticsearch":
        return ELASTICSEARCH
    major, minor = (int(p) for p in [*version.split("."), "0"][:2])
    shard_doc = (major, minor) >= (3, 3)
    return SortDialect(id_sort=True, shard_doc=shard_doc, implicit_tiebreaker=False, shard_doc_needs_pit=shard_doc)


def _version_of(header: str | None) -> int | None:
    if not header or _VND not in header.lower():
        return None
    match = _COMPAT.search(header)
    return int(match.group(1)) if match else None


def _json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise errors.EsError(400, "x_content_parse_exception", f"[1:1] Unexpected character: {error.msg}") from error


class EsCompatServer:
    """The server: ``start()`` serves on a background thread; ``url`` is ``http://host:port``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str | None = None,
        seed: int = 0,
        *,
        engine: str = "elasticsearch",
        sigv4: str | None = None,
        sigv4_service: str = "es",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r} is not one of {ENGINES}")
        version = version or DEFAULT_VERSIONS[engine]
        self.host = host
        self.port = port
        self.engine = engine
        self.version = version
        self.major = int(version.split(".")[0])
        self.seed = seed
        self.faults = FaultController(seed)
        self.requests = RequestLog()
        self.store = Store()
        self.search = SearchService(self.store, self.faults, _dialect(engine, version))
        self.api = DocumentApi(self.store, version, str(uuid.UUID(int=seed + 1)).replace("-", "")[:22], engine)
        self.sigv4 = SigV4Verifier(sigv4, sigv4_service) if sigv4 else None
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{port}"

    # --- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> EsCompatServer:
        if self._httpd is not None:
            return self
        self._httpd = _HttpServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="es-compat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with httpd.connections_lock:
            for connection in list(httpd.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> EsCompatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Drop every index, point in time and scroll; clear the faults, the request log (and any session
        token rotation)."""
        with self.store.lock:
            self.store.reset()
            self.search.reset()
        self.faults.clear()
        self.requests.clear()
        if self.sigv4 is not None:
            self.sigv4.configure({"session_tokens": None, "expired_tokens": []})

    def expire_pits(self) -> None:
        """Every open point in time and scroll expires now."""
        with self.store.lock:
            self.search.expire_all()

    # --- control API ------------------------------------------------------------------------------------------

    def control(self, method: str, sub: str, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw) if raw.strip() else {}
            if sub in ("", "/") and method == "GET":
                return 200, self.faults.describe()
            if sub in ("", "/") and method == "DELETE":
                self.faults.clear()
                return 200, {"acknowledged": True}
            if method in ("POST", "PUT") and sub == "/expire_pits":
                self.expire_pits()
                return 200, {"acknowledged": True}
            if sub == "/requests" and method == "GET":
                return 200, {"requests": self.requests.describe()}
            if sub == "/requests" and method == "DELETE":
                self.requests.clear()
                return 200, {"acknowledged": True}
            if method in ("POST", "PUT") and sub == "/reset":
                self.reset()
                return 200, {"acknowledged": True}
            if sub == "/sigv4" and self.sigv4 is not None:
                if method in ("POST", "PUT"):
                    self.sigv4.configure(body)
                return 200, self.sigv4.describe()
            if method in ("POST", "PUT") and sub.count("/") == 1:
                self.faults.configure(sub[1:], body)
                return 200, {"acknowledged": True, **self.faults.describe()}
        except (ValueError, TypeError, KeyError, re.error) as error:
            return 400, {"error": {"type": "illegal_argument_exception", "reason": str(error)}, "status": 400}
        return 404, {"error": f"unknown fault control [{method} {FAULT_PREFIX}{sub}]", "status": 404}

    # --- routing ----------------------------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, params: dict[str, str], raw: bytes) -> tuple[int, Any]:
        segments = [unquote(s) for s in path.split("/")[1:]]
        if segments and segments[-1] == "":
            segments.pop()
        with self.store.lock:
            return self._route(method, path, segments, params, raw)

    def _route(self, method: str, path: str, seg: list[str], params: dict[str, str], raw: bytes) -> tuple[int, Any]:
        api, search = self.api, self.search

        def allow(*methods: str) -> None:
            if method not in methods:
                raise _bad_method(method, path, list(methods))

        if not seg:
            allow("GET", "HEAD")
            return api.info() if method == "GET" else (200, None)
        head = seg[0]
        n = len(seg)
        if head == "_bulk" and n == 1:
            allow("POST", "PUT")
            return api.bulk(None, raw)
        if head == "_cluster" and n >= 2 and seg[1] == "health":
            allow("GET")
            return api.health(seg[2] if n > 2 else None)
        if head == "_cat" and n >= 2 and seg[1] == "indices":
            allow("GET")
            return api.cat_indices(seg[2] if n > 2 else None, params)
        if head == "_search" and n >= 2 and seg[1] == "scroll":
            path_id = seg[2] if n > 2 else None
            if method == "DELETE":
                return search.clear_scroll(_json(raw), path_id)
            allow("GET", "POST")
            check_params(path, params, SCROLL_PARAMS, frozenset())
            return 200, search.scroll(params, _json(raw), path_id)
        if self.engine == "opensearch":
            if head == "_search" and n >= 2 and seg[1] == "point_in_time":
                allow("DELETE")
                return 200, search.delete_pits(_json(raw), every=n == 3 and seg[2] == "_all")
            if n == 3 and seg[1:] == ["_search", "point_in_time"]:
                allow("POST")
                check_params(path, params, OPENSEARCH_CREATE_PIT_PARAMS, PIT_UNSUPPORTED_PARAMS)
                return 200, search.create_pit(head, params)
            if "_pit" in seg[:2]:
                raise _no_handler(method, path)
        if head == "_pit" and n == 1:
            allow("DELETE")
            return search.close_pit(_json(raw))
        if head.startswith("_") and head not in ("_all",) and n == 1:
            return self._index_endpoint(method, path, None, head, seg, params, raw)
        if n == 1:
            return self._index_level(method, path, head, params, raw)
        return self._index_endpoint(method, path, head, seg[1], seg, params, raw)

    def _index_level(self, method: str, path: str, name: str, params: dict[str, str], raw: bytes) -> tuple[int, Any]:
        api = self.api
        if method == "PUT":
            return api.create_index(name, _json(raw))
        if method == "HEAD":
            return api.index_exists(name)
        if method == "DELETE":
            return api.delete_index(name, params)
        if method == "GET":
            return api.get_index(name)
        raise _bad_method(method, path, ["GET", "PUT", "DELETE", "HEAD"])

    def _index_endpoint(
        self,
        method: str,
        path: str,
        expr: str | None,
        endpoint: str,
        seg: list[str],
        params: dict[str, str],
        raw: bytes,
    ) -> tuple[int, Any]:
        api, search = self.api, self.search
        rest = seg[2:] if expr is not None else seg[1:]

        def allow(*methods: str) -> None:
            if method not in methods:
                raise _bad_method(method, path, list(methods))

        target = None if expr in (None, "_all", "*") else expr
        if endpoint == "_search" and not rest:
            allow("GET", "POST")
            check_params(path, params, SEARCH_PARAMS, SEARCH_UNSUPPORTED_PARAMS)
            return 200, search.search(target if expr != "_all" else "_all", params, _json(raw))
        if endpoint == "_count" and not rest:
            allow("GET", "POST")
            check_params(path, params, COUNT_PARAMS, COUNT_UNSUPPORTED_PARAMS)
            return 200, search.count(target, params, _json(raw))
        if endpoint == "_mget" and not rest:
            allow("GET", "POST")
            check_params(path, params, MGET_PARAMS, MGET_UNSUPPORTED_PARAMS)
            return api.mget(target, params, _json(raw))
        if endpoint == "_refresh" and not rest:
            allow("GET", "POST")
            return api.refresh(target)
        if endpoint == "_mapping" and not rest:
            if method == "PUT" or method == "POST":
                return api.put_mapping(expr or "_all", _json(raw))
            allow("GET")
            return api.get_mapping(target)
        if endpoint == "_settings" and not rest:
            allow("GET")
            return api.get_settings(target)
        if expr is None:
            raise _no_handler(method, path)
        if endpoint == "_bulk" and not rest:
            allow("POST", "PUT")
            return api.bulk(expr, raw)
        if endpoint == "_pit" and not rest:
            allow("POST")
            check_params(path, params, OPEN_PIT_PARAMS, PIT_UNSUPPORTED_PARAMS)
            return 200, search.open_pit(expr, params)
        if endpoint == "_doc" and not rest:
            allow("POST")
            return api.put_doc(expr, None, _json(raw))
        if len(rest) == 1 and endpoint in ("_doc", "_create", "_update", "_source"):
            doc_id = rest[0]
            if endpoint == "_create":
                allow("PUT", "POST")
                return api.put_doc(expr, doc_id, _json(raw), "create")
            if endpoint == "_update":
                allow("POST")
                return api.update_doc(expr, doc_id, _json(raw))
            if endpoint == "_source":
                allow("GET", "HEAD")
                return api.get_doc(expr, doc_id, params, source_only=True)
            if method in ("PUT", "POST"):
                return api.put_doc(expr, doc_id, _json(raw), params.get("op_type", "index"))
            if method in ("GET", "HEAD"):
                return api.get_doc(expr, doc_id, params)
            if method == "DELETE":
                return api.delete_doc(expr, doc_id)
            raise _bad_method(method, path, ["GET", "PUT", "POST", "DELETE", "HEAD"])
        raise _no_handler(method, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Elasticsearch-compatible test server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--engine", choices=ENGINES, default="elasticsearch")
    parser.add_argument("--version", default=None, help="default: 9.1.0 (elasticsearch), 2.19.0 (opensearch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigv4", metavar="REGION", default=None, help="require AWS SigV4 (access key/secret test)")
    args = parser.parse_args(argv)
    server = EsCompatServer(args.host, args.port, args.version, args.seed, engine=args.engine, sigv4=args.sigv4).start()
    signed = f", SigV4 required for {args.sigv4}" if args.sigv4 else ""
    print(f"{server.engine}-compat {server.version} listening on {server.url}{signed}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
