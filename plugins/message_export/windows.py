"""Export windows: which UTC day a run exports. Pure logic, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

ONE_DAY = timedelta(days=1)


class WindowError(ValueError):
    """A requested window is not a valid one-day UTC window."""


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC window ``[start, end)`` of exactly one day."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None or value.utcoffset() != timedelta(0):
                raise WindowError(f"window {name} {value!r} must be a UTC datetime")
        if self.start.time() != time(0) or self.end - self.start != ONE_DAY:
            raise WindowError(
                f"window [{self.start.isoformat()}, {self.end.isoformat()}) is not one UTC day "
                "from midnight to midnight"
            )

    @classmethod
    def for_day(cls, day: date) -> Window:
        """Return the window covering one UTC calendar day."""
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return cls(start, start + ONE_DAY)

    @property
    def day(self) -> date:
        return self.start.date()

    @property
    def next_run_date(self) -> datetime:
        """``end_date`` + 1 day: the ledger's convention for ``job_runs.next_run_date``."""
        return self.end + ONE_DAY

    def following(self) -> Window:
        return Window(self.end, self.end + ONE_DAY)

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%d %H:%M}, {self.end:%Y-%m-%d %H:%M}) UTC"


@dataclass(frozen=True)
class WindowDecision:
    """The window a run exports, or ``None`` with the reason nothing is due."""

    window: Window | None
    reason: str


def as_utc(value: datetime) -> datetime:
    """Return an aware UTC datetime; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_day(value: str | date | datetime, field: str) -> datetime:
    """Parse a UTC midnight from ``YYYY-MM-DD`` or an ISO timestamp at midnight."""
    if isinstance(value, datetime):
        parsed = as_utc(value)
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0), tzinfo=UTC)
    else:
        text = str(value).strip()
        try:
            parsed = as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise WindowError(f"param {field}={value!r} is not a date; use YYYY-MM-DD (UTC), e.g. 2024-10-01") from None
    if parsed.time() != time(0):
        raise WindowError(f"param {field}={value!r} is not a UTC midnight; windows are whole UTC days, use YYYY-MM-DD")
    return parsed


def requested_window(start_date: object, end_date: object) -> Window | None:
    """Return the window named by a manual run's params, or ``None`` when none is given."""
    if start_date in (None, "") and end_date in (None, ""):
        return None
    if start_date in (None, ""):
        raise WindowError(f"param end_date={end_date!r} given without start_date; give start_date too")
    start = parse_day(start_date, "start_date")  # type: ignore[arg-type]
    if end_date in (None, ""):
        return Window(start, start + ONE_DAY)
    end = parse_day(end_date, "end_date")  # type: ignore[arg-type]
    if end <= start:
        raise WindowError(
            f"param end_date={end_date!r} is not after start_date={start_date!r}; "
            "end_date is exclusive, e.g. start_date=2024-10-01 end_date=2024-10-02"
        )
    if end - start != ONE_DAY:
        raise WindowError(
            f"params start_date={start_date!r}, end_date={end_date!r} span {(end - start).days} days; "
            "a run exports exactly one day: trigger one run per day or use a backfill"
        )
    return Window(start, end)


def interval_window(interval_start: datetime, interval_end: datetime) -> Window:
    """Return the window a backfill run's data interval covers."""
    try:
        return Window(as_utc(interval_start), as_utc(interval_end))
    except WindowError as error:
        raise WindowError(
            f"data interval {interval_start.isoformat()} – {interval_end.isoformat()} is not one UTC "
            f"day ({error}); the DAG's timetable must give daily intervals"
        ) from None


def run_bound(
    *,
    run_type: str,
    data_interval_end: datetime | None,
    logical_date: datetime | None,
    now: datetime,
) -> datetime:
    """Return the latest instant a run may export up to.

    Scheduled and backfill runs are bounded by the end of their data interval (when the run
    becomes due); manual runs by their logical date, or by now when they have none. Never later
    than now: a window whose end lies in the future is never exported.
    """
    now = as_utc(now)
    if run_type in ("scheduled", "backfill") and data_interval_end is not None:
        bound = as_utc(data_interval_end)
    elif logical_date is not None:
        bound = as_utc(logical_date)
    else:
        bound = now
    return min(bound, now)


def choose_window(
    *,
    requested: Window | None,
    backfill_interval: Window | None,
    resumable: Window | None,
    chain_next_start: datetime,
    bound: datetime,
) -> WindowDecision:
    """Decide which window a run exports.

    :param requested: window named by manual-run params (wins over everything)
    :param backfill_interval: the data interval of a backfill run
    :param resumable: the earliest window whose extraction never completed
    :param chain_next_start: start of the first day after the contiguous chain of jobs
    :param bound: latest end a window may have (see :func:`run_bound`)
    """
    if requested is not None:
        return WindowDecision(requested, f"window {requested} requested by the run's params")
    if backfill_interval is not None:
        return WindowDecision(backfill_interval, f"backfill of window {backfill_interval}")
    if resumable is not None:
        return WindowDecision(resumable, f"resuming window {resumable}: its extraction never completed")
    candidate = Window(as_utc(chain_next_start), as_utc(chain_next_start) + ONE_DAY)
    if candidate.end <= bound:
        return WindowDecision(candidate, f"next window in the chain: {candidate}")
    return WindowDecision(
        None,
        f"nothing due: the next window {candidate} ends after this run's bound "
        f"{bound:%Y-%m-%d %H:%M} UTC; it will be exported by a later run",
    )


def days_behind(chain_next_start: datetime, now: datetime) -> int:
    """Return how many due days the chain has not reached yet.

    A day is due once it has ended; the chain is complete up to ``chain_next_start``. 0 means every
    ended day has a job; 1 is normal between midnight and the end of that night's run.
    """
    ended_by = datetime.combine(as_utc(now).date(), time(0), tzinfo=UTC)
    return max(0, (ended_by - as_utc(chain_next_start)).days)
