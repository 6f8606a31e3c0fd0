"""Elasticsearch faults that look like success: an expired point in time mid-extraction, partial
results, a message gone between extraction and processing."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime
from typing import Any

import MySQLdb
import pytest
from airflow.sdk.exceptions import AirflowFailException

from message_export.ledger.hook import MessageTrackingHook
from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_ENGINES
from tests.reliability.conftest import wait_until


def seed(stack: Stack, count: int) -> set[str]:
    messages, related = day_of_messages(date(2024, 10, 1), count)
    stack.index_messages(messages, related)
    return set(messages)


def tracked_rows(stack: Stack) -> int:
    """Ids written so far: extraction stages them (message_tracking_staging_<job_id>) before tracking them."""
    rows = stack.query("SHOW TABLES LIKE 'message\\_tracking\\_staging\\_%'")
    staging = [name.decode() if isinstance(name, bytes) else name for (name,) in rows]
    try:
        return sum(stack.query(f"SELECT COUNT(*) FROM `{name}`")[0][0] for name in [*staging, "message_tracking"])
    except MySQLdb.ProgrammingError:  # ensure_schema has not created the table yet, or staging just ended
        return 0


@BOTH_ENGINES
def test_point_in_time_expiring_mid_extraction_misses_and_duplicates_nothing(
    stack: Stack, caplog: pytest.LogCaptureFixture
):
    ids = seed(stack, 3000)
    stack.write_config(**{"elasticsearch.page_size": 100})
    stack.services.es.faults.add_latency(fixed_ms=40)  # 30 pages: time to expire the PIT between two of them
    caplog.set_level(logging.INFO, logger="message_export")
    outcome: dict[str, Any] = {}

    def extract() -> None:
        try:
            outcome["batches"] = prepare_window("2024-10-01")[1]
        except Exception as error:  # reported by the assertion below
            outcome["error"] = error

    worker = threading.Thread(target=extract)
    worker.start()
    wait_until(lambda: tracked_rows(stack) >= 500, what="the first pages")
    stack.services.es.expire_pits()
    worker.join(timeout=120)
    stack.services.es.faults.clear()
    assert "error" not in outcome, outcome.get("error")
    assert "point in time expired during extraction" in caplog.text  # the resume did happen
    ((job_id,),) = stack.query("SELECT job_id FROM job_runs")
    staged = [
        bytes(mid).decode() for (mid,) in stack.query(f"SELECT message_id FROM message_tracking_staging_{job_id}")
    ]
    assert sorted(staged) == sorted(ids)  # none missed, and the ids read again after the resume were skipped
    totals = stack.query("SELECT COALESCE(SUM(total_messages), 0), COALESCE(SUM(staged), 0) FROM batch_progress")
    assert totals == [(len(ids), len(ids))]  # every id counted in exactly one batch
    hook = MessageTrackingHook("mysql_default")
    try:
        assert hook.track_staged_ids(job_id) == len(ids)  # what the batches' claims do
    finally:
        hook.close()
    tracked = stack.tracking()
    assert set(tracked) == ids
    assert {row["status"] for row in tracked.values()} == {"pending"}


@BOTH_ENGINES
def test_partial_search_results_are_rejected_and_retried(stack: Stack):
    ids = seed(stack, 200)
    _window, batch_ids = prepare_window("2024-10-01")
    faults = stack.services.es.faults
    faults.partial_results(count=3)
    from message_export import pipeline

    for batch_id in batch_ids:
        pipeline.process_batch(batch_id, "partial")
    assert faults.counters()["partial"] == 3  # the faults did fire ...
    stack.assert_invariants(ids)  # ... and no body lacks a related document


def test_partial_count_is_an_error_not_a_number(stack: Stack):
    from message_export.hooks.search import MessageSearchHook
    from message_export.hooks.search_errors import PartialResultsError
    from message_export.windows import Window

    seed(stack, 10)
    stack.services.es.faults.partial_results(count=1)
    window = Window(datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 10, 2, tzinfo=UTC))
    with pytest.raises(PartialResultsError, match="incomplete results"):
        MessageSearchHook().count_window("messages", "timestamp", window)


def test_message_gone_before_processing_is_failed_not_found(stack: Stack):
    ids = seed(stack, 20)
    _window, [batch_id] = prepare_window("2024-10-01")
    gone = sorted(ids)[7]
    stack.es.delete(index="messages", id=gone, refresh=True)
    from message_export import pipeline

    with pytest.raises(AirflowFailException, match="1 of 20 messages failed"):
        pipeline.process_batch(batch_id, "gone")
    rows = stack.tracking()
    assert rows[gone]["status"] == "failed" and "not found" in rows[gone]["last_error"]
    assert {rows[m]["status"] for m in ids - {gone}} == {"completed"}
    assert not any(gone in key for key in stack.object_keys())


@BOTH_ENGINES
def test_ids_read_again_after_a_point_in_time_expires_are_yielded_once(stack: Stack):
    """A resume reads the last timestamp again (``gte``): with many messages on each timestamp, the
    ones already yielded are skipped and the others are not."""
    from message_export.config import load_config
    from message_export.export import ExportServices
    from message_export.windows import Window

    messages, related = day_of_messages(date(2024, 10, 1), 600)
    for number, source in enumerate(messages.values()):  # 40 messages on each of 15 timestamps
        source["timestamp"] = f"2024-10-01T{number // 40:02d}:00:00.000Z"
    stack.index_messages(messages, related)
    config = load_config()
    search = ExportServices.from_config(config).search
    window = Window(datetime(2024, 10, 1, tzinfo=UTC), datetime(2024, 10, 2, tzinfo=UTC))
    pages = search.iter_window_ids("messages", config.elasticsearch.timestamp_field, window, page_size=25)
    seen: list[str] = []
    for number, page in enumerate(pages):
        seen += page
        if number in (0, 7, 9):  # after 25 ids (mid-timestamp), 200 (a timestamp's last) and 250
            stack.services.es.expire_pits()
    assert len(seen) == len(messages) and set(seen) == set(messages)
