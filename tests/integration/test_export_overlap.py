"""A worker reads the next chunk's documents from the search cluster while the current chunk's
objects upload, and a chunk whose reads fail still fails alone; observed on the wire (the search
server's request log, a slow S3 behind the fault proxy)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.harness.data import day_of_messages
from tests.harness.stack import Stack, prepare_window

S3_LATENCY_S = 1.0


def seed(stack: Stack, count: int) -> set[str]:
    messages, related = day_of_messages(date(2024, 10, 1), count)
    stack.index_messages(messages, related)
    return set(messages)


def test_the_next_chunk_is_read_while_this_one_uploads(stack: Stack):
    from message_export import pipeline

    ids = seed(stack, 30)
    stack.write_config(batch_size=30, fetch_chunk_size=10)  # one batch of three chunks
    _, [batch_id] = prepare_window("2024-10-01")
    stack.services.s3_proxy.faults.add_latency(S3_LATENCY_S * 1000, methods=["PUT"])  # every PUT takes 1 s
    stack.services.es.requests.clear()

    result = pipeline.process_batch(batch_id, "overlap")

    assert (result["completed"], result["failed"]) == (30, 0)
    mgets = [entry for entry in stack.services.es.requests.entries() if entry.path.endswith("/_mget")]
    assert len(mgets) == 3
    # Each chunk's upload takes at least a second. Read one after the other, chunk 2's _mget could not
    # arrive before chunk 1's objects were uploaded; read ahead, it arrives while they upload.
    assert mgets[1].arrived - mgets[0].arrived < S3_LATENCY_S, [round(m.arrived - mgets[0].arrived, 3) for m in mgets]
    stack.assert_invariants(ids, check_bodies=True)


def test_a_chunk_whose_reads_fail_fails_alone_while_the_others_are_archived(stack: Stack):
    from airflow.sdk.exceptions import AirflowFailException

    from message_export import pipeline

    ids = seed(stack, 30)
    stack.write_config(batch_size=30, fetch_chunk_size=10, **{"elasticsearch.max_retries": 0})
    _, [batch_id] = prepare_window("2024-10-01")
    # the first chunk's _mget is refused (no retries left): the chunks read ahead after it still go on
    stack.services.es.faults.add_error("_mget", status=503, count=1)
    stack.services.s3_proxy.faults.add_latency(200, methods=["PUT"])

    with pytest.raises(AirflowFailException, match="10 of 30 messages failed"):
        pipeline.process_batch(batch_id, "one-chunk-fails")
    statuses = dict(stack.query("SELECT status, COUNT(*) FROM message_tracking GROUP BY status"))
    assert {bytes(k).decode() if isinstance(k, bytes) else k: v for k, v in statuses.items()} == {
        "completed": 20,
        "failed": 10,
    }
    failed = stack.query("SELECT last_error FROM message_tracking WHERE status = 'failed'")
    assert all("503" in row[0] for row in failed), failed
    # retry_failed archives the ten later: nothing lost
    pipeline.retry_failed({"job_id": stack.query("SELECT MAX(job_id) FROM job_runs")[0][0]}, "retry")
    stack.assert_invariants(ids, check_bodies=True)
