from __future__ import annotations

import threading

import pytest

from message_export.write_behind import WriteBehind


def test_work_runs_in_submission_order_on_one_other_thread():
    done: list[tuple[int, str]] = []
    with WriteBehind(depth=3) as lane:
        for number in range(50):
            lane.submit(lambda n: done.append((n, threading.current_thread().name)), number)
    assert [n for n, _ in done] == list(range(50))
    names = {name for _, name in done}
    assert len(names) == 1 and threading.current_thread().name not in names


def test_submit_waits_while_depth_submissions_are_unfinished():
    release = threading.Event()
    submitted: list[int] = []

    def producer() -> None:
        with WriteBehind(depth=2) as lane:
            for number in range(4):
                lane.submit(release.wait)
                submitted.append(number)

    thread = threading.Thread(target=producer)
    thread.start()
    thread.join(timeout=0.3)
    # the first is running, the second waits behind it: the third submit blocks until the first ends
    assert submitted == [0, 1]
    release.set()
    thread.join(timeout=5)
    assert submitted == [0, 1, 2, 3] and not thread.is_alive()


def test_a_failure_skips_the_work_after_it_and_is_raised_by_the_next_submit():
    ran: list[int] = []

    def fail() -> None:
        raise OSError("ledger unreachable")

    with pytest.raises(OSError, match="ledger unreachable"), WriteBehind(depth=1) as lane:
        lane.submit(ran.append, 1)
        lane.submit(fail)
        lane.submit(ran.append, 2)  # raises: depth 1 waits for the failed one first
        lane.submit(ran.append, 3)
    assert ran == [1]


def test_leaving_the_block_waits_for_everything_and_raises_a_late_failure():
    finished = threading.Event()

    def slow_then_fail() -> None:
        finished.wait(0.2)
        raise ValueError("upload refused")

    ran: list[int] = []
    with pytest.raises(ValueError, match="upload refused"), WriteBehind(depth=4) as lane:
        lane.submit(slow_then_fail)
        lane.submit(ran.append, 1)  # skipped: submitted after the failure's work, which failed
    assert ran == []
    assert not [t for t in threading.enumerate() if t.name.startswith("write-behind") and t.is_alive()]


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth must be >= 1, not 0"):
        WriteBehind(depth=0)
