"""Transient faults of Elasticsearch, S3 and MySQL, injected over the wire, are absorbed: nothing
lost, nothing duplicated, every body exact."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import MySQLdb

from tests.fixtures.export_stack import Stack
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_ENGINES, BOTH_LAYOUTS
from tests.reliability.conftest import ledger_session


def seed(stack: Stack, count: int, day: date = date(2024, 10, 1)) -> set[str]:
    messages, related = day_of_messages(day, count)
    stack.index_messages(messages, related)
    return set(messages)


LOGICAL = datetime(2024, 10, 2, tzinfo=UTC)


def assert_absorbed(stack: Stack, ids: set[str], report: dict, faults_injected: str, check_bodies: bool | int = True):
    """The invariants hold and the clients' own retries absorbed every fault: no message needed a
    second attempt. Records the scenario's figures for the README table."""
    stack.assert_invariants(ids, check_bodies=check_bodies)
    figures = stack.archive_figures(ids)
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["extra_attempts"] == 0
    report.update(figures, faults_injected=faults_injected, layout=stack.layout)


@BOTH_ENGINES
def test_elasticsearch_429_5xx_and_dropped_connections_are_retried(stack: Stack, report):
    ids = seed(stack, 300)
    # the shipped default budget: 6 retries, so six faults in a row on one request are absorbed
    stack.write_config(**{"elasticsearch.max_retries": 6})
    faults = stack.services.es.faults
    faults.add_error(path_pattern=r"_mget", status=429, count=4)
    faults.add_error(path_pattern=r"_search", status=503, count=3)
    faults.add_error(path_pattern=r"_count", status=502, count=1)
    faults.add_error(path_pattern=r"_pit|point_in_time", status=504, count=1)  # open a point in time
    faults.drop_connections(path_pattern=r"_mget", count=2)
    faults.add_latency(fixed_ms=1, jitter_ms=2)
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    assert_absorbed(
        stack, ids, report, "ES: 4×429 _mget, 3×503 _search, 502 _count, 504 _pit, 2 dropped", check_bodies=30
    )


# The faults of one run, per layout: the batch layout makes one PUT per batch, and botocore gives each PUT 8
# attempts, so it meets every kind of fault but fewer of them than 300 PUTs of the message layout can absorb.
S3_FAULTS = {"message": (15, 5, 5, 10), "batch": (2, 1, 1, 2)}


@BOTH_LAYOUTS
def test_s3_throttling_errors_drops_and_lost_responses_are_retried(stack: Stack, report):
    ids = seed(stack, 300)
    slowdowns, internal, dropped, lost = S3_FAULTS[stack.layout]
    faults = stack.services.s3_proxy.faults
    faults.add_error(503, methods=["PUT"], count=slowdowns)  # SlowDown
    faults.add_error(500, methods=["PUT"], count=internal)  # InternalError
    faults.drop_connections(methods=["PUT"], count=dropped)
    faults.lose_responses(methods=["PUT"], count=lost)  # the PUT lands, the reply does not
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    counters = faults.counters()
    assert (counters.errors, counters.drops, counters.lost_responses) == (slowdowns + internal, dropped, lost)
    # every body exact: re-PUTs after lost responses wrote the same bytes; botocore's retries absorbed it all
    assert_absorbed(
        stack, ids, report, f"S3: {slowdowns}×503 SlowDown, {internal}×500, {dropped} dropped, {lost} lost responses"
    )


@BOTH_LAYOUTS
def test_lost_s3_response_is_neither_failure_nor_rewrite_with_other_bytes(stack: Stack):
    ids = seed(stack, 40)
    # every first reply is lost: 40 PUTs of messages, or the one batch object's
    stack.services.s3_proxy.faults.lose_responses(methods=["PUT"], count=40 if stack.layout == "message" else 1)
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    assert {r["attempts"] for r in stack.tracking().values()} == {1}
    stack.assert_invariants(ids)


def _exporter_connections(stack: Stack) -> list[int]:
    rows = stack.query("SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()")
    return [row[0] for row in rows]


def test_mysql_connections_killed_from_another_session_are_recovered(stack: Stack, report):
    ids = seed(stack, 400)
    stack.write_config(batch_size=100, fetch_chunk_size=50)
    stack.services.s3_proxy.faults.add_latency(fixed_ms=5)
    stop = threading.Event()
    kills: list[int] = []

    def killer() -> None:
        while not stop.is_set():
            for conn_id in _exporter_connections(stack):
                try:
                    stack.query(f"KILL CONNECTION {int(conn_id)}")
                    kills.append(conn_id)
                except MySQLdb.OperationalError:
                    pass  # already gone
            time.sleep(0.4)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = stack.run_dag(logical_date=LOGICAL)
    finally:
        stop.set()
        thread.join()
    assert len(kills) >= 3, kills
    assert result.state == "success", result.task_states
    stack.assert_invariants(ids, check_bodies=20)
    figures = stack.archive_figures(ids)
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    report.update(figures, faults_injected=f"MySQL: {len(kills)} connections killed mid-run")


def test_mysql_lock_wait_timeout_is_retried(stack: Stack, services, report):
    from tests.fixtures.export_stack import prepare_window

    ids = seed(stack, 50)
    _window, [batch_id] = prepare_window("2024-10-01")  # one batch of 50
    original = stack.query("SELECT @@GLOBAL.innodb_lock_wait_timeout")[0][0]
    stack.query("SET GLOBAL innodb_lock_wait_timeout = 1")
    blocker = ledger_session(services)
    try:
        cursor = blocker.cursor()
        cursor.execute("SELECT message_id FROM message_tracking WHERE batch_id = %s FOR UPDATE", (batch_id,))
        threading.Timer(2.5, blocker.rollback).start()  # hold the rows for longer than the timeout
        from message_export import pipeline

        result = pipeline.process_batch(batch_id, "lock-wait")
    finally:
        stack.query(f"SET GLOBAL innodb_lock_wait_timeout = {int(original)}")
        time.sleep(0.1)
        blocker.close()
    assert result["failed"] == 0 and result["completed"] == 50
    # the claim statement was retried, not the messages
    assert_absorbed(stack, ids, report, "MySQL: lock wait timeout (1205) on the claim")


@BOTH_ENGINES
def test_elasticsearch_timeouts_are_retried(stack: Stack, report):
    ids = seed(stack, 200)
    stack.write_config(**{"elasticsearch.request_timeout": 1.0})
    faults = stack.services.es.faults
    faults.stall(3.0, path_pattern=r"_mget", count=2)  # answered after the client gave up: a read timeout
    faults.stall(3.0, path_pattern=r"_search", count=1)
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    assert faults.counters()["stalls"] == 3
    assert_absorbed(stack, ids, report, "ES: 3 requests answered after the 1 s client timeout", check_bodies=30)


@BOTH_LAYOUTS
def test_s3_timeouts_are_retried(stack: Stack, report):
    ids = seed(stack, 100)
    stack.write_config(**{"s3.read_timeout": 1.0})
    faults = stack.services.s3_proxy.faults
    slow = 4 if stack.layout == "message" else 2  # the batch layout makes 2 object PUTs and the manifest's
    faults.add_latency(3000, methods=["PUT"], count=slow)  # PUTs answered after the client's 1 s read timeout
    result = stack.run_dag(logical_date=LOGICAL)
    assert result.state == "success", result.task_states
    # each timed-out PUT was sent again: more PUTs reached S3 than the run has objects
    objects = len(ids) if stack.layout == "message" else 2
    assert faults.counters().by_method["PUT"]["requests"] >= objects + slow
    # the slow PUTs landed late; their retries wrote the same bytes
    assert_absorbed(stack, ids, report, f"S3: {slow} PUTs answered after the 1 s read timeout")
