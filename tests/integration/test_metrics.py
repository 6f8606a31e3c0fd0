"""The real DAG under dag.test(), in a process of its own with Airflow's StatsD metrics switched on
([metrics] statsd_on), sending to a UDP socket opened here: the datagrams must tell what the ledger says
the run did."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from devstack.statsd_listener import StatsdLine, StatsdListener
from message_export.windows import days_behind
from tests.fixtures.export_stack import Stack
from tests.fixtures.messages import day_of_messages

PREFIX = "airflow.message_export."


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    listener = StatsdListener().start()
    yield listener
    listener.stop()


def statsd_env(port: int) -> dict[str, str]:
    return {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }


def of(lines: list[StatsdLine], name: str) -> list[StatsdLine]:
    return [line for line in lines if line.name == PREFIX + name]


def total(lines: list[StatsdLine], name: str, kind: str = "c") -> int:
    found = of(lines, name)
    assert found, f"no {PREFIX + name} received"
    assert {line.type for line in found} == {kind}, found
    return int(sum(line.value for line in found))


def test_a_run_sends_what_the_ledger_records_to_statsd(stack: Stack, statsd: StatsdListener):
    messages, related = day_of_messages(date(2024, 10, 1), 60)
    stack.index_messages(messages, related)
    # the first 7 PUTs are refused: 7 messages fail in process_batch and are recovered by retry_failed
    stack.services.s3_proxy.faults.add_error(403, path_pattern=r"/message-archive/messages/", methods=["PUT"], count=7)
    behind_before = days_behind(datetime(2024, 10, 2, tzinfo=UTC), datetime.now(UTC))

    result = stack.run_dag_in_subprocess(logical_date=datetime(2024, 10, 2, tzinfo=UTC), env=statsd_env(statsd.port))

    behind_after = days_behind(datetime(2024, 10, 2, tzinfo=UTC), datetime.now(UTC))
    assert result.state == "success", result.task_states
    assert result.states_of("process_batch").count("failed") >= 1
    lines = statsd.lines(PREFIX)
    [job] = stack.jobs()
    [(completed, attempts, body_bytes)] = stack.query(
        "SELECT SUM(status = 'completed'), SUM(attempts), SUM(body_bytes) FROM message_tracking"
    )
    assert (job["status"], job["completed_messages"], int(completed)) == ("completed", 60, 60)
    extra_attempts = int(attempts) - 60
    assert extra_attempts == 7

    # counters: tags (stage=batch|retry) are dropped by plain StatsD, the totals still match the ledger
    assert total(lines, "messages.archived") == int(completed)
    assert len(of(lines, "messages.archived")) == len(result.states_of("process_batch")) + 1  # + retry_failed
    assert total(lines, "messages.failed") == extra_attempts  # each failed attempt, all recovered by a retry
    assert total(lines, "messages.retried") == extra_attempts
    assert total(lines, "bytes.archived") == int(body_bytes) > 0
    assert total(lines, "extract.messages") == job["total_messages"] == 60
    assert total(lines, "jobs.completed") == 1
    assert not of(lines, "jobs.failed")

    # timers: one per batch pass and one for the extraction, in milliseconds
    batch_timers = of(lines, "batch.duration")
    assert len(batch_timers) == len(result.states_of("process_batch")) == 2  # 60 messages, batch_size 50
    assert {line.type for line in batch_timers} == {"ms"} and all(line.value >= 0 for line in batch_timers)
    [extraction] = of(lines, "extract.duration")
    assert extraction.type == "ms" and extraction.value > 0

    # gauges from finalize: reconciled, and the chain's distance from today (the job ends on 2024-10-02)
    [mismatches] = of(lines, "reconciliation.mismatches")
    assert (mismatches.type, mismatches.value) == ("g", 0)
    assert [line.value for line in of(lines, "reconciliation.missing_objects")] == [0]
    assert [line.value for line in of(lines, "reconciliation.untracked_messages")] == [0]
    [behind] = of(lines, "chain.days_behind")
    assert behind.type == "g" and int(behind.value) in {behind_before, behind_after}
    assert behind.value > 700  # the test's chain stops in October 2024
