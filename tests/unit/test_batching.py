from __future__ import annotations

import pytest

from message_export.batching import BatchPlan, chunked, plan_batches


def test_plan_uses_configured_size_when_under_cap():
    assert plan_batches(1234, 500, 200) == BatchPlan(total=1234, batch_size=500, batch_count=3)


def test_batch_size_grows_so_mapped_tasks_stay_capped():
    plan = plan_batches(1_000_000, 500, 200)
    assert plan.batch_count <= 200
    assert plan.batch_size == 5000
    assert plan.batch_count * plan.batch_size >= 1_000_000


def test_empty_window_has_no_batches():
    assert plan_batches(0, 500, 200).batch_count == 0


def test_every_position_maps_into_a_planned_batch_and_sizes_are_bounded():
    plan = plan_batches(10_001, 500, 7)
    counts: dict[int, int] = {}
    for position in range(10_001):
        number = plan.batch_number(position)
        counts[number] = counts.get(number, 0) + 1
    assert sorted(counts) == list(range(plan.batch_count))
    assert max(counts.values()) <= plan.batch_size


def test_late_arrivals_beyond_the_plan_join_the_last_batch():
    plan = plan_batches(1000, 500, 200)
    assert plan.batch_number(1000) == 1
    assert plan.batch_number(5000) == 1


@pytest.mark.parametrize(("total", "size", "cap"), [(-1, 500, 10), (10, 0, 10), (10, 500, 0)])
def test_invalid_plans_are_rejected(total, size, cap):
    with pytest.raises(ValueError):
        plan_batches(total, size, cap)


def test_chunked():
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunked([], 3) == []
