"""A batch is exported chunk by chunk: a chunk whose search reads fail fails alone, the other chunks
of the batch are archived, and retry_failed archives the failed ones later; faults over the wire."""

from __future__ import annotations

from datetime import date

import pytest

from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.messages import day_of_messages


def test_a_chunk_whose_reads_fail_fails_alone_while_the_others_are_archived(stack: Stack):
    from airflow.sdk.exceptions import AirflowFailException

    from message_export import pipeline

    messages, related = day_of_messages(date(2024, 10, 1), 30)
    stack.index_messages(messages, related)
    ids = set(messages)
    stack.write_config(batch_size=30, fetch_chunk_size=10, **{"elasticsearch.max_retries": 0})
    window, [batch_id] = prepare_window("2024-10-01")
    stack.services.es.faults.add_error("_mget", status=503, count=1)  # the first chunk's read, no retry left

    with pytest.raises(AirflowFailException, match="10 of 30 messages failed"):
        pipeline.process_batch(batch_id, "one-chunk-fails")

    counts = dict(stack.query("SELECT status, COUNT(*) FROM message_tracking GROUP BY status"))
    assert counts == {"completed": 20, "failed": 10}, counts
    reasons = [reason for (reason,) in stack.query("SELECT last_error FROM message_tracking WHERE status = 'failed'")]
    # each names the error, the connection and what it was doing
    assert all(
        reason.startswith("SearchUnavailableError: Elasticsearch connection")
        and "HTTP 503 cluster_block_exception: blocked by" in reason
        and "while fetching 10 messages from 'messages'" in reason
        for reason in reasons
    ), reasons
    pipeline.retry_failed(window, "retry")  # nothing lost: the ten are archived by the retry step
    stack.assert_invariants(ids, check_bodies=True)
