"""The dashboard's trend points: ledger figures joined with Airflow's record of each day's last run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from message_export.dashboard.calendar import PageError
from message_export.dashboard.trends import RunTimes, trend_days, trend_points
from message_export.ledger.records import DayRecord, StatusCounts

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)


def _record(day: date, status: str, run_id: str | None, completed: int = 10, failed: int = 1) -> DayRecord:
    return DayRecord(
        job_id=1,
        day=day,
        status=status,
        counts=StatusCounts(completed=completed, failed=failed, pending=2 if status == "running" else 0),
        source_count=None,
        archived_objects=None,
        extraction_completed_at=None,
        dag_run_id=run_id,
        last_error=None,
        updated_at=NOW,
    )


def test_a_range_ends_yesterday_and_never_starts_before_the_configured_start() -> None:
    assert trend_days(date(2025, 1, 1), date(2026, 3, 9), 30) == (date(2026, 2, 8), date(2026, 3, 9))
    assert trend_days(date(2026, 3, 1), date(2026, 3, 9), 365) == (date(2026, 3, 1), date(2026, 3, 9))
    with pytest.raises(PageError, match="a trend of 400 days is not served; ask for 1 to 366"):
        trend_days(date(2025, 1, 1), date(2026, 3, 9), 400)


def test_points_join_the_ledger_with_each_days_last_run() -> None:
    first = date(2026, 3, 6)
    records = [
        _record(first, "completed", "run-a"),
        _record(first + timedelta(days=1), "failed", "run-b", completed=7, failed=4),
        _record(first + timedelta(days=3), "running", "run-d"),
    ]
    runs = {
        # finished 1.5 days after the day ended, after running for an hour
        "run-a": RunTimes(datetime(2026, 3, 8, 11, 0, tzinfo=UTC), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        "run-b": RunTimes(datetime(2026, 3, 8, 0, 30, tzinfo=UTC), datetime(2026, 3, 8, 0, 45, tzinfo=UTC)),
        "run-d": RunTimes(datetime(2026, 3, 10, 5, 0, tzinfo=UTC), None),
    }
    points = trend_points(first, date(2026, 3, 9), records, runs, NOW)
    assert [p["day"] for p in points] == ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09"]
    a, b, missing, running = points
    assert (a["archived"], a["failed"], a["duration_seconds"], a["days_behind"], a["finished"]) == (
        10,
        1,
        3600.0,
        1.5,
        True,
    )
    assert (b["status"], b["archived"], b["failed"], b["duration_seconds"]) == ("failed", 7, 4, 900.0)
    assert b["days_behind"] == round(45 / 1440, 2) and b["finished"] is True
    # never exported: no figures, waiting since its window ended (2026-03-09 00:00) until now
    assert missing["status"] == "not_exported" and missing["archived"] is None and missing["duration_seconds"] is None
    assert missing["days_behind"] == 1.25 and missing["finished"] is False
    # running: duration and waiting so far
    assert running["status"] == "running" and running["duration_seconds"] == 3600.0
    assert running["days_behind"] == 0.25 and running["finished"] is False


def test_a_run_airflow_no_longer_knows_leaves_the_duration_unknown() -> None:
    day = date(2026, 3, 9)
    (point,) = trend_points(day, day, [_record(day, "completed", "cleaned-up")], {}, NOW)
    assert point["archived"] == 10 and point["duration_seconds"] is None
    assert point["finished"] is True and point["days_behind"] is None  # finished, but when is unknown
