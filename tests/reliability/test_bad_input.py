"""Hostile ids, awkward documents and bad configuration: each round-trips or fails with one clear line."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime

import pytest

from tests.fixtures.export_stack import Stack
from tests.fixtures.messages import day_of_messages, iso
from tests.fixtures.services import BOTH_ENGINES, BOTH_LAYOUTS

LOGICAL = datetime(2024, 10, 2, tzinfo=UTC)
NOON = iso(datetime(2024, 10, 1, 12, tzinfo=UTC))

HOSTILE_IDS = [
    unicodedata.normalize("NFC", "café-ü"),
    unicodedata.normalize("NFD", "café-ü"),
    "Case-ID",
    "case-id",
    "CASE-ID",
    "trailing",
    "trailing ",
    "trailing  ",
    "a/b/c",
    "../../etc/passwd",
    "..",
    ".",
    "100%",
    "%2F",
    "b64~not-base64",
    "tab\there",
    "line\nbreak",
    "bell\x07",
    "del\x7f",
    "quote'single",
    'quote"double',
    "back\\slash",
    "'); DELETE FROM message_tracking; --",
    "1 OR 1=1",
    "%s %(x)s {0}",
    "emoji-🚀-中文-עברית",
    "x" * 512,
    "é" * 256,
    "🚀" * 128,
]


@BOTH_ENGINES
@BOTH_LAYOUTS
def test_hostile_ids_round_trip_to_the_right_object_row_and_body(stack: Stack, report):
    messages = {mid: {"timestamp": NOON, "text": f"body of {mid!r}"} for mid in HOSTILE_IDS}
    related = [
        ("message_history", f"h-{i}", {"message_id": mid, "timestamp": NOON, "n": i})
        for i, mid in enumerate(HOSTILE_IDS)
    ]
    stack.index_messages(messages, related)
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    stack.assert_invariants(HOSTILE_IDS)  # exact ids as rows, one object each, bodies equal
    for i, mid in enumerate(HOSTILE_IDS):
        body = json.loads(stack.archived_body(mid))
        assert body["message_id"] == mid
        assert body["history"] == [{"message_id": mid, "timestamp": NOON, "n": i}]
    report.update(
        stack.archive_figures(HOSTILE_IDS), faults_injected=f"{len(HOSTILE_IDS)} hostile ids", layout=stack.layout
    )


@BOTH_LAYOUTS
def test_awkward_documents(stack: Stack):
    nested: dict = {"leaf": "deep"}
    for _ in range(100):
        nested = {"n": nested}
    messages = {
        "big": {"timestamp": NOON, "blob": "é" * (5 * 1024 * 1024)},  # 10 MB of UTF-8
        "nested": {"timestamp": NOON, "tree": nested},
        "escapes": {"timestamp": NOON, "s": '"\\/\b\f\n\r\t\u0000\u001f\u2028\u2029' * 1000},
        "unicode": {"timestamp": NOON, "s": "Grüße, 你好, مرحبا, 🙂"},
        "epoch-millis": {"timestamp": int(datetime(2024, 10, 1, 8, tzinfo=UTC).timestamp() * 1000)},
    }
    outside = {
        "no-timestamp": {"text": "never in a window"},
        "day-before": {"timestamp": iso(datetime(2024, 9, 30, 23, 59, 59, tzinfo=UTC))},
        "at-window-end": {"timestamp": iso(datetime(2024, 10, 2, tzinfo=UTC))},
    }
    orphans = [("message_audit", "orphan-1", {"message_id": "does-not-exist", "timestamp": NOON})]
    stack.index_messages({**messages, **outside}, orphans)
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    stack.assert_invariants(messages)  # the window's messages only; no object for orphans
    assert len(stack.archived_body("big")) > 10 * 1024 * 1024


def _config_text(stack: Stack) -> str:
    return stack.write_config().read_text()


@pytest.mark.parametrize(
    ("mutate", "failing_task", "expected"),
    [
        (lambda t: t + "unknown_key: 1\n", "ensure_schema", "unknown key 'unknown_key'"),
        (lambda t: t.replace("batch_size: 50", "batch_size: fifty"), "ensure_schema", "key 'batch_size'"),
        (
            lambda t: t.replace("bucket: message-archive", "bucket: no-such-bucket"),
            "extract",
            "S3 bucket 'no-such-bucket' does not exist",
        ),
        (
            lambda t: t.replace("message_index: messages", "message_index: nowhere"),
            "extract",
            "Elasticsearch index 'nowhere' does not exist",
        ),
    ],
)
def test_bad_config_fails_fast_with_one_clear_line(stack: Stack, task_output, mutate, failing_task, expected):
    path = stack.write_config()
    path.write_text(mutate(path.read_text()))
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "failed"
    assert result.states_of(failing_task) == ["failed"]
    text = task_output.text()
    assert expected in text
    # failed without retries: retrying cannot fix configuration
    assert text.count(expected) <= 3
    if failing_task == "extract":
        # finalize still closes the job, with every reason, though it cannot take its reconciliation counts
        [job] = stack.jobs()
        assert job["status"] == "failed", job
        assert "extraction did not complete" in job["last_error"]
        assert "reconciliation count unavailable" in job["last_error"]


def test_end_date_before_start_date_param(stack: Stack, task_output):
    result = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-05", "end_date": "2024-10-04"})
    assert result.state == "failed"
    assert result.states_of("resolve_window") == ["failed"]
    assert "param end_date='2024-10-04' is not after start_date='2024-10-05'" in task_output.text()


def test_wrong_mysql_password_and_missing_connection(stack: Stack, task_output, monkeypatch):
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_MYSQL_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_MYSQL_DEFAULT", json.dumps({**conn, "login": "nobody", "password": "wrong-pw"}))
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "failed"
    text = task_output.text()
    assert "MySQL connection 'mysql_default'" in text and "access denied" in text
    assert "wrong-pw" not in text
    # no window was resolved: the all_done steps skip with one line instead of crashing into retries
    assert result.states_of("retry_failed") == ["skipped"] and result.states_of("finalize") == ["skipped"]
    assert "no window was resolved for this run" in text
    task_output.clear()
    stack.write_config(**{"connections.mysql": "ledger_nowhere"})
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "failed"
    assert "Airflow connection 'ledger_nowhere' is not defined" in task_output.text()


def test_day_data_generator_is_exact():
    messages, related = day_of_messages(date(2024, 10, 1), 3)
    assert len(messages) == 3 and all(r[2]["message_id"] in messages for r in related)
