"""A batch is exported chunk by chunk: a chunk whose search reads fail fails alone, the other chunks
of the batch are archived, and retry_failed archives the failed ones later; faults over the wire."""

from __future__ import annotations

import itertools
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


@pytest.mark.parametrize(("concurrent", "waves"), [(4, 1), (2, 2)])
def test_a_chunks_reads_are_sent_at_once_within_the_concurrency_limit(stack: Stack, concurrent: int, waves: int):
    """The _mget and the three related searches of a chunk leave together, as many at once as
    ``max_concurrent_requests`` lets; they read what they read one after another."""
    from message_export.config import load_config
    from message_export.export import ExportServices

    messages, related = day_of_messages(date(2024, 10, 1), 20)
    stack.index_messages(messages, related)
    stack.write_config(
        **{"elasticsearch.max_concurrent_requests": concurrent, "elasticsearch.max_requests_per_second": None}
    )
    es = load_config().elasticsearch
    search = ExportServices.from_config(load_config()).search
    ids = sorted(messages)
    one_by_one = (
        search.fetch_messages(es.message_index, ids),
        {
            section: search.fetch_related(index, es.related_id_field, ids, es.timestamp_field)
            for section, index in es.related.items()
        },
    )
    stack.services.es.faults.add_latency(400)
    stack.services.es.requests.clear()

    chunk = search.fetch_chunk(es.message_index, es.related, es.related_id_field, ids, es.timestamp_field)

    assert (chunk.messages, chunk.related) == one_by_one
    assert set(chunk.related) == {"history", "status", "audit"} and any(chunk.related.values())
    log = sorted(stack.services.es.requests.entries(), key=lambda entry: entry.arrived)
    assert len(log) == 4
    # a request arrives within a fraction of the 400 ms latency of the previous wave's: 4 at once, or 2 and 2
    started_waves = 1 + sum(b.arrived - a.arrived > 0.3 for a, b in itertools.pairwise(log))
    assert started_waves == waves, [round(entry.arrived - log[0].arrived, 3) for entry in log]
