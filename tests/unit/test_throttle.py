"""The throttle's arithmetic (pure, no clock) and its waiting (with a fake clock; real threads for the slots)."""

from __future__ import annotations

import itertools
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


def test_requests_are_spaced_by_the_rate_plus_the_guard():
    rate = AdaptiveRate(limit=10, floor=1, slowdown=0.5, recovery_requests=10)
    assert rate.spacing == pytest.approx((1 + PACING_GUARD) / 10)
    assert rate.send_time(now=5.0, last_sent=None) == 5.0
    assert rate.send_time(now=5.0, last_sent=4.99) == pytest.approx(4.99 + rate.spacing)
    assert rate.send_time(now=5.0, last_sent=1.0) == 5.0  # idle for a while: no catching up in a burst
    rate.throttled(rate.sent())
    assert rate.spacing == pytest.approx((1 + PACING_GUARD) / 5)


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


def test_the_throttle_waits_each_request_out_and_never_exceeds_the_rate():
    clock = FakeClock()
    gate = throttle(clock)
    sent = []
    for _ in range(12):
        number = gate.acquire()
        sent.append(clock.now)
        gate.release(number, 200)
    assert [b - a for a, b in itertools.pairwise(sent)] == pytest.approx([(1 + PACING_GUARD) / 4] * 11)
    assert max(sum(1 for t in sent if start <= t < start + 1) for start in sent) == 4
    assert gate.figures.requests == 12 and gate.figures.waited_seconds == pytest.approx(11 * (1 + PACING_GUARD) / 4)


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
    assert clock.now - before == pytest.approx((1 + PACING_GUARD) / 2)  # spaced at the lowered rate
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
