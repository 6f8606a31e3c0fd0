"""`make demo`: a local stack with sample data, the real DAG run for each due day, and a summary.

Starts the Elasticsearch-compatible server and moto's S3 server in this process, uses the local
MariaDB/MySQL (database `message_export_demo`, recreated), seeds a few thousand realistic messages
over several days, runs the DAG with dag.test() until no window is due, and prints what it did.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / ".demo"
DATABASE = "message_export_demo"
DAYS = 3
PER_DAY = 1500


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(DEMO / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "MESSAGE_EXPORT_CONFIG": str(DEMO / "message_export.yaml"),
        }
    )
    sys.path.insert(0, str(REPO / "plugins"))
    import MySQLdb
    import yaml
    from elasticsearch import Elasticsearch

    from devstack.connections import connection_environment
    from devstack.s3.moto_server import MotoS3Server, create_bucket
    from devstack.sample_data import SampleSpec, create_indices, seed
    from devstack.search.server import EsCompatServer

    print("» starting the Elasticsearch-compatible server and the S3 server (moto)")
    search_server = EsCompatServer().start()
    s3_server = MotoS3Server().start()
    create_bucket(s3_server.url, "message-archive")
    mysql_host, mysql_port = os.environ.get("MYSQL_HOST", "127.0.0.1"), int(os.environ.get("MYSQL_PORT", "3306"))
    admin = MySQLdb.connect(host=mysql_host, port=mysql_port, user="root", passwd=os.environ.get("MYSQL_PASSWORD", ""))
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cursor.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.select_db(DATABASE)
    admin.autocommit(True)  # every query sees what the DAG's runs committed
    os.environ.update(
        connection_environment(
            es_url=search_server.url,
            s3_url=s3_server.url,
            mysql={
                "host": mysql_host,
                "port": mysql_port,
                "user": "root",
                "password": os.environ.get("MYSQL_PASSWORD", ""),
            },
            database=DATABASE,
            s3_credentials=("demo-access-key", "demo-secret-key"),
        )
    )
    from devstack.archive_layout import apply_archive_layout

    config = yaml.safe_load((REPO / "include/config/message_export.yaml").read_text())
    layout = apply_archive_layout(config)
    print(f"» archive layout: {layout} (ARCHIVE_LAYOUT=message|batch make demo)")
    (DEMO / "message_export.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    start = datetime.combine(config["start_date"], datetime.min.time(), tzinfo=UTC)
    print(
        f"» seeding {DAYS * PER_DAY} sample messages over {DAYS} days from {start:%Y-%m-%d}"
        " (with history/status/audit records)"
    )
    es = Elasticsearch(search_server.url)
    create_indices(es)
    seed(es, SampleSpec(start=start, days=DAYS, messages_per_day=PER_DAY, seed=42))

    print("» initialising the Airflow metadata database (.demo/airflow)")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.dag_processing.dagbag import DagBag

    logging.getLogger("airflow").setLevel(logging.WARNING)
    # Airflow 3.3 reads .airflowignore through a pathspec class that pathspec has deprecated: one warning per
    # pattern on every parse of the DAGs folder, from Airflow's own code and about nothing a user can change.
    warnings.filterwarnings(
        "ignore",
        message=r"GitWildMatchPattern \('gitwildmatch'\) is deprecated",
        category=DeprecationWarning,
        module=r"airflow\._shared\.module_loading\.file_discovery",
    )
    dag = DagBag(dag_folder=str(REPO / "dags")).dags["message_export"]
    bound = start + timedelta(days=DAYS)
    print(f"» running the message_export DAG until no window is due (logical date {bound:%Y-%m-%d})")
    for _ in range(DAYS + 1):
        began = time.monotonic()
        run = dag.test(logical_date=bound)
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT start_date, status, total_messages, completed_messages FROM job_runs "
                "ORDER BY job_id DESC LIMIT 1"
            )
            last = cursor.fetchone()
        state = getattr(run.state, "value", run.state)
        took = f"run {state:<8} {time.monotonic() - began:5.1f}s"
        if last:
            day, status, total, done = last
            print(f"  {took}  window {day:%Y-%m-%d}: {status}, {done}/{total} archived")
        else:
            print(f"  {took}  no window exported")
        if state != "success":
            break
        with admin.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM job_runs")
            if cursor.fetchone()[0] >= DAYS:
                break

    print("\n=== what was exported ===")
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT job_id, start_date, end_date, status, total_messages, completed_messages, failed_messages, "
            "next_run_date FROM job_runs ORDER BY start_date"
        )
        header = ("job", "window (UTC)", "status", "total", "archived", "failed", "next_run_date")
        print("{:>4}  {:<24} {:<10} {:>6} {:>8} {:>6}  {}".format(*header))
        for job_id, begins, ends, status, total, done, failed, nxt in cursor.fetchall():
            window = f"{begins:%Y-%m-%d} → {ends:%Y-%m-%d}"
            print(f"{job_id:>4}  {window:<24} {status:<10} {total:>6} {done:>8} {failed:>6}  {nxt:%Y-%m-%d}")
        cursor.execute(
            "SELECT message_id, s3_path, archive_offset, archive_length FROM message_tracking "
            "WHERE status='completed' ORDER BY s3_path, archive_offset LIMIT 3"
        )
        located = cursor.fetchall()
        paths = [
            path if offset is None else f"{path} (bytes {offset}-{offset + length - 1})"
            for _mid, path, offset, length in located
        ]
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        aws_access_key_id="demo-access-key",
        aws_secret_access_key="demo-secret-key",
        region_name="us-east-1",
    )
    count = sum(p.get("KeyCount", 0) for p in s3.get_paginator("list_objects_v2").paginate(Bucket="message-archive"))
    print(f"\n{count} objects in s3://message-archive/messages/, e.g.:")
    for path in paths:
        print(f"  {path}")
    if located:
        from message_export.fetch import fetch_message

        message_id = located[0][0].decode("utf-8", "surrogatepass")
        body = json.loads(fetch_message(message_id))  # the ledger says where; one (Range) GET reads it
        print(
            f"\n{paths[0]}: message_id={body['message_id']!r}, "
            f"{len(body['history'])} history, {len(body['status'])} status, {len(body['audit'])} audit records\n"
            f"  read back with: PYTHONPATH=plugins python -m message_export.fetch {message_id!r}"
        )
    print(
        f"\nledger: MySQL database '{DATABASE}' on {mysql_host}:{mysql_port} (tables job_runs, batch_progress, "
        "message_tracking)"
    )
    search_server.stop()
    s3_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
