"""The local services the benchmark runs against, with realistic injected latency.

- the Elasticsearch-compatible server in its own process (``python -m devstack.search.server``), so
  worker processes measure only their own memory and the server never shares their GIL;
- the in-memory S3 server in its own process too (``python -m devstack.s3.memory_server``; why
  that one: docs/decisions/0007-s3-stand-ins.md), behind the latency-injecting proxy, which runs in
  this (orchestrating) process: it only waits while workers measure;
- the local MySQL/MariaDB server, in a fresh database dropped at the end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import MySQLdb
import yaml

from bench.environment import REPO
from bench.profiles import Latency
from devstack.connections import connection_environment as local_connections

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


class ServerProcess:
    """A local HTTP server as a child process, started and stopped with the benchmark."""

    name = "server"
    credentials = ("test", "test")

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> ServerProcess:
        log = self._log_path.open("wb")
        self._process = subprocess.Popen(self.command(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}; see {self._log_path}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    response.read()
                return self
            except urllib.error.HTTPError:
                return self  # it answers (a server's root path need not be a page)
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.url} within {timeout}s")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def rss_mb(self) -> float | None:
        import psutil

        if self._process is None:
            return None
        try:
            return psutil.Process(self._process.pid).memory_info().rss / 2**20
        except psutil.Error:
            return None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None


class EsProcess(ServerProcess):
    """The Elasticsearch-compatible server."""

    name = "Elasticsearch-compatible server"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "devstack.search.server", "--host", "127.0.0.1", "--port", str(self.port)]

    def set_latency(self, latency: Latency | None) -> None:
        """Inject ``latency`` on every request (``None``: none)."""
        from devstack.search.server import FAULT_PREFIX  # the server's control API path

        request = urllib.request.Request(f"{self.url}{FAULT_PREFIX}", method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        if latency is None:
            return
        body = json.dumps({"fixed_ms": latency.fixed_ms, "jitter_ms": latency.jitter_ms}).encode()
        request = urllib.request.Request(
            f"{self.url}{FAULT_PREFIX}/latency", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


class MemoryS3Process(ServerProcess):
    """The in-memory asyncio S3 server."""

    name = "in-memory S3 server"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "devstack.s3.memory_server", "--port", str(self.port)]


class S3Stack:
    """An S3 server (its own process) and the latency proxy in front of it (this process)."""

    def __init__(self, server: ServerProcess, seed: int = 0) -> None:
        from devstack.s3.fault_proxy import S3FaultProxy

        self.server = server
        self.proxy = S3FaultProxy(self.server.url, seed=seed).start()
        self.client().create_bucket(Bucket=BUCKET)

    def client(self) -> Any:
        """A boto3 client straight at the server (no proxy, no latency)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.server.url,
            aws_access_key_id=self.server.credentials[0],
            aws_secret_access_key=self.server.credentials[1],
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )

    @property
    def url(self) -> str:
        """The endpoint clients use: the proxy."""
        return self.proxy.url

    def set_latency(self, latency: Latency | None) -> None:
        self.proxy.faults.clear()
        if latency is not None:
            self.proxy.faults.add_latency(fixed_ms=latency.fixed_ms, jitter_ms=latency.jitter_ms)

    def mean_object_size(self, prefix: str) -> int:
        """Mean size of up to 1,000 objects under ``prefix`` (read from the server directly)."""
        page = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix, MaxKeys=1000)
        sizes = [obj["Size"] for obj in page.get("Contents", [])]
        if not sizes:
            raise RuntimeError(f"no objects under s3://{BUCKET}/{prefix}")
        return round(sum(sizes) / len(sizes))

    def stop(self) -> None:
        self.proxy.stop()
        self.server.stop()


@dataclass
class MySqlDatabase:
    """A fresh database for one bench run, plus sibling databases (``<name>_<suffix>``) for phases
    that need an empty ledger of their own; all dropped together."""

    name: str
    siblings: list[str] = field(default_factory=list)

    @classmethod
    def create(cls) -> MySqlDatabase:
        name = f"message_export_bench_{uuid.uuid4().hex[:10]}"
        _create_database(name)
        return cls(name)

    @property
    def params(self) -> dict[str, Any]:
        return {**MYSQL, "database": self.name}

    def sibling(self, suffix: str) -> str:
        """Create and return the database ``<name>_<suffix>``."""
        name = f"{self.name}_{suffix}"
        _create_database(name)
        self.siblings.append(name)
        return name

    def server_settings(self) -> dict[str, Any]:
        """The server settings that bound the ledger's figures."""
        names = ("version", "innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit", "innodb_flush_method")
        with _admin() as admin, admin.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(f"@@{name}" for name in names))
            values = cursor.fetchone()
        return {
            name: value.decode() if isinstance(value, bytes) else value
            for name, value in zip(names, values, strict=True)
        }

    def drop(self) -> None:
        with _admin() as admin, admin.cursor() as cursor:
            # the ceilings worker makes and drops `<name>_ceiling` itself; dropped again if it died
            for name in (self.name, f"{self.name}_ceiling", *self.siblings):
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _create_database(name: str) -> None:
    with _admin() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")


class _admin:
    def __enter__(self) -> Any:
        self._conn = MySQLdb.connect(
            host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"]
        )
        return self._conn

    def __exit__(self, *exc: object) -> None:
        self._conn.close()


def connection_environment(
    es_url: str, s3_url: str, database: str, s3_credentials: tuple[str, str] = ("test", "test")
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the three connections the export uses."""
    return local_connections(
        es_url=es_url, s3_url=s3_url, mysql=MYSQL, database=database, s3_credentials=s3_credentials
    )


def write_config(path: Path, **overrides: Any) -> Path:
    """Write the packaged default config with ``overrides`` to ``path``: top-level keys, and for a
    section given as a dict (``elasticsearch={...}``), its keys over the packaged section's."""
    config = yaml.safe_load((REPO / "include/config/message_export.yaml").read_text(encoding="utf-8"))
    for key, value in overrides.items():
        merge = isinstance(value, dict) and isinstance(config.get(key), dict)
        config[key] = {**config[key], **value} if merge else value
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
