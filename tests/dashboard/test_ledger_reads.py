"""The dashboard's reads against a real MariaDB ledger: the tracking hook's read methods and the
answers built on them (days, one day, a message)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from message_export.config import ExportConfig
from message_export.dashboard.calendar import PageError
from message_export.dashboard.reader import DashboardReader
from message_export.ledger.hook import MessageTrackingHook
from message_export.ledger.values import id_bytes
from tests.dashboard.ledger_fixtures import (
    CONN_ID,
    HOSTILE_IDS,
    HOSTILE_REASON,
    DashboardLedger,
    dashboard_ledger,
    recent_shape,
)

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def ledger() -> Iterator[DashboardLedger]:
    with dashboard_ledger(recent_shape(NOW), NOW.date() - timedelta(days=1)) as built:
        yield built


@pytest.fixture(scope="module")
def reader(ledger: DashboardLedger) -> DashboardReader:
    start = ledger.shape.first_day - timedelta(days=3)  # three due days never exported
    return DashboardReader(
        ExportConfig.model_validate(
            {
                "start_date": start.isoformat(),
                "connections": {"mysql": CONN_ID},
                "elasticsearch": {"message_index": "messages"},
                "s3": {"bucket": "message-archive"},
            }
        )
    )


@pytest.fixture
def hook(ledger: DashboardLedger) -> Iterator[MessageTrackingHook]:
    hook = MessageTrackingHook(ledger.conn_id)
    yield hook
    hook.close()


def test_days_between_returns_job_rows_newest_first(ledger: DashboardLedger, hook: MessageTrackingHook) -> None:
    shape = ledger.shape
    records = hook.days_between(shape.first_day, ledger.hostile_day + timedelta(days=1))
    assert [r.day for r in records] == [ledger.hostile_day - timedelta(days=i) for i in range(shape.days + 1)]
    settled = records[-1]
    assert settled.status == "failed"  # one message in 300 failed
    assert settled.counts.failed == 4 and settled.counts.completed == 1196 and settled.counts.total == 1200
    assert settled.source_count == 1200 and settled.archived_objects == 1196
    assert settled.dag_run_id == f"scheduled__{shape.first_day.isoformat()}T00:00:00+00:00"


def test_live_counts_of_a_running_day(ledger: DashboardLedger, hook: MessageTrackingHook) -> None:
    record = hook.day_record(ledger.hostile_day)
    assert record is not None and record.status == "running"
    counts = hook.live_job_counts(record.job_id)
    assert (counts.completed, counts.failed, counts.in_progress, counts.pending) == (2, 5, 1, 0)


def test_batch_records_are_paged_with_live_counts(ledger: DashboardLedger, hook: MessageTrackingHook) -> None:
    day = ledger.shape.first_day + timedelta(days=ledger.shape.days - 1)  # the generated running day
    record = hook.day_record(day)
    assert record is not None
    assert hook.batch_count(record.job_id) == 3
    first_page = hook.batch_records(record.job_id, 0, 2)
    second_page = hook.batch_records(record.job_id, 2, 2)
    assert [b.batch_number for b in first_page] == [0, 1] and [b.batch_number for b in second_page] == [2]
    # 1200 messages, the last 600 pending: batch 0 settled, batch 1 half pending, batch 2 all pending
    assert first_page[0].counts.pending == 0 and first_page[0].counts.total == 500
    assert first_page[1].counts.pending == 400 and first_page[1].counts.total == 500
    assert second_page[0].counts.pending == 200 and second_page[0].counts.completed == 0


def test_failed_messages_keep_hostile_ids_and_reasons(ledger: DashboardLedger, hook: MessageTrackingHook) -> None:
    record = hook.day_record(ledger.hostile_day)
    assert record is not None
    failures = hook.failed_messages(record.job_id, b"", 50)
    assert sorted(f.message_id for f in failures) == sorted(HOSTILE_IDS)
    assert all(f.reason == HOSTILE_REASON and f.attempts == 1 for f in failures)
    paged = hook.failed_messages(record.job_id, id_bytes(failures[1].message_id), 2)
    assert [f.message_id for f in paged] == [f.message_id for f in failures][2:4]


def test_find_message_is_byte_exact(ledger: DashboardLedger, hook: MessageTrackingHook) -> None:
    found = hook.find_message(ledger.archived_id)
    assert found is not None and found.status == "completed" and found.s3_path == ledger.archived_uri
    assert hook.find_message("trailing  ").status == "failed"  # type: ignore[union-attr]
    assert hook.find_message("trailing") is None
    nfd, nfc = hook.find_message("cafe\u0301"), hook.find_message("café")
    assert nfd is not None and nfc is not None and nfd.message_id != nfc.message_id


def test_days_page_shows_due_days_not_exported(reader: DashboardReader, ledger: DashboardLedger) -> None:
    answer = reader.days(page=1, per_page=31, now=NOW)
    by_day = {day["day"]: day for day in answer["days"]}
    assert answer["last_due_day"] == ledger.hostile_day.isoformat()
    assert answer["summary"]["not_exported_days"] == 3 and answer["summary"]["running_days"] == 2
    assert answer["summary"]["due_days"] == ledger.shape.days + 1 + 3
    first_gap = (ledger.shape.first_day - timedelta(days=1)).isoformat()
    assert by_day[first_gap]["status"] == "not_exported"
    assert answer["summary"]["chain_next_day"] == answer["configured_start_date"]
    hostile = by_day[ledger.hostile_day.isoformat()]
    assert hostile["counts"] == {"completed": 2, "failed": 5, "pending": 1, "total": 8}  # live, not job_runs
    assert hostile["run_url"] == "/dags/message_export/runs/manual__hostile"


def test_days_are_paged_newest_first(reader: DashboardReader, ledger: DashboardLedger) -> None:
    first = reader.days(page=1, per_page=4, now=NOW)
    second = reader.days(page=2, per_page=4, now=NOW)
    assert first["pages"] == 3
    days = [d["day"] for d in first["days"] + second["days"]]
    assert days == sorted(days, reverse=True) and len(set(days)) == 8
    with pytest.raises(PageError, match="past the last page"):
        reader.days(page=4, per_page=4, now=NOW)


def test_day_answer_has_batches_and_failures(reader: DashboardReader, ledger: DashboardLedger) -> None:
    answer = reader.day(ledger.hostile_day, per_page=3, now=NOW)
    assert answer is not None
    assert answer["batches"]["total"] == 2 and len(answer["batches"]["items"]) == 2
    assert answer["failures"]["total"] == 5 and len(answer["failures"]["items"]) == 3
    gap = reader.day(ledger.shape.first_day - timedelta(days=1), per_page=50, now=NOW)
    assert gap is not None and gap["status"] == "not_exported" and gap["due"] is True
    assert reader.day(NOW.date() + timedelta(days=3), per_page=50, now=NOW) is None


def test_message_answers(reader: DashboardReader, ledger: DashboardLedger) -> None:
    archived = reader.message(ledger.archived_id)
    assert archived["s3_uri"] == ledger.archived_uri and archived["answer"] == f"archived at {ledger.archived_uri}"
    failed = reader.message(HOSTILE_IDS[0])
    assert failed["status"] == "failed" and HOSTILE_REASON in failed["answer"]
    waiting = reader.message("waiting-1")
    assert waiting["answer"].startswith("not archived yet: in progress")
    missing = reader.message("no-such-id")
    assert missing["found"] is False and "not tracked" in missing["answer"]


def test_day_answer_pages_failures_and_batches_by_key(reader: DashboardReader, ledger: DashboardLedger) -> None:
    """Following next_after from the first page lists every failure and batch once, in key order."""
    everything = reader.day(ledger.hostile_day, per_page=50, now=NOW)
    assert everything is not None and everything["failures"]["next_after"] is None
    every_id = [f["message_id"] for f in everything["failures"]["items"]]
    assert [i.encode() for i in every_id] == sorted(i.encode() for i in HOSTILE_IDS)  # byte order
    seen, cursor, pages = [], None, 0
    while True:
        answer = reader.day(ledger.hostile_day, per_page=2, failures_after=cursor, now=NOW)
        assert answer is not None and answer["failures"]["after"] == cursor
        seen += [f["message_id"] for f in answer["failures"]["items"]]
        pages, cursor = pages + 1, answer["failures"]["next_after"]
        if cursor is None:
            break
    assert seen == every_id and pages == 3
    first = reader.day(ledger.hostile_day, per_page=1, now=NOW)
    assert first is not None and first["batches"]["next_after"] == 0
    second = reader.day(ledger.hostile_day, per_page=1, batches_after=0, now=NOW)
    assert second is not None and [b["batch_number"] for b in second["batches"]["items"]] == [1]
    assert second["batches"]["next_after"] is None and second["batches"]["total"] == 2


def test_a_cursor_the_dashboard_did_not_give_out_is_refused(reader: DashboardReader, ledger: DashboardLedger) -> None:
    with pytest.raises(PageError, match="failures_after 'x' is not a cursor"):
        reader.day(ledger.hostile_day, failures_after="x", now=NOW)
    with pytest.raises(PageError, match="batches_after -1 is not valid"):
        reader.day(ledger.hostile_day, batches_after=-1, now=NOW)
