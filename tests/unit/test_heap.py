from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from message_export.heap import freeze_startup_objects, settle


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> Node:
    """Two objects that only the cyclic garbage collector can free."""
    first, second = Node(), Node()
    first.other, second.other = second, first
    return first


@pytest.fixture
def nothing_frozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_step_runs_with_the_objects_it_started_with_frozen_and_returns_them(nothing_frozen: None) -> None:
    before = Node()
    seen: dict[str, int] = {}

    @freeze_startup_objects
    def step() -> str:
        seen["frozen"] = gc.get_freeze_count()
        seen["before_tracked_in_a_generation"] = any(before is obj for obj in gc.get_objects())
        return "done"

    assert step() == "done"
    assert seen["frozen"] > 0
    assert not seen["before_tracked_in_a_generation"], "an object older than the step stayed in the collected heap"
    assert gc.get_freeze_count() == 0
    assert any(before is obj for obj in gc.get_objects())


def test_garbage_the_step_makes_is_still_collected(nothing_frozen: None) -> None:
    collected: dict[str, int] = {}

    @freeze_startup_objects
    def step() -> None:
        gc.collect()
        cycle()  # unreachable at once: only the collector can free it
        collected["objects"] = gc.collect()

    step()
    assert collected["objects"] >= 2


def test_the_heap_is_returned_when_the_step_fails(nothing_frozen: None) -> None:
    @freeze_startup_objects
    def step() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        step()
    assert gc.get_freeze_count() == 0


def test_settle_freezes_what_the_step_built_until_the_step_ends(nothing_frozen: None) -> None:
    counts: dict[str, int] = {}

    @freeze_startup_objects
    def step() -> None:
        client = [Node() for _ in range(100)]  # what a step keeps for its whole length
        counts["start"] = gc.get_freeze_count()
        settle()
        counts["settled"] = gc.get_freeze_count()
        assert not any(client is obj for obj in gc.get_objects())

    step()
    assert counts["settled"] >= counts["start"] + 100
    assert gc.get_freeze_count() == 0


def test_settle_outside_a_step_freezes_nothing(nothing_frozen: None) -> None:
    settle()
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_before_the_step_stays_frozen(nothing_frozen: None) -> None:
    gc.freeze()  # as a parent process does before forking its workers
    frozen = gc.get_freeze_count()

    @freeze_startup_objects
    def step() -> None:
        pass

    step()
    assert gc.get_freeze_count() >= frozen > 0


def test_nested_steps_return_the_heap_once_the_outer_one_ends(nothing_frozen: None) -> None:
    counts: dict[str, int] = {}

    @freeze_startup_objects
    def inner() -> None:
        pass

    @freeze_startup_objects
    def outer() -> None:
        inner()
        counts["after_inner"] = gc.get_freeze_count()

    outer()
    assert counts["after_inner"] > 0
    assert gc.get_freeze_count() == 0
