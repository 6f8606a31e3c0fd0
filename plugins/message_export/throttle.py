"""A bound on the load one worker process puts on the search cluster.

Two limits, both per worker process: a request rate and a number of requests in flight. The rate
adapts: when the cluster answers 429 (too many requests) it is multiplied down, and it climbs back
to the configured limit a step per successful request (additive increase, multiplicative decrease).
Every HTTP attempt passes through :class:`RequestThrottle`, retries included.

:class:`AdaptiveRate` is the pure arithmetic; :class:`RequestThrottle` makes threads wait for it.
A small class of our own rather than a token-bucket library: the rate changes while requests wait,
and the libraries at hand (``limits``, ``pyrate-limiter``) hold a fixed, whole-number rate per window
whose history is keyed by that rate, so every change of rate would start a new, empty window.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

# The window the rate is counted over is 10% longer than a second: the cluster sees the requests after
# the client's serialising and signing, the network and its own queues have jittered them (tens of
# milliseconds on a busy worker), and must still never see more than the limit in any one second.
PACING_GUARD = 0.10


@dataclass(frozen=True)
class ThrottleLimits:
    """The configured limits; ``None`` switches a limit off."""

    max_requests_per_second: float | None
    max_concurrent_requests: int | None
    slowdown_factor: float = 0.5
    min_requests_per_second: float = 1.0
    recovery_requests: int = 50

    @property
    def enabled(self) -> bool:
        return self.max_requests_per_second is not None or self.max_concurrent_requests is not None


class AdaptiveRate:
    """The allowed request rate: lowered on 429, recovered on success (pure, no clock of its own).

    Requests are numbered as they are sent. An answer to a request sent before the latest slow-down
    does not move the rate: it reports on the old rate, already corrected (a burst of 429s to
    requests in flight together lowers the rate once, not once per request).
    """

    def __init__(self, limit: float, floor: float, slowdown: float, recovery_requests: int) -> None:
        if limit <= 0 or floor <= 0 or not 0 < slowdown < 1 or recovery_requests < 1:
            raise ValueError(
                f"invalid rate settings: limit={limit}, floor={floor}, slowdown={slowdown}, "
                f"recovery_requests={recovery_requests}"
            )
        self.limit = limit
        self.floor = min(floor, limit)
        self.slowdown = slowdown
        self.rate = limit
        self._step = (self.limit - self.floor) / recovery_requests
        self._sent = 0
        self._slowed_after = 0

    @property
    def burst(self) -> int:
        """How many requests may leave together at the current rate: its whole part (at least one)."""
        return max(1, math.floor(self.rate))

    @property
    def window(self) -> float:
        """Seconds that any ``burst + 1`` consecutive requests span: a second and the guard (longer below one a second).

        Never shorter: at a rate of 2.5, bursts of 2 a second could otherwise put 4 into one second.
        """
        return (1.0 + PACING_GUARD) / min(1.0, self.rate)

    def send_time(self, now: float, recent_sends: Sequence[float]) -> float:
        """When the next request may leave, given the send times of the latest requests (oldest first).

        A sliding window, not an even spacing: up to ``burst`` requests leave at once, and the next one
        waits until the ``burst``-th latest has left the window. No second ever holds more than the rate
        (any ``burst + 1`` consecutive requests span more than a second), yet a task that needs a few requests
        together (a chunk's ``_mget`` and its related searches) does not wait 1/rate between each.
        """
        if len(recent_sends) < self.burst:
            return now
        return max(now, recent_sends[-self.burst] + self.window)

    def sent(self) -> int:
        """Number the request leaving now; its answer is reported with this number."""
        self._sent += 1
        return self._sent

    def throttled(self, number: int) -> bool:
        """The cluster answered request ``number`` with 429; return whether the rate went down."""
        if number <= self._slowed_after or self.rate <= self.floor:
            return False
        self.rate = max(self.floor, self.rate * self.slowdown)
        self._slowed_after = self._sent
        return True

    def succeeded(self, number: int) -> bool:
        """Request ``number`` was served; return whether this brought the rate back to the limit."""
        if number <= self._slowed_after or self.rate >= self.limit:
            return False
        self.rate = min(self.limit, self.rate + self._step)
        return self.rate >= self.limit


@dataclass
class ThrottleFigures:
    """What the throttle did so far in this process."""

    requests: int = 0
    throttled_answers: int = 0
    slowdowns: int = 0
    waited_seconds: float = 0.0


class RequestThrottle:
    """Makes each request wait for a free slot and for room in the current rate's window; thread-safe.

    Usage: ``number = throttle.acquire()`` before the request, then ``throttle.release(number,
    status)`` with the HTTP status answered (``None`` when no answer came back).
    """

    def __init__(
        self,
        limits: ThrottleLimits,
        name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self.name = name
        self.figures = ThrottleFigures()
        self._clock = clock
        self._sleep = sleep
        concurrent = limits.max_concurrent_requests
        self._slots = threading.BoundedSemaphore(concurrent) if concurrent else None
        rate = limits.max_requests_per_second
        self._rate = (
            AdaptiveRate(rate, limits.min_requests_per_second, limits.slowdown_factor, limits.recovery_requests)
            if rate
            else None
        )
        self._turn = threading.Lock()  # one request at a time takes its turn: the window counts sends
        self._state = threading.Lock()
        # the latest sends, as many as the limit's burst (the rate never rises above the limit)
        self._recent_sends: deque[float] = deque(maxlen=self._rate.burst if self._rate else 1)
        self._pacing_reported = False

    @property
    def rate(self) -> float | None:
        """The request rate allowed now (``None``: no rate limit)."""
        return self._rate.rate if self._rate else None

    def acquire(self) -> int:
        """Wait for a slot and for this request's turn; return its number."""
        if self._slots is not None:
            self._slots.acquire()
        try:
            return self._take_turn()
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    def _take_turn(self) -> int:
        if self._rate is None:
            with self._state:
                self.figures.requests += 1
            return 0
        waited = 0.0
        with self._turn:
            while True:  # the rate may fall while this request waits: look again after every sleep
                with self._state:
                    now = self._clock()
                    delay = self._rate.send_time(now, self._recent_sends) - now
                if delay <= 0:
                    break
                self._report_pacing()
                self._sleep(delay)
                waited += delay
            with self._state:
                self._recent_sends.append(self._clock())
                self.figures.requests += 1
                self.figures.waited_seconds += waited
                return self._rate.sent()

    def _report_pacing(self) -> None:
        if self._pacing_reported:
            return
        self._pacing_reported = True
        log.info(
            "search requests to %s are being paced: at most %.3g per second from this worker process "
            "(elasticsearch.max_requests_per_second)",
            self.name,
            self.rate,
        )

    def release(self, number: int, status: int | None) -> None:
        """Report the answer to request ``number`` and free its slot."""
        try:
            if self._rate is not None:
                self._record(number, status)
        finally:
            if self._slots is not None:
                self._slots.release()

    def _record(self, number: int, status: int | None) -> None:
        assert self._rate is not None
        with self._state:
            if status == 429:
                self.figures.throttled_answers += 1
                if not self._rate.throttled(number):
                    return
                self.figures.slowdowns += 1
                rate, answers = self._rate.rate, self.figures.throttled_answers
                slowed = True
            elif status is not None and status < 500:
                if not self._rate.succeeded(number):
                    return
                rate, answers = self._rate.rate, self.figures.throttled_answers
                slowed = False
            else:
                return
        if slowed:
            log.warning(
                "%s answered 429 Too Many Requests: slowing this worker process to %.3g search requests per "
                "second (limit %.3g, floor %.3g); the rate climbs back as requests succeed",
                self.name,
                rate,
                self.limits.max_requests_per_second,
                self.limits.min_requests_per_second,
            )
        else:
            log.info(
                "%s keeps up again: back to %.3g search requests per second (%d answers of 429 so far)",
                self.name,
                rate,
                answers,
            )


_SHARED: dict[tuple[str, ThrottleLimits], RequestThrottle] = {}
_SHARED_LOCK = threading.Lock()


def shared_throttle(name: str, limits: ThrottleLimits) -> RequestThrottle | None:
    """The throttle of this worker process for the cluster called ``name`` (``None`` when both limits are off).

    Every hook built in the process for the same cluster and limits shares one throttle, so the
    limits hold per process however many hooks a task builds.
    """
    if not limits.enabled:
        return None
    with _SHARED_LOCK:
        throttle = _SHARED.get((name, limits))
        if throttle is None:
            throttle = _SHARED[(name, limits)] = RequestThrottle(limits, name)
        return throttle
