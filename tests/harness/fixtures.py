"""Real services for integration and reliability tests: MariaDB/MySQL, moto's S3 server behind a
fault-injecting proxy, and the Elasticsearch-compatible server, all over HTTP/TCP; plus an Airflow metadata DB."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import MySQLdb
import pytest

from tests.harness.stack import ENGINES, SIGV4_REGION, Stack, StackServices, search_connection
from tests.support.connections import aws_connection, mysql_connection

if TYPE_CHECKING:
    from tests.support.es_server import EsCompatServer
    from tests.support.s3_proxy import S3FaultProxy
    from tests.support.s3_server import MotoS3Server

MYSQL = {
    "host": os.environ.get("MYSQL_TEST_HOST", "127.0.0.1"),
    "port": int(os.environ.get("MYSQL_TEST_PORT", "3306")),
    "user": os.environ.get("MYSQL_TEST_USER", "root"),
    "password": os.environ.get("MYSQL_TEST_PASSWORD", ""),
}


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Initialise the Airflow metadata DB of the test session's AIRFLOW_HOME."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=os.environ, check=False
    )
    if result.returncode:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    name = f"message_export_test_{uuid.uuid4().hex[:10]}"
    admin = MySQLdb.connect(host=MYSQL["host"], port=MYSQL["port"], user=MYSQL["user"], passwd=MYSQL["password"])
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    os.environ["AIRFLOW_CONN_MYSQL_DEFAULT"] = json.dumps(mysql_connection(MYSQL, name))
    yield name
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


# Tests marked with this run once per search engine; every other test runs against Elasticsearch.
BOTH_ENGINES = pytest.mark.parametrize("search_engine", ENGINES)


@pytest.fixture(scope="session")
def es_server() -> Iterator[EsCompatServer]:
    from tests.support.es_server import EsCompatServer

    server = EsCompatServer(seed=7).start()
    os.environ["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"] = json.dumps(search_connection("elasticsearch", server.url))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def opensearch_server() -> Iterator[EsCompatServer]:
    """The same server in its OpenSearch mode, verifying SigV4 signatures like Amazon OpenSearch Service."""
    from tests.support.es_server import EsCompatServer

    server = EsCompatServer(seed=7, engine="opensearch", sigv4=SIGV4_REGION).start()
    yield server
    server.stop()


@pytest.fixture
def search_engine() -> str:
    """The engine a test's stack uses; ``BOTH_ENGINES`` parametrises it."""
    return "elasticsearch"


@pytest.fixture(scope="session")
def s3_servers() -> Iterator[tuple[MotoS3Server, S3FaultProxy]]:
    from tests.support.s3_proxy import S3FaultProxy
    from tests.support.s3_server import MotoS3Server

    moto = MotoS3Server().start()
    proxy = S3FaultProxy(moto.url, seed=11).start()
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(aws_connection(proxy.url, "test", "test"))
    yield moto, proxy
    proxy.stop()
    moto.stop()


@pytest.fixture(scope="session")
def services(airflow_db, mysql_database, es_server, s3_servers) -> StackServices:
    moto, proxy = s3_servers
    return StackServices(mysql={**MYSQL, "database": mysql_database}, es=es_server, moto=moto, s3_proxy=proxy)


@pytest.fixture
def stack(
    services: StackServices,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    search_engine: str,
    request: pytest.FixtureRequest,
) -> Iterator[Stack]:
    """A clean slate for one test: empty ledger, indices, bucket and faults; its own config file."""
    if search_engine == "opensearch":
        server = request.getfixturevalue("opensearch_server")
        services = dataclasses.replace(services, es=server)
        connection = search_connection(search_engine, server.url)
        monkeypatch.setenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps(connection))
    stack = Stack(services, tmp_path, search_engine)
    stack.reset()
    monkeypatch.setenv("MESSAGE_EXPORT_CONFIG", str(stack.write_config()))
    yield stack
    stack.close()


@pytest.fixture
def task_output(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[TaskOutput]:
    """Everything a run's task logs show under ``dag.test()``: log records and what tasks printed
    (a task's failure and its exception are printed, not logged through ``logging``)."""
    caplog.set_level("DEBUG")
    yield TaskOutput(caplog, capfd)


class TaskOutput:
    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self._caplog = caplog
        self._capsys = capsys
        self._printed: list[str] = []

    def text(self) -> str:
        captured = self._capsys.readouterr()
        self._printed += [captured.out, captured.err]
        return "\n".join([self._caplog.text, *self._printed])

    def clear(self) -> None:
        self.text()
        self._printed.clear()
        self._caplog.clear()
