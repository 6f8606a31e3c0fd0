"""The real DAG under dag.test() against MariaDB, moto S3 (through a fault proxy) and the
Elasticsearch-compatible server, all over the wire."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.fixtures.export_stack import Stack
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_ENGINES


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def seed_days(stack: Stack, days: list[date], per_day: int, **kwargs) -> set[str]:
    ids: set[str] = set()
    for day in days:
        messages, related = day_of_messages(day, per_day, **kwargs)
        stack.index_messages(messages, related)
        ids |= set(messages)
    return ids


@BOTH_ENGINES
def test_scheduled_run_exports_first_window_and_closes_job(stack: Stack):
    ids = seed_days(stack, [date(2024, 10, 1)], 120)
    seed_days(stack, [date(2024, 10, 2)], 30)  # next day: not due for this run
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "success", result.task_states
    assert result.states_of("process_batch") == ["success"] * 3  # 120 messages / batch_size 50
    stack.assert_invariants(ids)
    # S3 verified each body against the SHA-256 the ledger keeps, and stored it with the object
    assert stack.assert_stored_checksums("2024-10-01") == 120
    [job] = stack.jobs()
    assert job["start_date"] == datetime(2024, 10, 1) and job["end_date"] == datetime(2024, 10, 2)
    assert job["status"] == "completed"
    assert job["next_run_date"] == datetime(2024, 10, 3)
    assert (job["total_messages"], job["completed_messages"], job["failed_messages"]) == (120, 120, 0)
    batches = stack.query("SELECT status, total_messages, processed, failed FROM batch_progress ORDER BY batch_number")
    assert batches == [("completed", 50, 50, 0), ("completed", 50, 50, 0), ("completed", 20, 20, 0)]


def test_window_over_10000_messages_is_fully_exported_with_capped_batches(stack: Stack):
    stack.write_config(batch_size=500, max_batches=8, fetch_chunk_size=1000)
    ids = seed_days(stack, [date(2024, 10, 1)], 12_345, max_related=1, body_bytes=50)
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "success", result.task_states
    # 12,345 ids, at most 8 mapped tasks: batch size grows to 1,544
    assert len(result.states_of("process_batch")) == 8
    stack.assert_invariants(ids, check_bodies=50)
    sizes = stack.query("SELECT total_messages FROM batch_progress ORDER BY batch_number")
    assert sum(s for (s,) in sizes) == 12_345 and max(s for (s,) in sizes) <= 1544


# Elasticsearch only: what a rerun must not touch is the ledger's and the archive's; an OpenSearch window's
# extraction and export are test_scheduled_run_exports_first_window_and_closes_job[opensearch]
def test_rerun_of_same_window_duplicates_nothing_and_resets_nothing(stack: Stack):
    ids = seed_days(stack, [date(2024, 10, 1)], 80)
    first = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"})
    assert first.state == "success", first.task_states
    before_rows = stack.tracking()
    before_objects = stack.object_keys()
    second = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"})
    assert second.state == "success", second.task_states
    after_rows = stack.tracking()
    assert after_rows == before_rows  # same statuses, attempts, paths: nothing reset to pending
    assert stack.object_keys() == before_objects  # same keys, same ETags (bytes)
    assert len(stack.jobs()) == 1
    stack.assert_invariants(ids, check_bodies=10)


def test_manual_run_with_params_and_reprocess(stack: Stack):
    ids = seed_days(stack, [date(2024, 10, 5)], 60)
    result = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-05", "end_date": "2024-10-06"})
    assert result.state == "success", result.task_states
    stack.assert_invariants(ids, check_bodies=5)
    assert [j["start_date"] for j in stack.jobs()] == [datetime(2024, 10, 5)]
    etags = stack.object_keys()
    again = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-05", "reprocess": True})
    assert again.state == "success", again.task_states
    rows = stack.tracking()
    assert {r["attempts"] for r in rows.values()} == {1}  # re-exported from a clean slate
    assert stack.object_keys() == etags  # deterministic bodies: identical objects
    stack.assert_invariants(ids, check_bodies=5)


def test_chain_catches_up_one_window_per_run_and_never_skips(stack: Stack):
    ids = seed_days(stack, [date(2024, 10, 1), date(2024, 10, 2), date(2024, 10, 3)], 20)
    bound = at("2024-10-04")
    for expected_start in (1, 2, 3):
        result = stack.run_dag(logical_date=bound)
        assert result.state == "success", result.task_states
        assert stack.jobs()[-1]["start_date"] == datetime(2024, 10, expected_start)
        # a further window is due after the first two runs: the run triggers the next one
        expected_trigger = ["success"] if expected_start < 3 else ["skipped"]
        assert result.states_of("trigger_next_window") == expected_trigger
    nothing = stack.run_dag(logical_date=bound)
    assert nothing.state == "success"
    assert nothing.states_of("resolve_window") == ["success"]
    assert nothing.states_of("extract") == ["skipped"]
    assert len(stack.jobs()) == 3
    stack.assert_invariants(ids, check_bodies=5)


def test_manual_run_without_logical_date_is_bounded_by_now(stack: Stack):
    ids = seed_days(stack, [date(2024, 10, 1)], 10)
    result = stack.run_dag(logical_date=None)
    assert result.state == "success", result.task_states
    stack.assert_invariants(ids)


def test_empty_window_completes_with_no_batches(stack: Stack):
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "success", result.task_states
    assert result.states_of("process_batch") in (["skipped"], [])
    [job] = stack.jobs()
    assert (job["status"], job["total_messages"]) == ("completed", 0)


def test_failures_recovered_by_retry_failed(stack: Stack):
    ids = seed_days(stack, [date(2024, 10, 1)], 60)
    # the first 7 PUTs are refused with a non-retryable error: those messages fail in process_batch
    stack.services.s3_proxy.faults.add_error(403, path_pattern=r"/message-archive/messages/", methods=["PUT"], count=7)
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "success", result.task_states
    assert "failed" in result.states_of("process_batch")
    assert result.states_of("retry_failed") == ["success"]
    stack.assert_invariants(ids, check_bodies=10)
    attempts = sorted(r["attempts"] for r in stack.tracking().values())
    assert attempts.count(2) == 7 and attempts.count(1) == 53


def test_failures_that_exhaust_attempts_fail_the_run_with_reasons(stack: Stack):
    ids = seed_days(stack, [date(2024, 10, 1)], 30)
    poison = "msg-20241001-000007"
    stack.services.s3_proxy.faults.add_error(403, path_pattern=rf"/{poison}\.json", methods=["PUT"])
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "failed"
    assert result.states_of("finalize") == ["failed"]
    rows = stack.tracking()
    assert rows[poison]["status"] == "failed"
    assert rows[poison]["attempts"] == 3  # max_attempts
    assert "403" in rows[poison]["last_error"] and "AccessDenied" in rows[poison]["last_error"]
    assert {r["status"] for mid, r in rows.items() if mid != poison} == {"completed"}
    [job] = stack.jobs()
    assert job["status"] == "failed" and job["failed_messages"] == 1 and job["next_run_date"] is None
    assert poison in job["last_error"]
    assert len(stack.object_keys()) == len(ids) - 1


def test_missing_index_fails_extract_with_one_clear_line(stack: Stack, capsys: pytest.CaptureFixture[str]):
    stack.es.indices.delete(index="message_audit")
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "failed"
    assert result.states_of("extract") == ["failed"]
    # dag.test() prints each task's failure to stdout, as the task log shows it
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if "Elasticsearch index 'message_audit' does not exist" in line]
    assert lines, printed[-2000:]
    # one line names the problem, the value (index and connection) and the fix
    assert "elasticsearch_default" in lines[0] and "check the index names" in lines[0]
