"""Failure notifications of real failing runs (dag.test()), published through the amazon provider's SNS
notifier to moto's SNS API over HTTP and read back from an SQS queue subscribed to the topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from devstack.connections import aws_connection, elasticsearch_connection
from devstack.sns_alerts import AlertQueue
from tests.fixtures.export_stack import Stack
from tests.fixtures.messages import day_of_messages

NOTIFY_CONN = "aws_notifications"
# distinctive secrets: none of them may reach a message
SNS_SECRET = "sns-Secret-4kq9Xw"
ES_SECRET = "es-Secret-7vB2pd"


@pytest.fixture
def topic(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertQueue]:
    """An SNS topic on the moto server with a subscribed SQS queue; the config's notifications point at it."""
    url = stack.services.moto.url
    alerts = AlertQueue(url)
    monkeypatch.setenv(f"AIRFLOW_CONN_{NOTIFY_CONN.upper()}", json.dumps(aws_connection(url, "alerts", SNS_SECRET)))
    es = {**elasticsearch_connection(stack.services.es.url), "login": "exporter", "password": ES_SECRET}
    monkeypatch.setenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps(es))
    stack.write_config(**{"notifications.sns": {"topic_arn": alerts.topic_arn, "aws_conn_id": NOTIFY_CONN}})
    yield alerts
    alerts.close()


def run_id_of_day(stack: Stack, day: str) -> str:
    [(run_id,)] = stack.query("SELECT dag_run_id FROM job_runs WHERE start_date = %s", (day,))
    return run_id.decode() if isinstance(run_id, bytes) else run_id


def assert_no_secret(text: str) -> None:
    for secret in (SNS_SECRET, ES_SECRET):
        assert secret not in text


def test_a_failed_day_sends_one_message_with_its_reasons(stack: Stack, topic: AlertQueue):
    messages, related = day_of_messages(date(2024, 10, 1), 30)
    stack.index_messages(messages, related)
    poison = "msg-20241001-000007"
    stack.services.s3_proxy.faults.add_error(403, path_pattern=rf"/{poison}\.json", methods=["PUT"])

    result = stack.run_dag(logical_date=datetime(2024, 10, 2, tzinfo=UTC))

    assert result.state == "failed" and result.states_of("finalize") == ["failed"], result.task_states
    [notification] = topic.messages()
    subject, text = notification["Subject"], notification["Message"]
    assert subject == "message_export FAILED: 2024-10-01 (finalize)"
    # the reasons finalize found: the message that failed, its attempts and the S3 error
    assert f"'{poison}' (3 attempts)" in text and "AccessDenied" in text, text
    assert "Day:      2024-10-01 (job 1, ledger status failed)" in text, text
    assert "Messages: 30 tracked, 29 archived, 1 failed, 0 unfinished" in text, text
    run_id = run_id_of_day(stack, "2024-10-01")
    assert f"Run:      message_export / {run_id} (task finalize, try 1)" in text, text
    assert f"/dags/message_export/runs/{run_id.replace('+', '%2B').replace(':', '%3A')}/tasks/finalize" in text
    assert_no_secret(subject + text)


def test_a_run_failing_before_finalize_sends_one_message_naming_the_cause(stack: Stack, topic: AlertQueue):
    messages, related = day_of_messages(date(2024, 10, 1), 10)
    stack.index_messages(messages, related)
    # the cluster refuses the export's credentials: extract fails at once (retrying cannot help)
    stack.services.es.faults.add_error(path_pattern=".*", status=401)

    result = stack.run_dag(logical_date=datetime(2024, 10, 2, tzinfo=UTC))

    # finalize fails too (extraction did not complete), but only extract's failure is reported
    assert result.states_of("extract") == ["failed"] and result.states_of("finalize") == ["failed"]
    [notification] = topic.messages()
    subject, text = notification["Subject"], notification["Message"]
    assert subject == "message_export FAILED: 2024-10-01 (extract)"
    assert "401" in text and "check the connection's credentials" in text, text
    assert "Day:      2024-10-01 (job 1, ledger status running)" in text, text
    assert f"Run:      message_export / {run_id_of_day(stack, '2024-10-01')} (task extract, try 1)" in text
    assert_no_secret(subject + text)


def test_a_completed_day_is_announced_only_when_asked(stack: Stack, topic: AlertQueue):
    messages, related = day_of_messages(date(2024, 10, 1), 10)
    stack.index_messages(messages, related)
    sns = {"topic_arn": topic.topic_arn, "aws_conn_id": NOTIFY_CONN}
    stack.write_config(notifications={"on_success": True, "sns": sns})

    result = stack.run_dag(logical_date=datetime(2024, 10, 2, tzinfo=UTC))

    assert result.state == "success", result.task_states
    [notification] = topic.messages()  # the completed day, and no failure message
    assert notification["Subject"] == "message_export completed: 2024-10-01 (finalize)"
    assert "Messages: 10 tracked, 10 archived, 0 failed, 0 unfinished" in notification["Message"]
    assert "Day:      2024-10-01 (job 1, ledger status completed)" in notification["Message"]
