"""The throttle's arithmetic (pure, no clock) and its waiting (with a fake clock; real threads for the slots)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from message_export.throttle import (
    PACING_GUARD,
    AdaptiveRate,
    RequestThrottle,
    ThrottleLimits,
    shared_throttle,
)


def test_a_429_multiplies_the_rate_down_to_the_floor():
    rate = AdaptiveRate(limit=20, floor=3, slowdown=0.5, recovery_requests=10)
    assert rate.throttled(rate.sent()) and rate.rate == 10
    assert rate.throttled(rate.sent()) and rate.rate == 5
    assert rate.throttled(rate.sent()) and rate.rate == 3  # not 2.5: the floor
    assert not rate.throttled(rate.sent()) and rate.rate == 3


def test_answers_to_requests_sent_before_a_slowdown_do_not_move_the_rate():
    rate = AdaptiveRate(limit=20, floor=1, slowdown=0.5, recovery_requests=10)
    in_flight = [rate.sent() for _ in range(5)]  # sent together at the old rate
    assert rate.throttled(in_flight[0]) and rate.rate == 10
    assert not any(rate.throttled(n) for n in in_flight[1:])  # the same burst: lowered once, not five times
    assert not any(rate.succeeded(n) for n in in_flight) and rate.rate == 10
    assert rate.throttled(rate.sent()) and rate.rate == 5  # sent after the slowdown: it counts


def test_successes_climb_back_to_the_limit_a_step_at_a_time():
    rate = AdaptiveRate(limit=20, floor=2, slowdown=0.1, recovery_requests=9)
    rate.throttled(rate.sent())
    assert rate.rate == 2
    seen = []
    for _ in range(8):
        assert not rate.succeeded(rate.sent())
        seen.append(rate.rate)
    assert seen == pytest.approx([4, 6, 8, 10, 12, 14, 16, 18])  # (limit - floor) / recovery_requests a step
    assert rate.succeeded(rate.sent()) and rate.rate == 20  # True: back at the limit
    assert not rate.succeeded(rate.sent()) and rate.rate == 20  # never above


def test_requests_leave_in_bursts_of_the_rate_then_wait_for_the_window():
    rate = AdaptiveRate(limit=10, floor=1, slowdown=0.5, recovery_requests=10)
    assert rate.burst == 10 and rate.window == pytest.approx(1 + PACING_GUARD)
    assert rate.send_time(now=5.0, recent_sends=[]) == 5.0
    assert rate.send_time(now=5.0, recent_sends=[4.99] * 9) == 5.0  # room for a tenth at once
    assert rate.send_time(now=5.0, recent_sends=[4.5] + [4.99] * 9) == pytest.approx(4.5 + 1 + PACING_GUARD)
    assert rate.send_time(now=5.0, recent_sends=[1.0] * 10) == 5.0  # the window has passed
    rate.throttled(rate.sent())
    assert rate.burst == 5  # the window counts the latest 5 now
    assert rate.send_time(now=5.0, recent_sends=[4.0] + [4.9] * 5) == pytest.approx(4.9 + 1 + PACING_GUARD)


def test_below_one_request_a_second_they_are_spaced_evenly():
    rate = AdaptiveRate(limit=0.5, floor=0.5, slowdown=0.5, recovery_requests=1)
    assert rate.burst == 1 and rate.window == pytest.approx((1 + PACING_GUARD) / 0.5)
    assert rate.send_time(now=5.0, recent_sends=[4.0]) == pytest.approx(4.0 + (1 + PACING_GUARD) / 0.5)


@pytest.mark.parametrize(
    "settings",
    [
        {"limit": 0, "floor": 1, "slowdown": 0.5, "recovery_requests": 1},
        {"limit": 5, "floor": 1, "slowdown": 1.0, "recovery_requests": 1},
        {"limit": 5, "floor": 1, "slowdown": 0.5, "recovery_requests": 0},
    ],
)
def test_nonsense_settings_are_refused(settings):
    with pytest.raises(ValueError, match="invalid rate settings"):
        AdaptiveRate(**settings)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def throttle(clock: FakeClock, **limits) -> RequestThrottle:
    settings = {"max_requests_per_second": 4.0, "max_concurrent_requests": None, **limits}
    return RequestThrottle(ThrottleLimits(**settings), "test cluster", clock=clock, sleep=clock.sleep)


def test_the_throttle_lets_a_burst_through_then_waits_for_the_window():
    clock = FakeClock()
    gate = throttle(clock)
    sent = []
    for _ in range(12):
        number = gate.acquire()
        sent.append(clock.now)
        gate.release(number, 200)
    window = 1 + PACING_GUARD
    assert sent == pytest.approx([100.0] * 4 + [100.0 + window] * 4 + [100.0 + 2 * window] * 4)
    assert max(sum(1 for t in sent if start <= t < start + 1) for start in sent) == 4
    assert gate.figures.requests == 12 and gate.figures.waited_seconds == pytest.approx(2 * window)


@pytest.mark.parametrize("limit", [1.0, 2.5, 4.0, 6.0, 20.0, 7.9])
def test_no_second_ever_holds_more_requests_than_the_rate(limit):
    """Requests asked for as fast as possible, with the rate falling and climbing back meanwhile."""
    clock = FakeClock()
    gate = throttle(clock, max_requests_per_second=limit, min_requests_per_second=1, recovery_requests=4)
    sent: list[tuple[float, float]] = []  # (send time, the rate it left at)
    for request in range(300):
        number = gate.acquire()
        sent.append((clock.now, gate.rate or 0))
        gate.release(number, 429 if request % 60 == 30 else 200)
        clock.now += 0.001
    times = [t for t, _ in sent]
    for start, _ in sent:
        in_second = [rate for t, rate in sent if start <= t < start + 1]
        # never more than the rate the last of them left at, whole requests (never above the limit)
        assert len(in_second) <= max(1, int(in_second[-1])), (start, in_second)
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) == max(1, int(limit))


def test_a_429_slows_the_requests_that_follow_and_is_logged_once(caplog):
    clock = FakeClock()
    gate = throttle(clock, min_requests_per_second=0.5, recovery_requests=100)
    caplog.set_level(logging.INFO, logger="message_export.throttle")
    first = gate.acquire()
    second = gate.acquire()  # in flight with the first
    gate.release(first, 429)
    gate.release(second, 429)
    assert gate.rate == 2.0 and gate.figures.slowdowns == 1 and gate.figures.throttled_answers == 2
    before = clock.now
    gate.release(gate.acquire(), 200)
    # two went out in this second already: at 4 a second a third would go at once, at 2 it waits the window
    assert clock.now - before == pytest.approx(1 + PACING_GUARD)
    slowdowns = [r for r in caplog.records if "429" in r.getMessage()]
    assert len(slowdowns) == 1 and "slowing this worker process to 2" in slowdowns[0].getMessage()


def test_recovery_is_logged_once_when_the_limit_is_reached(caplog):
    clock = FakeClock()
    gate = throttle(clock, min_requests_per_second=1, recovery_requests=3)
    caplog.set_level(logging.INFO, logger="message_export.throttle")
    gate.release(gate.acquire(), 429)
    for _ in range(5):
        gate.release(gate.acquire(), 200)
    assert gate.rate == 4.0
    assert sum("keeps up again" in r.getMessage() for r in caplog.records) == 1


def test_failures_without_an_answer_neither_slow_nor_recover():
    clock = FakeClock()
    gate = throttle(clock)
    gate.release(gate.acquire(), 429)
    gate.release(gate.acquire(), None)  # connection lost
    gate.release(gate.acquire(), 503)
    assert gate.rate == 2.0


def test_concurrent_requests_never_exceed_the_slots():
    gate = RequestThrottle(ThrottleLimits(None, 2), "test cluster")
    lock = threading.Lock()
    in_flight = most = 0

    def request() -> None:
        nonlocal in_flight, most
        number = gate.acquire()
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        gate.release(number, 200)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 2 and gate.figures.requests == 8


def test_one_throttle_per_process_cluster_and_limits():
    limits = ThrottleLimits(7.0, 3)
    assert shared_throttle("unit cluster", limits) is shared_throttle("unit cluster", ThrottleLimits(7.0, 3))
    assert shared_throttle("unit cluster", limits) is not shared_throttle("other cluster", limits)
    assert shared_throttle("unit cluster", ThrottleLimits(None, None)) is None
