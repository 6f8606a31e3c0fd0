"""Ledger retention against the real MariaDB: what a purge removes and keeps, what the dashboard then
shows, a re-run of a purged day, and the export working while a purge runs."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import MySQLdb

from devstack.ledger_generator import LedgerShape, generate_ledger, message_id_of
from message_export import pipeline
from message_export.config import load_config
from message_export.dashboard.reader import DashboardReader
from message_export.ledger.hook import MessageTrackingHook
from message_export.model import MessageOutcome
from message_export.resources import load_sql
from message_export.windows import Window
from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.ledger_rows import track_pending
from tests.fixtures.messages import day_of_messages

OLD = date(2024, 6, 1)  # generated days settle the day after their own: long expired
NOW = datetime(2024, 9, 1, tzinfo=UTC)  # with keep_days 30: days before 2024-08-02 expire
RECENT = date(2024, 8, 20)


def _raw(stack: Stack) -> MySQLdb.Connection:
    mysql = stack.services.mysql
    return MySQLdb.connect(
        host=mysql["host"],
        port=mysql["port"],
        user=mysql["user"],
        passwd=mysql["password"],
        db=mysql["database"],
        charset="utf8mb4",
    )


def _generate(stack: Stack, *shapes: LedgerShape) -> None:
    hook = MessageTrackingHook("mysql_default")
    try:
        hook.ensure_schema()
    finally:
        hook.close()
    conn = _raw(stack)
    try:
        for shape in shapes:
            generate_ledger(conn, shape)
    finally:
        conn.close()


def _rows_per_day(stack: Stack) -> dict[date, int]:
    rows = stack.query("SELECT start_date, COUNT(*) FROM message_tracking GROUP BY start_date")
    return {start.date(): int(count) for start, count in rows}


def test_purge_removes_exactly_the_expired_completed_days_and_keeps_their_figures(stack: Stack, caplog):
    stack.write_config(**{"retention.keep_days": 30, "retention.chunk_rows": 250})
    completed = LedgerShape(first_day=OLD, days=3, messages_per_day=1000, batch_size=400, failed_every=0)
    with_failures = LedgerShape(first_day=OLD + timedelta(days=3), days=1, messages_per_day=600, failed_every=100)
    recent = LedgerShape(first_day=RECENT, days=1, messages_per_day=500, failed_every=0)
    _generate(stack, completed, with_failures, recent)
    # a completed day that still holds a message not archived (a rerun's leftover) is kept whole
    stack.query(
        "UPDATE message_tracking SET status = 'pending' WHERE message_id = %s",
        (message_id_of(OLD + timedelta(days=2), 5),),
    )
    figures = (
        "SELECT job_id, start_date, status, total_messages, completed_messages, failed_messages, source_count,"
        " archived_objects, next_run_date, last_error, updated_at FROM job_runs ORDER BY job_id"
    )
    jobs_before = stack.query(figures)
    batches_before = stack.query("SELECT * FROM batch_progress ORDER BY batch_id")

    caplog.set_level(logging.INFO, logger="message_export.pipeline")
    result = pipeline.purge_ledger(now=NOW)

    assert result["days"] == 2 and result["rows"] == 2000
    assert result["chunks"] == 8  # 1,000 rows per day in chunks of 250
    assert _rows_per_day(stack) == {OLD + timedelta(days=2): 1000, OLD + timedelta(days=3): 600, RECENT: 500}
    purged = dict(stack.query("SELECT start_date, ledger_purged_at IS NOT NULL FROM job_runs"))
    assert [day.date() for day, mark in sorted(purged.items()) if mark] == [OLD, OLD + timedelta(days=1)]
    # job_runs keep every figure (only the mark is new); batch_progress keeps every row as it was
    assert stack.query(figures) == jobs_before
    assert stack.query("SELECT * FROM batch_progress ORDER BY batch_id") == batches_before
    assert "removed 2000 message_tracking rows of 2 days in 8 chunks" in caplog.text
    assert f"{OLD} 1000, {OLD + timedelta(days=1)} 1000" in caplog.text

    # the dashboard shows a purged day's recorded figures, not zeros and not a failure
    reader = DashboardReader(load_config())
    day = reader.day(OLD, per_page=50, now=NOW)
    assert day is not None
    assert day["status"] == "completed" and day["ledger_purged_at"] is not None
    assert day["counts"] == {"completed": 1000, "failed": 0, "pending": 0, "total": 1000}
    assert day["batches"]["total"] == 3
    assert [b["counts"]["completed"] for b in day["batches"]["items"]] == [400, 400, 200]
    listed = {d["day"]: d for d in reader.days(1, 200, now=NOW)["days"]}
    assert listed[OLD.isoformat()]["counts"]["completed"] == 1000
    assert listed[(OLD + timedelta(days=3)).isoformat()]["ledger_purged_at"] is None
    gone = reader.message(message_id_of(OLD, 1))
    assert gone["found"] is False and "retention removed" in gone["answer"]

    # nothing more is due: a second purge removes nothing
    assert pipeline.purge_ledger(now=NOW)["rows"] == 0


def test_purged_day_rerun_tracks_its_ids_again_and_rewrites_its_objects(stack: Stack):
    stack.write_config(**{"retention.keep_days": 30})
    messages, related = day_of_messages(date(2024, 10, 1), 60)
    stack.index_messages(messages, related)
    first = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"})
    assert first.state == "success", first.task_states
    assert first.states_of("purge_ledger") == ["success"]
    assert len(stack.tracking()) == 60  # just exported: kept for keep_days after its export
    objects = stack.data_object_keys()

    later = datetime.now(UTC) + timedelta(days=31)
    assert pipeline.purge_ledger(now=later)["rows"] == 60
    assert stack.tracking() == {}
    stack.s3.delete_objects(Bucket="message-archive", Delete={"Objects": [{"Key": key} for key in objects]})

    again = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01", "reprocess": True})
    assert again.state == "success", again.task_states
    # the ids are tracked again, the same objects (same bytes) written again, the mark cleared
    stack.assert_invariants(set(messages), check_bodies=5)
    assert stack.data_object_keys() == objects
    [job] = stack.jobs()
    assert (job["status"], job["total_messages"], job["completed_messages"]) == ("completed", 60, 60)
    assert stack.query("SELECT ledger_purged_at FROM job_runs") == [(None,)]


def test_export_keeps_working_while_a_purge_runs(stack: Stack):
    stack.write_config(**{"retention.keep_days": 30, "retention.chunk_rows": 500})
    _generate(stack, LedgerShape(first_day=OLD, days=2, messages_per_day=6_000, failed_every=0))
    messages, related = day_of_messages(date(2024, 10, 1), 100, max_related=1)
    stack.index_messages(messages, related)
    window, batch_ids = prepare_window("2024-10-01")
    assert len(batch_ids) == 2  # 100 messages, batch_size 50

    # 1. a purge chunk's transaction left open: claims, results and inserts next to the rows it
    #    deletes do not wait for it (it locks exactly its rows by primary key, no gaps)
    holder = _raw(stack)
    job_id = int(stack.query("SELECT job_id FROM job_runs WHERE start_date = %s", (datetime(2024, 6, 1),))[0][0])
    with holder.cursor() as cursor:
        cursor.execute(load_sql("ledger/purge_chunk_ids"), {"job_id": job_id, "after": b"", "limit": 500})
        ids = tuple(bytes(row[0]) for row in cursor.fetchall())
        holder.commit()
        cursor.execute(load_sql("ledger/lock_purgeable_job"), {"job_id": job_id})
        assert cursor.fetchone()[0] == 1
        assert cursor.execute(load_sql("ledger/delete_purged_messages"), {"job_id": job_id, "message_ids": ids}) == 500
    released = threading.Event()
    timer = threading.Timer(20, lambda: (holder.rollback(), released.set()))
    timer.start()
    hook = MessageTrackingHook("mysql_default")
    try:
        started = time.monotonic()
        lease = uuid.uuid4().hex
        claimed = hook.claim_batch(batch_ids[0], lease, 60, 3)
        hook.record_results(
            lease, [MessageOutcome.failed(m, "test: recorded while a purge chunk is open") for m in claimed]
        )
        hook.refresh_batches([batch_ids[0]])
        # ids that sort right after rows the open chunk deletes, tracked for the running day
        job = hook.get_job(Window.for_day(date(2024, 10, 1)))
        track_pending(hook, job, [(message_id_of(OLD, n) + "-x", batch_ids[1]) for n in (0, 250, 499)])
        seconds = time.monotonic() - started
        assert not released.is_set(), "the export waited for the purge chunk's transaction"
    finally:
        timer.cancel()
        holder.rollback()
        holder.close()
        hook.close()
    assert claimed and seconds < 10

    # 2. the purge step running while the batches are processed: both finish, nothing lost
    stack.query("DELETE FROM message_tracking WHERE message_id LIKE %s", ("gen-%-x",))
    outcome: dict[str, object] = {}
    purge = threading.Thread(target=lambda: outcome.update(pipeline.purge_ledger(now=NOW)))
    purge.start()
    for batch_id in batch_ids[1:]:  # batch 0's messages failed above: retry_failed takes them
        pipeline.process_batch(batch_id, "retention-concurrency")
    purge.join(timeout=120)
    assert not purge.is_alive()
    assert outcome["rows"] == 12_000 and outcome["days"] == 2
    assert pipeline.retry_failed(window, "retention-concurrency")["failed"] == 0
    stack.assert_invariants(set(messages), check_bodies=3)


def test_ensure_schema_adds_the_purge_mark_to_an_older_ledger(stack: Stack):
    baseline = load_sql("schema/create_job_runs")
    older = "\n".join(line for line in baseline.splitlines() if "ledger_purged_at" not in line)
    stack.query(older)
    hook = MessageTrackingHook("mysql_default")
    try:
        hook.ensure_schema()
        hook.ensure_schema()  # idempotent
    finally:
        hook.close()
    columns = stack.query(
        "SELECT COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'job_runs' AND COLUMN_NAME = 'ledger_purged_at'"
    )
    assert columns == [("ledger_purged_at", "YES")]
