"""The dashboard's trends: one point per day of a chosen range. Pure logic, no I/O.

A point joins the day's ledger figures (archived and failed messages, as recorded when the day
completed or counted live while it runs) with Airflow's record of the run that last worked on the
day: how long that run took, and how long after the day ended its export finished ("days behind").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from message_export.dashboard.calendar import ONE_DAY, PageError
from message_export.ledger.records import DayRecord

TREND_RANGES = (30, 90, 365)
MAX_TREND_DAYS = 366
SECONDS_PER_DAY = 86_400.0
SETTLED = ("completed", "failed")


@dataclass(frozen=True)
class RunTimes:
    """When an Airflow run started and ended (``None`` while it has not)."""

    start: datetime | None
    end: datetime | None


def check_range(days: int) -> None:
    if not 1 <= days <= MAX_TREND_DAYS:
        raise PageError(
            f"a trend of {days} days is not served; ask for 1 to {MAX_TREND_DAYS} days (the page offers 30, 90, 365)"
        )


def trend_days(configured_start: date, last_day: date, days: int) -> tuple[date, date]:
    """The range ``[first, last]`` of a trend of ``days`` days ending ``last_day``, never before the
    configured start date (earlier days are not due)."""
    check_range(days)
    return max(configured_start, last_day - ONE_DAY * (days - 1)), last_day


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def _day_end(day: date) -> datetime:
    return datetime.combine(day + ONE_DAY, time.min, tzinfo=UTC)


def trend_points(
    first_day: date,
    last_day: date,
    records: Iterable[DayRecord],
    run_times: Mapping[str, RunTimes],
    now: datetime,
) -> list[dict[str, object]]:
    """One point per day ``first_day..last_day``, oldest first.

    ``duration_seconds`` is the last run's duration (so far, while it runs). ``days_behind`` is how long
    after the day's window ended its export finished (``finished``: the day completed or failed), or,
    for a day still running or never exported, how long it has waited so far; for a finished day whose
    run Airflow no longer knows (its records cleaned up) both are unknown (``None``).
    """
    by_day = {record.day: record for record in records}
    points: list[dict[str, object]] = []
    day = first_day
    while day <= last_day:
        record = by_day.get(day)
        run = run_times.get(record.dag_run_id) if record is not None and record.dag_run_id else None
        finished = record is not None and record.status in SETTLED
        settled_at = (run.end if run is not None else None) if finished else now
        behind = None if settled_at is None else max((settled_at - _day_end(day)).total_seconds(), 0.0)
        points.append(
            {
                "day": day.isoformat(),
                "status": "not_exported" if record is None else record.status,
                "archived": None if record is None else record.counts.completed,
                "failed": None if record is None else record.counts.failed,
                "total": None if record is None else record.counts.total,
                "dag_run_id": None if record is None else record.dag_run_id,
                "duration_seconds": None if run is None else _seconds(run.start, run.end or now),
                "days_behind": None if behind is None else round(behind / SECONDS_PER_DAY, 2),
                "finished": finished,
            }
        )
        day += ONE_DAY
    return points
