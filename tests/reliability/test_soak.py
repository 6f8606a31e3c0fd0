"""Soak: 50,000 messages through random faults on every service and repeated SIGKILLs."""

from __future__ import annotations

import random
import time
from datetime import date

import pytest

from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.messages import day_of_messages
from tests.reliability.conftest import wait_until

MESSAGES = 50_000
COMPLETED_IN_BATCH = "SELECT COUNT(*) FROM message_tracking WHERE batch_id = %s AND status = 'completed'"


@pytest.mark.slow
def test_soak_random_faults_and_kills_lose_and_duplicate_nothing(stack: Stack, start_worker, report):
    started = time.monotonic()
    stack.write_config(
        batch_size=2500,
        max_batches=20,
        fetch_chunk_size=500,
        max_attempts=5,
        **{"retry.backoff_seconds": 0.1, "retry.time_budget_seconds": 120},
    )
    messages, related = day_of_messages(date(2024, 10, 1), MESSAGES, max_related=2, body_bytes=500)
    stack.index_messages(messages, related)
    ids = set(messages)
    del messages, related
    window, batch_ids = prepare_window("2024-10-01")
    assert len(batch_ids) == 20

    es, s3 = stack.services.es.faults, stack.services.s3_proxy.faults
    es.add_error(path_pattern=r"_mget|_search", status=429, probability=0.02)
    es.add_error(path_pattern=r"_mget|_search", status=503, probability=0.01)
    s3.add_error(503, methods=["PUT"], probability=0.02)
    s3.drop_connections(methods=["PUT"], probability=0.005)
    s3.lose_responses(methods=["PUT"], probability=0.005)
    s3.add_latency(fixed_ms=2, jitter_ms=3)

    rng = random.Random(2024)
    kills = 0
    for batch_id in batch_ids:
        worker = start_worker(batch_id, f"soak-{batch_id}")
        if rng.random() < 0.3:  # kill roughly every third batch part-way through
            target = rng.randrange(50, 2000)
            try:
                wait_until(
                    lambda b=batch_id, n=target, w=worker: (
                        stack.query(COMPLETED_IN_BATCH, (b,))[0][0] >= n or w.process.poll() is not None
                    ),
                    timeout=120,
                    what="progress before the kill",
                )
            finally:
                if worker.process.poll() is None:
                    worker.kill()
                    kills += 1
            worker = start_worker(batch_id, f"soak-{batch_id}-retry")
        worker.finish(timeout=600)

    from message_export import pipeline

    retried = pipeline.retry_failed(window, "soak-retry")
    es_counters, s3_counters = es.counters(), s3.counters()
    es.clear()
    s3.clear()
    figures = stack.archive_figures(ids)
    report.update(
        figures,
        seconds=round(time.monotonic() - started, 1),
        kills=kills,
        retry_failed=retried,
        s3_faults={
            "errors": s3_counters.errors,
            "drops": s3_counters.drops,
            "lost_responses": s3_counters.lost_responses,
        },
        es_faults=es_counters,
        faults_injected=(
            f"ES {es_counters['errors']} random 429/503 in {es_counters['requests']} requests; "
            f"S3 {s3_counters.errors} 503, {s3_counters.drops} dropped, {s3_counters.lost_responses} lost responses; "
            f"{kills} SIGKILLs mid-batch"
        ),
    )
    assert kills >= 3
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["completed"] == MESSAGES and figures["failed"] == 0
    assert figures["max_attempts_seen"] <= 5
    stack.assert_invariants(ids, check_bodies=300)
