"""The batch layout end to end on the real services: one indexed gzip object per batch pass, each message one
Range GET away, read back by the fetch command, by DuckDB's JSON reader and through the day's manifest."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.batch_archive import batch_keys
from tests.fixtures.export_stack import BUCKET, PREFIX, REPO, Stack, prepare_window
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_LAYOUTS

RELATED_KEYS = ("message", "history", "status", "audit")


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def fetch(message_id: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m message_export.fetch`` as an operator runs it: its own process, the worker's environment."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    command = [sys.executable, "-m", "message_export.fetch", message_id, *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120, check=False)


def puts(stack: Stack) -> int:
    return stack.services.s3_proxy.faults.counters().by_method.get("PUT", {}).get("forwarded", 0)


@pytest.mark.parametrize("archive_layout", ["batch"])
def test_a_day_is_one_object_per_batch_pass_and_every_message_one_range_get_away(stack: Stack, tmp_path: Path):
    messages, related = day_of_messages(date(2024, 10, 1), 120)
    messages["a b/ü~%"] = {**messages.pop("msg-20241001-000007"), "subject": "hostile id"}
    stack.index_messages(messages, related)
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "success", result.task_states
    stack.assert_invariants(set(messages))
    objects = batch_keys(stack.data_object_keys())
    assert len(objects) == 3  # 120 messages, batch_size 50: one object per process_batch
    assert stack.assert_stored_checksums("2024-10-01") == 120
    [job] = stack.jobs()
    assert (job["status"], job["completed_messages"]) == ("completed", 120)
    # the manifest lists each message's object and byte range
    _day, *entries = stack.manifest("2024-10-01")
    assert {e["key"] for e in entries} == objects and all(e["length"] > 0 for e in entries)

    # DuckDB reads the day as gzip JSON Lines: every message exactly once, each the archived document
    folder = tmp_path / "dt=2024-10-01"
    folder.mkdir()
    for key in objects:
        (folder / key.rsplit("/", 1)[1]).write_bytes(stack.body(key))
    columns = "{message_id: 'VARCHAR', message: 'JSON', history: 'JSON', status: 'JSON', audit: 'JSON'}"
    rows = duckdb.sql(
        f"SELECT message_id, message, history, status, audit FROM read_json('{folder}/*.jsonl.gz', "
        f"format = 'newline_delimited', compression = 'gzip', columns = {columns})"
    ).fetchall()
    assert sorted(row[0] for row in rows) == sorted(messages)
    for mid, *sections in rows[:10]:
        expected = stack.expected_document(mid)
        assert [json.loads(section) for section in sections] == [expected[k] for k in RELATED_KEYS]

    # the fetch command: the ledger says where, one Range GET returns exactly the document
    for mid in ("a b/ü~%", "msg-20241001-000100"):
        done = fetch(mid)
        assert done.returncode == 0, done.stderr.decode()
        assert json.loads(done.stdout) == stack.expected_document(mid)
    where = json.loads(fetch("a b/ü~%", "--where").stdout)
    assert where["s3_path"].startswith(f"s3://{BUCKET}/{PREFIX}/dt=2024-10-01/part-") and where["length"] > 0
    missing = fetch("never-extracted")
    assert missing.returncode == 2 and b"not tracked" in missing.stderr


def test_the_fetch_command_reads_the_message_layout_too(stack: Stack):
    messages, related = day_of_messages(date(2024, 10, 1), 30)
    stack.index_messages(messages, related)
    assert stack.run_dag(logical_date=at("2024-10-02")).state == "success"
    done = fetch("msg-20241001-000003")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == stack.expected_document("msg-20241001-000003")
    assert json.loads(fetch("msg-20241001-000003", "--where").stdout)["offset"] is None


@pytest.mark.parametrize("archive_layout", ["batch"])
def test_a_batch_past_the_bound_writes_several_objects_in_id_order(stack: Stack):
    stack.write_config(**{"s3.batch_object_max_messages": 20})
    messages, related = day_of_messages(date(2024, 10, 1), 50)
    stack.index_messages(messages, related)
    before = puts(stack)
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "success", result.task_states
    stack.assert_invariants(set(messages))
    assert len(batch_keys(stack.data_object_keys())) == 3  # 20 + 20 + 10
    assert puts(stack) - before == 3 + 1  # three objects and the manifest


@pytest.mark.parametrize("archive_layout", ["batch"])
def test_objects_no_row_references_are_reported_and_removed_when_the_day_completes(stack: Stack):
    messages, related = day_of_messages(date(2024, 10, 1), 40)
    stack.index_messages(messages, related)
    _window, _batches = prepare_window("2024-10-01")
    # what a writer killed after its upload (or fenced out) leaves behind
    from message_export.gzip_members import MemberFramer, batch_object_key

    framer = MemberFramer()
    member, _ = framer.frame(b'{"message_id":"msg-20241001-000001"}')
    orphan = batch_object_key(PREFIX, date(2024, 10, 1), framer.digest())
    stack.s3.put_object(Bucket=BUCKET, Key=orphan, Body=member)
    result = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"})
    assert result.state == "success", result.task_states
    assert orphan not in stack.data_object_keys()
    head, *_ = stack.manifest("2024-10-01")
    assert head["reconciliation"]["unreferenced_objects"] == 1
    stack.assert_invariants(set(messages))


@pytest.mark.parametrize("archive_layout", ["batch"])
def test_a_batch_objects_messages_are_recorded_all_together_or_not_at_all(stack: Stack):
    from message_export.ledger.hook import MessageTrackingHook
    from message_export.model import MessageOutcome

    messages, related = day_of_messages(date(2024, 10, 1), 30)
    stack.index_messages(messages, related)
    _window, [batch_id, *_] = prepare_window("2024-10-01")
    tracking = MessageTrackingHook("mysql_default")
    try:
        claimed = tracking.claim_batch(batch_id, "lease-a", 600, 5)
        uri = f"s3://{BUCKET}/{PREFIX}/dt=2024-10-01/part-0.jsonl.gz"

        def archived_in_order(messages: list) -> list[MessageOutcome]:
            return [
                MessageOutcome.archived(
                    m, uri, body_bytes=10, body_sha256=b"\0" * 32, archive_offset=10 * i, archive_length=10
                )
                for i, m in enumerate(messages)
            ]

        outcomes = archived_in_order(claimed)
        # one message of the object is no longer the pass's: it was failed (and its lease released) meanwhile
        tracking.record_results("lease-a", [MessageOutcome.failed(claimed[3], "taken over")])
        assert tracking.record_whole_object("lease-a", outcomes) is False
        rows = stack.tracking()
        held = {m.message_id for m in claimed} - {claimed[3].message_id}
        assert {rows[mid]["status"] for mid in held} == {"in_progress"}  # rolled back: none recorded
        assert {rows[mid]["lease_token"] for mid in held} == {"lease-a"}
        assert (rows[claimed[3].message_id]["status"], rows[claimed[3].message_id]["s3_path"]) == ("failed", None)

        # another worker takes the batch over (the failed message is retry_failed's): the old lease records
        # nothing, the new one, which holds every message of its object, records them all
        retaken = tracking.claim_batch(batch_id, "lease-b", 600, 5)
        assert {m.message_id for m in retaken} == held
        assert tracking.record_whole_object("lease-a", outcomes[:3]) is False
        assert {stack.tracking()[mid]["lease_token"] for mid in held} == {"lease-b"}
        retaken_outcomes = archived_in_order(retaken)
        assert tracking.record_whole_object("lease-b", retaken_outcomes) is True
        rows = stack.tracking()
        assert {(rows[mid]["status"], rows[mid]["s3_path"], rows[mid]["lease_token"]) for mid in held} == {
            ("completed", uri, None)
        }
        assert stack.query("SELECT COUNT(*) FROM message_tracking WHERE archive_length = 10") == [(len(held),)]
        assert tracking.record_whole_object("lease-b", retaken_outcomes) is False  # recorded once, not twice
    finally:
        tracking.close()


@BOTH_LAYOUTS
def test_rerun_and_reprocess_rewrite_the_same_bytes_and_leave_no_stray_object(stack: Stack, archive_layout: str):
    messages, related = day_of_messages(date(2024, 10, 1), 80)
    stack.index_messages(messages, related)
    first = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01"})
    assert first.state == "success", first.task_states
    objects = stack.object_keys()
    again = stack.run_dag(logical_date=None, conf={"start_date": "2024-10-01", "reprocess": True})
    assert again.state == "success", again.task_states
    assert stack.object_keys() == objects  # same keys, same ETags: deterministic bytes in either layout
    stack.assert_invariants(set(messages), check_bodies=10)


@pytest.mark.parametrize("archive_layout", ["batch"])
def test_a_batch_object_past_one_part_goes_up_as_a_multipart_upload(stack: Stack):
    """~9 MB of gzip (incompressible bodies): s3transfer's multipart upload in 8 MiB parts, read back exactly."""
    stack.write_config(batch_size=100)
    rng = random.Random(24)
    messages = {
        f"big-{n:03d}": {
            "timestamp": f"2024-10-01T{n % 24:02d}:00:00Z",
            "blob": base64.b64encode(rng.randbytes(150_000)).decode(),
        }
        for n in range(60)
    }
    stack.index_messages(messages)
    result = stack.run_dag(logical_date=at("2024-10-02"))
    assert result.state == "success", result.task_states
    [key] = batch_keys(stack.data_object_keys())
    assert stack.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 8 * 1024 * 1024
    by_method = stack.services.s3_proxy.faults.counters().by_method
    assert by_method["POST"]["forwarded"] >= 2  # CreateMultipartUpload and CompleteMultipartUpload
    stack.assert_invariants(set(messages), check_bodies=5)
