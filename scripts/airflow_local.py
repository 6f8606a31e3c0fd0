"""`make airflow`: a real Airflow 3.3.1 on this machine with the whole local stack, to use from the UI.

Starts the Elasticsearch-compatible server (sample messages for the last days), an S3 server (moto), the
ledger database on the local MariaDB/MySQL, and Airflow's api-server, scheduler, dag-processor and
triggerer (metadata in the local PostgreSQL) with the LocalExecutor or, with ``AIRFLOW_LOCAL_EXECUTOR=celery``,
the CeleryExecutor as MWAA runs it: the machine's Redis as broker (``REDIS_URL``) or, with
``AIRFLOW_LOCAL_BROKER=sqs``, moto's SQS (served by the local S3 server's moto), the metadata database as result
backend and two Celery workers of ``AIRFLOW_LOCAL_CELERY_CONCURRENCY`` slots each (default 2). Everything lives
under ``.airflow/``: the
Airflow home, the config, and every log in ``.airflow/logs/``. Ctrl-C — or ``make airflow-stop`` from
another shell — stops exactly what it started. Running it again reuses the metadata database, the ledger
and the Airflow history; ``make airflow-reset`` throws them away.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow"
LOGS = HOME / "logs"
STATE = HOME / "local.json"
LAUNCHER_PID = HOME / "launcher.pid"
METADATA_DB = "message_export_airflow"
LEDGER_DB = "message_export_local"
BUCKET = "message-archive"
DAYS = 4  # sample data: the three days before today (due) and today (not yet due)
PER_DAY = 1000
USER, PASSWORD = "admin", "admin"
# the Celery broker by default: the machine's Redis, started by scripts/ensure_redis.sh
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _check_free(port: int, what: str, variable: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(
                f"port {port} for {what} is already in use on 127.0.0.1; stop what uses it (a previous "
                f"`make airflow`? run `make airflow-stop`) or pick another port: {variable}=<port> make airflow"
            )


def _mysql() -> dict[str, object]:
    return {
        "host": os.environ.get("MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("MYSQL_PORT", "3306")),
        "user": os.environ.get("MYSQL_USER", "root"),
        "password": os.environ.get("MYSQL_PASSWORD", ""),
    }


def _mysql_connect(database: str | None = None) -> Any:
    import MySQLdb

    mysql = _mysql()
    kwargs = {"db": database} if database else {}
    return MySQLdb.connect(
        host=mysql["host"], port=mysql["port"], user=mysql["user"], passwd=mysql["password"], **kwargs
    )


def _ensure_ledger_database() -> None:
    admin = _mysql_connect()
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {LEDGER_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.close()


def _first_day() -> date:
    """The first sample day, kept in .airflow/local.json so a restart serves the same data."""
    if STATE.exists():
        return date.fromisoformat(json.loads(STATE.read_text())["first_day"])
    first = datetime.now(UTC).date() - timedelta(days=DAYS - 1)
    STATE.write_text(json.dumps({"first_day": first.isoformat()}))
    return first


def _write_config(first_day: date) -> Path:
    import yaml

    from devstack.archive_layout import apply_archive_layout

    config = yaml.safe_load((REPO / "include/config/message_export.yaml").read_text())
    config["start_date"] = first_day.isoformat()
    print(f"» archive layout: {apply_archive_layout(config)} (ARCHIVE_LAYOUT=message|batch make airflow)")
    path = HOME / "message_export.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _connections(es_url: str, s3_url: str) -> dict[str, str]:
    from devstack.connections import connection_environment

    return connection_environment(
        es_url=es_url, s3_url=s3_url, mysql=_mysql(), database=LEDGER_DB, s3_credentials=("local", "local")
    )


def _archived_before_restart() -> int:
    import MySQLdb

    try:
        db = _mysql_connect(LEDGER_DB)
    except MySQLdb.Error:
        return 0
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM message_tracking WHERE status = 'completed'")
            return int(cursor.fetchone()[0])
    except MySQLdb.Error:
        return 0
    finally:
        db.close()


def _broker(broker: str, s3_url: str) -> tuple[str, dict[str, str]]:
    """The Celery broker URL and transport options: Redis, or kombu's SQS transport against moto's SQS."""
    if broker == "redis":
        return REDIS_URL, {}
    # moto serves every AWS API on one port: the S3 server's moto is an SQS endpoint too
    host_port = s3_url.removeprefix("http://")
    return f"sqs://local:local@{host_port}/", {"region": "us-east-1", "is_secure": "False", "polling_interval": "1"}


def _choice(variable: str, choices: tuple[str, ...]) -> str:
    """The value of the environment variable ``variable``, one of ``choices`` (the first when unset)."""
    value = os.environ.get(variable) or choices[0]
    if value not in choices:
        raise SystemExit(f"{variable}={value!r}: choose one of {', '.join(choices)}")
    return value


def start() -> int:
    from devstack.local_airflow import PROCESSES, AirflowStack, CeleryWorkers

    executor = _choice("AIRFLOW_LOCAL_EXECUTOR", ("local", "celery"))
    broker = _choice("AIRFLOW_LOCAL_BROKER", ("redis", "sqs"))
    concurrency = _port("AIRFLOW_LOCAL_CELERY_CONCURRENCY", 2)
    from devstack.s3.moto_server import MotoS3Server, create_bucket
    from devstack.sample_data import SampleSpec, seed
    from devstack.search.server import EsCompatServer

    ui_port = _port("AIRFLOW_LOCAL_PORT", 8080)
    es_port = _port("ES_LOCAL_PORT", 9200)
    s3_port = _port("S3_LOCAL_PORT", 5050)
    for port, what, variable in (
        (ui_port, "the Airflow UI", "AIRFLOW_LOCAL_PORT"),
        (es_port, "the Elasticsearch-compatible server", "ES_LOCAL_PORT"),
        (s3_port, "the S3 server", "S3_LOCAL_PORT"),
    ):
        _check_free(port, what, variable)
    HOME.mkdir(exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    LAUNCHER_PID.write_text(str(os.getpid()))
    logging.basicConfig(
        filename=LOGS / "local-services.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from elasticsearch import Elasticsearch

    first_day = _first_day()
    print(f"» Elasticsearch-compatible server on http://127.0.0.1:{es_port}, S3 server on http://127.0.0.1:{s3_port}")
    search_server = EsCompatServer(port=es_port).start()
    s3_server = MotoS3Server(port=s3_port).start()
    create_bucket(s3_server.url, BUCKET)
    days = min((datetime.now(UTC).date() - first_day).days + 1, 14)
    print(f"» seeding {days} days × {PER_DAY} sample messages from {first_day} (with history, status, audit)")
    seed(
        Elasticsearch(search_server.url),
        SampleSpec(
            start=datetime.combine(first_day, datetime.min.time(), tzinfo=UTC),
            days=days,
            messages_per_day=PER_DAY,
            seed=42,
        ),
    )
    _ensure_ledger_database()
    archived = _archived_before_restart()
    env = _connections(search_server.url, s3_server.url)
    env["MESSAGE_EXPORT_CONFIG"] = str(_write_config(first_day))
    broker_url, transport_options = _broker(broker, s3_server.url)
    celery = None
    if executor == "celery":
        celery = CeleryWorkers(broker_url, workers=2, concurrency=concurrency, transport_options=transport_options)
    workers = f", Celery workers {' and '.join(celery.names())} ({concurrency} slots each)" if celery else ""
    print(f"» starting Airflow 3 (api-server, scheduler, dag-processor, triggerer{workers}); logs in .airflow/logs/")
    processes = ", ".join([*PROCESSES, *(celery.names() if celery else []), "tasks/"])
    wiring = "LocalExecutor"
    if celery:
        wiring = f"CeleryExecutor, broker {broker_url}, result backend: the metadata database"
    stack = AirflowStack(
        HOME,
        dags_folder=REPO / "dags",
        plugins_folder=REPO / "plugins",
        env=env,
        all_admins=False,
        users={USER: PASSWORD},
        port=ui_port,
        database=METADATA_DB,
        logs=LOGS,
        fast=False,
        celery=celery,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.start()
        stack.wait_for_dag("message_export")
        print(
            f"\nAirflow UI: {stack.base_url}   log in as {USER} / {PASSWORD}\n"
            f"  DAG message_export (paused): unpause it to export the due days from {first_day}, or trigger a day.\n"
            f"  ledger: MySQL database '{LEDGER_DB}'; archive: s3://{BUCKET}/messages/ at {s3_server.url}\n"
            f"  executor: {wiring}\n"
            f"  logs: {LOGS}/ ({processes})\n"
            "  Ctrl-C or `make airflow-stop` stops everything; `make airflow-reset` starts from scratch."
        )
        if archived:
            print(
                f"  note: the S3 server keeps objects in memory; the {archived} messages archived before this "
                "restart are in the ledger but not in the bucket (trigger their days with reprocess=true)."
            )
        while not stop.wait(1):
            dead = [name for name, proc in stack.processes.items() if proc.poll() is not None]
            if dead:
                print(f"airflow {', '.join(dead)} exited; see {LOGS}/{dead[0]}.log. Stopping.", file=sys.stderr)
                return 1
        return 0
    finally:
        print("» stopping Airflow and the local servers")
        stack.stop()
        s3_server.stop()
        search_server.stop()
        LAUNCHER_PID.unlink(missing_ok=True)


def stop_running() -> int:
    """Stop a running `make airflow` from another shell (its launcher, or what is left of it)."""
    from devstack.local_airflow import stop_process_groups

    if LAUNCHER_PID.exists():
        pid = int(LAUNCHER_PID.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(60):
                time.sleep(0.5)
                os.kill(pid, 0)
        except ProcessLookupError:
            print("stopped")
            return 0
    processes = HOME / "processes.json"
    if processes.exists():  # the launcher died without cleaning up
        stopped = stop_process_groups(json.loads(processes.read_text()))
        processes.unlink()
        print(f"stopped {', '.join(stopped) or 'nothing (already gone)'}")
        return 0
    print("no `make airflow` is running")
    return 0


def reset() -> int:
    """Stop, then drop the metadata database, the ledger database and .airflow/."""

    from devstack.local_airflow import drop_postgres_database

    stop_running()
    drop_postgres_database(METADATA_DB)
    admin = _mysql_connect()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {LEDGER_DB}")
    admin.close()
    shutil.rmtree(HOME, ignore_errors=True)
    print(f"removed the Airflow metadata database '{METADATA_DB}', the ledger '{LEDGER_DB}' and {HOME}")
    return 0


def fetch(message_id: str) -> int:
    """Print one archived message of the running `make airflow` stack, read as the fetch command reads it."""
    if not message_id:
        raise SystemExit("name the message: make fetch ID=<message id>")
    config = HOME / "message_export.yaml"
    if not config.exists():
        raise SystemExit("no `make airflow` stack here yet: start one with `make airflow`")
    es_url = f"http://127.0.0.1:{_port('ES_LOCAL_PORT', 9200)}"
    s3_url = f"http://127.0.0.1:{_port('S3_LOCAL_PORT', 5050)}"
    os.environ.update({**_connections(es_url, s3_url), "MESSAGE_EXPORT_CONFIG": str(config)})
    sys.path.insert(0, str(REPO / "plugins"))
    from message_export.fetch import main as fetch_main

    return fetch_main([message_id])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "reset", "fetch"], nargs="?", default="start")
    parser.add_argument("message_id", nargs="?", default="", help="fetch: the message id")
    args = parser.parse_args(argv)
    if args.action == "fetch":
        return fetch(args.message_id)
    return {"start": start, "stop": stop_running, "reset": reset}[args.action]()


if __name__ == "__main__":
    sys.exit(main())
