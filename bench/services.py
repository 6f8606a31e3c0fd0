"""The local services the benchmark runs against, with realistic injected latency.

- the Elasticsearch-compatible server in its own process (``python -m devstack.search.server``), so
  worker processes measure only their own memory and the server never shares their GIL;
- the in-memory S3 server in its own process too (``python -m devstack.s3.memory_server``; why
  that one: docs/decisions/0007-s3-stand-ins.md), behind the latency-injecting proxy, which runs in
  this (orchestrating) process: it only waits while workers measure;
- the local MySQL/MariaDB server, in a fresh database dropped at the end;
- for the phases that need a buffer pool of their own size, a private ``mariadbd`` on a free port,
  its data under the work directory (the shared server keeps MariaDB's defaults for everyone).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import MySQLdb
import yaml

from bench.environment import REPO
from bench.profiles import Latency
from devstack.connections import mysql_connection

BUCKET = "message-archive"
MYSQL = {
    "host": os.environ.get("MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("MYSQL_PORT", "3306")),
    "user": os.environ.get("MYSQL_USER", "root"),
    "password": os.environ.get("MYSQL_PASSWORD", ""),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(process: subprocess.Popen[bytes], answers: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if answers():
            return
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"{what} did not answer within {timeout}s")


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class ServerProcess:
    """A local HTTP server as a child process, started and stopped with the benchmark."""

    name = "server"
    module: tuple[str, ...] = ()  # ``python -m`` and its arguments, before ``--port``
    credentials = ("test", "test")

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        command = [sys.executable, "-m", *self.module, "--port", str(self.port)]
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        _wait_until_up(self._process, self._answers, f"{self.name} on {self.url} (log: {self._log_path})", timeout)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                response.read()
        except urllib.error.HTTPError:
            return True  # it answers (a server's root path need not be a page)
        except (urllib.error.URLError, OSError):
            return False
        return True

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def rss_mb(self) -> float | None:
        import psutil

        try:
            return None if self._process is None else psutil.Process(self._process.pid).memory_info().rss / 2**20
        except psutil.Error:
            return None

    def stop(self) -> None:
        _stop(self._process)
        self._process = None


class EsProcess(ServerProcess):
    """The Elasticsearch-compatible server."""

    name = "Elasticsearch-compatible server"
    module = ("devstack.search.server", "--host", "127.0.0.1")

    def set_latency(self, latency: Latency) -> None:
        """Inject ``latency`` on every request."""
        from devstack.search.server import FAULT_PREFIX  # the server's control API path

        body = json.dumps({"fixed_ms": latency.fixed_ms, "jitter_ms": latency.jitter_ms}).encode()
        for request in (
            urllib.request.Request(f"{self.url}{FAULT_PREFIX}", method="DELETE"),
            urllib.request.Request(
                f"{self.url}{FAULT_PREFIX}/latency", body, {"Content-Type": "application/json"}, method="POST"
            ),
        ):
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()


class MemoryS3Process(ServerProcess):
    """The in-memory asyncio S3 server."""

    name = "in-memory S3 server"
    module = ("devstack.s3.memory_server",)


class S3Stack:
    """An S3 server (its own process) and the latency proxy in front of it (this process)."""

    def __init__(self, server: ServerProcess) -> None:
        import boto3
        from botocore.config import Config

        from devstack.s3.fault_proxy import S3FaultProxy

        self.server = server
        self.proxy = S3FaultProxy(self.server.url, seed=0).start()
        # straight at the server (no proxy, no latency)
        self.client = boto3.client(
            "s3",
            endpoint_url=self.server.url,
            aws_access_key_id=self.server.credentials[0],
            aws_secret_access_key=self.server.credentials[1],
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        self.client.create_bucket(Bucket=BUCKET)

    @property
    def url(self) -> str:
        """The endpoint clients use: the proxy."""
        return self.proxy.url

    def set_latency(self, latency: Latency) -> None:
        self.proxy.faults.clear()
        self.proxy.faults.add_latency(fixed_ms=latency.fixed_ms, jitter_ms=latency.jitter_ms)

    def stored(self, prefix: str, suffix: str) -> tuple[int, int]:
        """How many objects whose keys end with ``suffix`` are under ``prefix``, and their bytes (read from the
        server directly)."""
        objects = stored = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(suffix):
                    objects, stored = objects + 1, stored + obj["Size"]
        return objects, stored

    def put_requests(self) -> int:
        """PUT requests the latency proxy has passed on since its counters were last reset."""
        return self.proxy.faults.counters().by_method.get("PUT", {}).get("requests", 0)

    def mean_object_size(self, prefix: str) -> int:
        """Mean size of up to 1,000 objects under ``prefix`` (read from the server directly)."""
        page = self.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix, MaxKeys=1000)
        sizes = [obj["Size"] for obj in page.get("Contents", [])]
        if not sizes:
            raise RuntimeError(f"no objects under s3://{BUCKET}/{prefix}")
        return round(sum(sizes) / len(sizes))

    def stop(self) -> None:
        self.proxy.stop()
        self.server.stop()


# -- MySQL / MariaDB -------------------------------------------------------------------------------


def connect(mysql: dict[str, Any]) -> Any:
    """Open a connection from ``{"host", "port", "user", "password"}`` and, if given, ``"database"``."""
    database = {"db": mysql["database"]} if mysql.get("database") else {}
    return MySQLdb.connect(
        host=mysql["host"],
        port=int(mysql["port"]),
        user=mysql["user"],
        passwd=mysql["password"],
        charset="utf8mb4",
        **database,
    )


def sql(mysql: dict[str, Any], statement: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of its own and commit; return its rows."""
    with closing(connect(mysql)) as db, db.cursor() as cursor:
        cursor.execute(statement, params)
        rows = list(cursor.fetchall())
        db.commit()
    return rows


def create_database(mysql: dict[str, Any], name: str) -> None:
    sql(mysql, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")


def server_settings(mysql: dict[str, Any], *names: str) -> dict[str, Any]:
    """The server variables ``names`` (``@@<name>``): what bounds the ledger's figures."""
    values = sql(mysql, "SELECT " + ", ".join(f"@@{name}" for name in names))[0]
    return {name: v.decode() if isinstance(v, bytes) else v for name, v in zip(names, values, strict=True)}


def mysql_conn_json(mysql: dict[str, Any], database: str | None = None) -> str:
    """The Airflow connection (``AIRFLOW_CONN_*`` JSON) of ``database`` (default: ``mysql``'s) on ``mysql``."""
    return json.dumps(mysql_connection(mysql, database or mysql["database"]))


@contextmanager
def connection_to(mysql: dict[str, Any], conn_id: str = "mysql_default") -> Iterator[None]:
    """Point ``AIRFLOW_CONN_<CONN_ID>`` (what the product's hook reads) at ``mysql`` meanwhile."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    previous = os.environ.get(variable)
    os.environ[variable] = mysql_conn_json(mysql)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous


@dataclass
class MySqlDatabase:
    """A fresh database for one bench run, plus sibling databases (``<name>_<suffix>``) for phases
    that need an empty ledger of their own; all dropped together."""

    name: str
    siblings: list[str] = field(default_factory=list)

    @classmethod
    def create(cls) -> MySqlDatabase:
        name = f"message_export_bench_{uuid.uuid4().hex[:10]}"
        create_database(MYSQL, name)
        return cls(name)

    @property
    def params(self) -> dict[str, Any]:
        return {**MYSQL, "database": self.name}

    def sibling(self, suffix: str) -> str:
        """Create and return the database ``<name>_<suffix>``."""
        name = f"{self.name}_{suffix}"
        create_database(MYSQL, name)
        self.siblings.append(name)
        return name

    def drop(self) -> None:
        # the ceilings worker makes and drops `<name>_ceiling` itself; dropped again if it died
        for name in (self.name, f"{self.name}_ceiling", *self.siblings):
            sql(MYSQL, f"DROP DATABASE IF EXISTS `{name}`")


class MariaDbInstance:
    """``mariadbd`` on 127.0.0.1:<free port>, root without a password, data in ``directory``; MariaDB's
    defaults but for the buffer pool and ``options``."""

    def __init__(self, directory: Path, buffer_pool_bytes: int, options: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.buffer_pool_bytes = buffer_pool_bytes
        self.options = options
        self.port = free_port()
        self.params = {"host": "127.0.0.1", "port": self.port, "user": "root", "password": ""}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 120.0) -> MariaDbInstance:
        server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if install is None or not Path(server).exists():
            raise RuntimeError("mariadbd / mariadb-install-db not found (apt-get install mariadb-server)")
        data, log = self.directory / "data", self.directory / "mariadbd.log"
        data.mkdir(parents=True, exist_ok=True)
        common = ["--no-defaults", f"--datadir={data}", "--user=root"]
        install_options = ["--auth-root-authentication-method=normal", "--skip-test-db"]
        subprocess.run([install, *common, *install_options], check=True, capture_output=True, timeout=300)
        self._process = subprocess.Popen(
            [
                server,
                *common,
                "--bind-address=127.0.0.1",
                f"--port={self.port}",
                f"--socket={self.directory / 'mariadbd.sock'}",
                f"--pid-file={self.directory / 'mariadbd.pid'}",
                f"--innodb-buffer-pool-size={self.buffer_pool_bytes}",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin",
                f"--log-error={log}",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        _wait_until_up(self._process, self._answers, f"mariadbd on port {self.port} (log: {log})", timeout)
        return self

    def _answers(self) -> bool:
        try:
            connect(self.params).close()
        except MySQLdb.OperationalError:
            return False
        return True

    def settings(self) -> dict[str, Any]:
        names = ("version", "innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit", "innodb_log_file_size")
        return {**server_settings(self.params, *names), "port": self.port}

    def stop(self) -> None:
        _stop(self._process, timeout=60)
        self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> MariaDbInstance:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_config(path: Path, **overrides: Any) -> Path:
    """Write the packaged default config with ``overrides`` to ``path``: top-level keys, and for a
    section given as a dict (``elasticsearch={...}``), its keys over the packaged section's."""
    config = yaml.safe_load((REPO / "include/config/message_export.yaml").read_text(encoding="utf-8"))
    for key, value in overrides.items():
        merge = isinstance(value, dict) and isinstance(config.get(key), dict)
        config[key] = {**config[key], **value} if merge else value
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
