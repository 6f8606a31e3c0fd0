"""retry_failed's loop, with in-memory services: what it claims, when it waits, when it stops."""

from __future__ import annotations

from message_export import pipeline
from tests.unit.pipeline.services_fake import DAY, FakeLedger, fake_services, packaged_config

WINDOW = {"job_id": 7, "start_date": DAY.start.isoformat(), "end_date": DAY.end.isoformat(), "reprocess": False}


def test_nothing_due_and_nothing_failed_ends_at_once():
    services, ledger, _, _ = fake_services()
    assert pipeline.retry_failed(WINDOW, "run", config=packaged_config(), services=services) == {
        "attempted": 0,
        "recovered": 0,
        "failed": 0,
    }
    assert [name for name, _ in ledger.calls] == ["track_staged_ids", "claim_retryable", "refresh_batches"]


def test_a_retry_due_within_the_budget_is_waited_for_and_one_beyond_it_is_left():
    services, ledger, _, _ = fake_services(FakeLedger(retry_waits=[0.01, 10_000.0]))
    pipeline.retry_failed(WINDOW, "run", config=packaged_config(), services=services)
    # claimed once, waited 0.01 s, claimed again, then stopped: the next wait exceeds the budget
    assert [name for name, _ in ledger.calls].count("claim_retryable") == 2


def test_staged_ids_no_batch_claimed_are_tracked_before_retrying():
    services, ledger, _, _ = fake_services(FakeLedger(staged=12))
    pipeline.retry_failed(WINDOW, "run", config=packaged_config(), services=services)
    assert ledger.calls[0] == ("track_staged_ids", 7) and ledger.staged == 0
