"""No secret in any log line, XCom or exception; encryption and ACL applied to every object."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import MySQLdb

from tests.fixtures.export_stack import BUCKET, Stack
from tests.fixtures.messages import day_of_messages

LOGICAL = datetime(2024, 10, 2, tzinfo=UTC)
MYSQL_SECRET = "Mysql-S3cret-4b1f"
AWS_SECRET = "Aws-S3cret-9d2e"
ES_SECRET = "Es-S3cret-7c3a"
ES_API_KEY = "RXMtQXBpLUtleS1TM2NyZXQ="


def _xcoms(run_states: dict) -> list[str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return [str(v) for v in session.scalars(select(XComModel.value).where(XComModel.dag_id == "message_export"))]


def test_secrets_never_reach_logs_xcom_or_errors(stack: Stack, services, task_output, monkeypatch):
    user = "exporter_sec"
    admin = MySQLdb.connect(
        host=services.mysql["host"],
        port=services.mysql["port"],
        user=services.mysql["user"],
        passwd=services.mysql["password"],
    )
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{MYSQL_SECRET}'")
        cursor.execute(f"GRANT ALL ON `{services.mysql['database']}`.* TO '{user}'@'%'")
    mysql = json.loads(os.environ["AIRFLOW_CONN_MYSQL_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_MYSQL_DEFAULT", json.dumps({**mysql, "login": user, "password": MYSQL_SECRET}))
    aws = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({**aws, "login": "AKIATESTKEY", "password": AWS_SECRET}))
    es = json.loads(os.environ["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps({**es, "login": "elastic", "password": ES_SECRET})
    )
    messages, related = day_of_messages(datetime(2024, 10, 1).date(), 30)
    stack.index_messages(messages, related)
    # one failing message, so error paths are logged too
    stack.services.s3_proxy.faults.add_error(403, path_pattern=r"/msg-20241001-000003\.json", methods=["PUT"])
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "failed"  # the poisoned message exhausted its attempts
    logged = task_output.text()
    texts = [logged, *(_xcoms(result.task_states)), *(r["last_error"] or "" for r in stack.tracking().values())]
    texts += [j["last_error"] or "" for j in stack.jobs()]
    for secret in (MYSQL_SECRET, AWS_SECRET, ES_SECRET):
        assert all(secret not in text for text in texts), secret
    assert "msg-20241001-000003" in logged  # the logs are not simply empty
    with admin.cursor() as cursor:
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    admin.close()


def test_es_api_key_is_not_logged(stack: Stack, task_output, monkeypatch):
    es = json.loads(os.environ["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps({**es, "extra": {"api_key": ES_API_KEY}}))
    messages, related = day_of_messages(datetime(2024, 10, 1).date(), 10)
    stack.index_messages(messages, related)
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    logged = task_output.text()
    assert ES_API_KEY not in logged
    assert "[DAG TEST] end task task_id=finalize" in logged  # the logs are not simply empty


def test_sse_kms_and_acl_applied_to_every_object(stack: Stack):
    stack.write_config(
        **{
            "s3.server_side_encryption": "aws:kms",
            "s3.kms_key_id": "alias/message-archive",
            "s3.acl": "bucket-owner-full-control",
        }
    )
    messages, related = day_of_messages(datetime(2024, 10, 1).date(), 5)
    stack.index_messages(messages, related)
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    for key in stack.object_keys():
        head = stack.s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert "alias/message-archive" in head.get("SSEKMSKeyId", "")
        assert head["Metadata"]["job-id"] == "1"


def test_default_encryption_is_sse_s3(stack: Stack):
    messages, related = day_of_messages(datetime(2024, 10, 1).date(), 3)
    stack.index_messages(messages, related)
    assert stack.run_dag(logical_date=LOGICAL).state == "success"
    for key in stack.object_keys():
        assert stack.s3.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256"
