"""finalize's and purge_ledger's decisions, with in-memory services: no server, milliseconds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from message_export import pipeline
from message_export.config import RetentionSettings
from message_export.manifest import manifest_key
from tests.unit.pipeline.services_fake import DAY, FakeArchive, FakeLedger, FakeSearch, fake_services, packaged_config

WINDOW = {"job_id": 7, "start_date": DAY.start.isoformat(), "end_date": DAY.end.isoformat(), "reprocess": False}


def closed_with(ledger: FakeLedger) -> dict:
    (values,) = [values for name, values in ledger.calls if name == "close_job"]
    return values


def test_a_day_whose_every_message_is_archived_completes_and_is_announced():
    services, ledger, _, archive = fake_services()
    announced: list[dict] = []
    result = pipeline.finalize(WINDOW, announced.append, config=packaged_config(), services=services)
    assert result["status"] == "completed" and result["total"] == 3
    assert closed_with(ledger)["status"] == "completed"
    assert closed_with(ledger)["next_run_date"] == DAY.next_run_date
    assert closed_with(ledger)["last_error"] is None
    assert list(archive.uploaded) == [manifest_key("messages", DAY.day)]
    assert announced and announced[0]["reprocess"] is False and announced[0]["counts"]["archived"] == 3
    assert ("track_staged_ids", 7) in ledger.calls


def test_failed_messages_fail_the_day_naming_them_and_nothing_is_announced():
    ledger = FakeLedger(
        counts={"pending": 0, "in_progress": 0, "completed": 2, "failed": 1}, failures=[("m-9", 5, "S3 500")]
    )
    services, ledger, _, archive = fake_services(ledger, archive=FakeArchive(objects=2))
    announced: list[dict] = []
    with pytest.raises(AirflowFailException, match=r"1 messages failed: 'm-9' \(5 attempts\): S3 500"):
        pipeline.finalize(WINDOW, announced.append, config=packaged_config(), services=services)
    assert closed_with(ledger)["status"] == "failed" and closed_with(ledger)["next_run_date"] is None
    assert not announced and not archive.uploaded


def test_a_count_that_cannot_be_taken_closes_the_day_as_failed_saying_why():
    services, ledger, _, _ = fake_services(search=FakeSearch(source_count=None))
    with pytest.raises(AirflowFailException, match="reconciliation count unavailable: search cluster unreachable"):
        pipeline.finalize(WINDOW, config=packaged_config(), services=services)
    assert closed_with(ledger)["source_count"] is None and closed_with(ledger)["status"] == "failed"


def test_ids_the_source_counts_beyond_those_tracked_fail_the_day():
    services, _, _, _ = fake_services(search=FakeSearch(source_count=5))
    with pytest.raises(AirflowFailException, match="reports 5 messages in the window but only 3 are tracked"):
        pipeline.finalize(WINDOW, config=packaged_config(), services=services)


def test_staged_ids_left_by_batches_nothing_claimed_are_tracked_before_counting():
    services, ledger, _, _ = fake_services(FakeLedger(staged=4))
    pipeline.finalize(WINDOW, config=packaged_config(), services=services)
    assert ledger.calls[0] == ("track_staged_ids", 7)


def test_finalize_without_a_window_skips():
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="no window was resolved"):
        pipeline.finalize(None, config=packaged_config(), services=fake_services()[0])


NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_retention_off_purges_nothing():
    services, ledger, _, _ = fake_services()
    config = packaged_config(retention=RetentionSettings(keep_days=None))
    assert pipeline.purge_ledger(NOW, config=config, services=services) == {
        "days": 0,
        "rows": 0,
        "chunks": 0,
        "seconds": 0.0,
    }
    assert ledger.calls == []


def test_a_day_is_marked_purged_only_once_no_row_is_left_and_a_reopened_day_is_kept():
    ledger = FakeLedger(
        expired=[(1, date(2024, 6, 1)), (2, date(2024, 6, 2))],
        purge_chunks={1: [(500, b"a"), (200, b"b"), (0, None)], 2: [(300, b"c"), (None, b"d")]},
    )
    services, ledger, _, _ = fake_services(ledger)
    result = pipeline.purge_ledger(NOW, config=packaged_config(), services=services)
    assert result["rows"] == 1000 and result["days"] == 2 and result["chunks"] == 3
    assert [call for call in ledger.calls if call[0] == "mark_purged"] == [("mark_purged", 1)]
    (cutoff,) = [value for name, value in ledger.calls if name == "expired_days"]
    assert cutoff == datetime(2024, 10, 3, tzinfo=UTC)  # keep_days 90 of the packaged config


def test_purging_stops_at_the_time_budget():
    ledger = FakeLedger(expired=[(1, date(2024, 6, 1))], purge_chunks={1: [(500, b"a")] * 1000})
    services, ledger, _, _ = fake_services(ledger)
    config = packaged_config(retention=RetentionSettings(keep_days=90, time_budget_seconds=1e-9))
    result = pipeline.purge_ledger(NOW, config=config, services=services)
    assert result["days"] == 0 and ("mark_purged", 1) not in ledger.calls
