"""The load the export puts on the search cluster stays within its configured limits, measured from the
test server's request log (what arrived on the wire, when), and a burst of 429s slows what follows."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from datetime import UTC, date, datetime

from devstack.search.request_log import LoggedRequest, most_in_flight, most_in_window
from tests.fixtures.export_stack import Stack, prepare_window
from tests.fixtures.messages import day_of_messages
from tests.fixtures.services import BOTH_ENGINES

LOGICAL = datetime(2024, 10, 2, tzinfo=UTC)


def seed(stack: Stack, count: int) -> set[str]:
    messages, related = day_of_messages(date(2024, 10, 1), count)
    stack.index_messages(messages, related)
    return set(messages)


def limits(rate: float, concurrent: int, **more: object) -> dict[str, object]:
    return {
        "elasticsearch.max_requests_per_second": rate,
        "elasticsearch.max_concurrent_requests": concurrent,
        **{f"elasticsearch.{key}": value for key, value in more.items()},
    }


def run_export(day: str, run_id: str) -> dict:
    """The DAG's task functions for one window, in order: extraction, every batch, retries, reconciliation
    (``dag.test()`` adds a minute of task bookkeeping and not a single search request)."""
    from message_export import pipeline

    window, batch_ids = prepare_window(day)
    for batch_id in batch_ids:
        pipeline.process_batch(batch_id, run_id)
    pipeline.retry_failed(window, run_id)
    return pipeline.finalize(window)


@BOTH_ENGINES
def test_a_run_never_sends_more_requests_per_second_than_the_limit(stack: Stack):
    ids = seed(stack, 100)
    # small pages and chunks: requests in quick succession, more than the limit lets through
    stack.write_config(**limits(6, 2, page_size=100), batch_size=50, fetch_chunk_size=10)
    stack.services.es.requests.clear()
    assert run_export("2024-10-01", "limited")["status"] == "completed"
    log = stack.services.es.requests.entries()
    assert len(log) >= 45  # 2 batches x 5 chunks x 4 requests, plus extraction and reconciliation
    # never above the limit; reaching it shows that the run asked for more and the limit did the holding
    assert most_in_window(log, 1.0) == 6, gaps(log)
    assert most_in_flight(log) <= 2
    stack.assert_invariants(ids, check_bodies=20)


@BOTH_ENGINES
def test_concurrent_requests_never_exceed_the_limit(stack: Stack):
    """Eight threads share one worker process's limits: the server never handles more than two at once."""
    from message_export.config import load_config
    from message_export.export import ExportServices

    seed(stack, 100)
    stack.write_config(**limits(40, 2))
    stack.services.es.faults.add_latency(fixed_ms=60)  # slow answers: the threads pile up
    stack.services.es.requests.clear()
    config = load_config()
    ids = [f"msg-20241001-{i:06d}" for i in range(100)]
    errors: list[BaseException] = []

    def fetch(part: int) -> None:
        search = ExportServices.from_config(config).search  # a hook per thread, one throttle per process
        try:
            for start in range(part * 5, 100, 40):
                search.fetch_messages("messages", ids[start : start + 5])
                search.fetch_related("message_history", "message_id", ids[start : start + 5], "timestamp")
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=fetch, args=(part,)) for part in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    log = stack.services.es.requests.entries()
    assert len(log) == 40
    assert most_in_flight(log) == 2  # never more; two shows the threads did compete for the slots
    assert most_in_window(log, 1.0) <= 40


@BOTH_ENGINES
def test_every_attempt_of_a_retried_request_passes_the_throttle(stack: Stack):
    """The client's retries are the seam's: each attempt is counted, paced and reported to the throttle."""
    from message_export.config import load_config
    from message_export.export import ExportServices
    from message_export.throttle import shared_throttle

    seed(stack, 5)
    stack.write_config(**limits(50, 3, recovery_requests=7))
    config = load_config()
    search = ExportServices.from_config(config).search
    name = f"{search.engine} connection 'elasticsearch_default'"
    throttle = shared_throttle(name, config.elasticsearch.throttle_limits())
    assert throttle is not None
    before = dataclasses.replace(throttle.figures)
    stack.services.es.faults.add_error("_mget", status=429, count=3)
    stack.services.es.requests.clear()
    found = search.fetch_messages("messages", [f"msg-20241001-{i:06d}" for i in range(5)])
    assert all(isinstance(source, dict) for source in found.values())
    assert [(e.path, e.status) for e in stack.services.es.requests.entries()] == [("/messages/_mget", 429)] * 3 + [
        ("/messages/_mget", 200)
    ]
    assert throttle.figures.requests - before.requests == 4  # the three retries passed the throttle too
    assert throttle.figures.throttled_answers - before.throttled_answers == 3
    assert throttle.figures.slowdowns - before.slowdowns == 3
    assert throttle.rate == 50 * 0.5**3 + (50 - 1) / 7  # three halvings, then one step back for the success


def gaps(log: list[LoggedRequest]) -> list[float]:
    """Milliseconds between consecutive arrivals, for a failure's message."""
    return [round((b.arrived - a.arrived) * 1000, 1) for a, b in itertools.pairwise(log)]


def after(log: list[LoggedRequest], moment: float) -> list[LoggedRequest]:
    return [entry for entry in log if entry.arrived > moment]


# Elasticsearch only: the slowdown and the climb back are the engine-independent RequestThrottle's; that an
# OpenSearch 429 reaches it (counted, slowing the rate) is test_every_attempt_of_a_retried_request_passes_the_throttle
def test_a_burst_of_429_slows_the_requests_that_follow_and_loses_nothing(stack: Stack):
    from message_export import pipeline

    ids = seed(stack, 150)
    stack.write_config(
        **limits(6, 2, slowdown_factor=0.5, min_requests_per_second=1, recovery_requests=10),
        batch_size=50,
        fetch_chunk_size=10,
    )
    _window, batch_ids = prepare_window("2024-10-01")
    server = stack.services.es
    server.requests.clear()
    pipeline.process_batch(batch_ids[0], "burst")  # at full rate
    unhindered = most_in_window(server.requests.entries(), 1.0)
    assert unhindered >= 5  # the batch asks for more than the limit: the limit holds it at (about) 6 a second

    server.faults.add_error("_mget", status=429, count=3)  # three answers of 429 in a row
    for batch_id in batch_ids[1:]:
        pipeline.process_batch(batch_id, "burst")
    log = server.requests.entries()
    throttled = [entry for entry in log if entry.status == 429]
    assert len(throttled) == 3
    following = after(log, throttled[-1].arrived)
    # plenty of requests wanted to go out after the burst (two batches of 5 chunks of 4 requests: all but the
    # first chunk's three related searches, which went out alongside its first _mget) ...
    assert len(following) >= 37
    # ... but at 6 -> 3 -> 1.5 -> 1 a second: the two seconds after the last 429 see a few, not 12
    two_seconds = [entry for entry in following if entry.arrived < throttled[-1].arrived + 2.0]
    assert 1 <= len(two_seconds) <= 4, [round(e.arrived - throttled[-1].arrived, 3) for e in following[:10]]
    assert most_in_window(log, 1.0) <= 6, gaps(log)
    # ... and the rate climbs back as requests succeed: the limit is reached again before the run ends
    assert most_in_window(following[12:], 1.0) >= 5
    stack.assert_invariants(ids, check_bodies=20)
    figures = stack.archive_figures(ids)
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["extra_attempts"] == 0
