from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from message_export.windows import (
    Window,
    WindowError,
    choose_window,
    days_behind,
    interval_window,
    requested_window,
    run_bound,
)

UTC = UTC


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_window_is_one_utc_day_and_next_run_date_is_end_plus_one_day():
    window = Window.for_day(date(2024, 10, 1))
    assert (window.start, window.end) == (at("2024-10-01"), at("2024-10-02"))
    assert window.next_run_date == at("2024-10-03")
    assert window.following() == Window.for_day(date(2024, 10, 2))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (at("2024-10-01"), at("2024-10-03")),
        (at("2024-10-01", 5), at("2024-10-02", 5)),
        (datetime(2024, 10, 1), datetime(2024, 10, 2)),
    ],
)
def test_window_rejects_anything_but_one_midnight_aligned_utc_day(start, end):
    with pytest.raises(WindowError):
        Window(start, end)


def test_requested_window_from_params():
    assert requested_window(None, None) is None
    assert requested_window("", "") is None
    assert requested_window("2024-10-05", None) == Window.for_day(date(2024, 10, 5))
    assert requested_window("2024-10-05", "2024-10-06") == Window.for_day(date(2024, 10, 5))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2024-10-05", "2024-10-04", "is not after start_date"),
        ("2024-10-05", "2024-10-05", "is not after start_date"),
        ("2024-10-05", "2024-10-08", "span 3 days"),
        ("yesterday", None, "start_date='yesterday' is not a date"),
        ("2024-10-05T10:00:00", None, "not a UTC midnight"),
        (None, "2024-10-05", "without start_date"),
    ],
)
def test_requested_window_errors_name_the_param_and_value(start, end, message):
    with pytest.raises(WindowError, match=message):
        requested_window(start, end)


def test_interval_window_requires_daily_interval():
    assert interval_window(at("2024-10-01"), at("2024-10-02")) == Window.for_day(date(2024, 10, 1))
    with pytest.raises(WindowError, match="data interval"):
        interval_window(at("2024-10-01"), at("2024-10-01"))


def test_run_bound_by_run_type():
    now = at("2026-01-01")
    assert run_bound(
        run_type="scheduled", data_interval_end=at("2024-10-05"), logical_date=at("2024-10-04"), now=now
    ) == at("2024-10-05")
    assert run_bound(
        run_type="manual", data_interval_end=at("2024-10-05"), logical_date=at("2024-10-04", 7), now=now
    ) == at("2024-10-04", 7)
    assert run_bound(run_type="manual", data_interval_end=None, logical_date=None, now=now) == now
    # never later than now
    assert run_bound(run_type="scheduled", data_interval_end=at("2030-01-01"), logical_date=None, now=now) == now


def decide(**overrides):
    args = {
        "requested": None,
        "backfill_interval": None,
        "resumable": None,
        "chain_next_start": at("2024-10-01"),
        "bound": at("2024-10-03"),
    }
    args.update(overrides)
    return choose_window(**args)


def test_chain_starts_at_next_start_when_due():
    decision = decide()
    assert decision.window == Window.for_day(date(2024, 10, 1))


def test_nothing_due_when_window_ends_after_bound_and_reason_says_why():
    decision = decide(chain_next_start=at("2024-10-03"), bound=at("2024-10-03", 23))
    assert decision.window is None
    assert "nothing due" in decision.reason and "2024-10-03 23:00" in decision.reason


def test_window_ending_exactly_at_bound_is_due():
    assert decide(chain_next_start=at("2024-10-02"), bound=at("2024-10-03")).window == Window.for_day(date(2024, 10, 2))


def test_resumable_window_wins_over_chain():
    stuck = Window.for_day(date(2024, 9, 20))
    assert decide(resumable=stuck).window == stuck


def test_requested_and_backfill_precedence():
    requested = Window.for_day(date(2024, 9, 1))
    backfill = Window.for_day(date(2024, 9, 2))
    assert (
        decide(requested=requested, backfill_interval=backfill, resumable=Window.for_day(date(2024, 9, 3))).window
        == requested
    )
    assert decide(backfill_interval=backfill, resumable=Window.for_day(date(2024, 9, 3))).window == backfill


def test_bound_cap_uses_timedelta_days():
    assert Window.for_day(date(2024, 2, 28)).following().start == at("2024-02-29")
    assert Window.for_day(date(2024, 12, 31)).end - Window.for_day(date(2024, 12, 31)).start == timedelta(days=1)


@pytest.mark.parametrize(
    ("chain_next_start", "now", "behind"),
    [
        ("2024-10-04", at("2024-10-04", 9), 0),  # yesterday exported: nothing due is missing
        ("2024-10-03", at("2024-10-04", 0), 1),  # yesterday just ended, its run has not finished
        ("2024-10-03", at("2024-10-04", 23), 1),
        ("2024-10-02", at("2024-10-04", 1), 2),  # two ended days without a job: two days late
        ("2024-09-01", at("2024-10-04", 12), 33),
        ("2024-10-06", at("2024-10-04", 12), 0),  # configured start in the future: never negative
    ],
)
def test_days_behind_counts_ended_days_without_a_job(chain_next_start, now, behind):
    assert days_behind(at(chain_next_start), now) == behind


def test_days_behind_takes_naive_times_as_utc_and_converts_offsets():
    assert days_behind(datetime(2024, 10, 2), datetime(2024, 10, 4, 1)) == 2
    # 01:00 on the 4th in UTC+02:00 is still the 3rd in UTC: only one ended day is missing
    plus_two = timezone(timedelta(hours=2))
    assert days_behind(at("2024-10-02"), datetime(2024, 10, 4, 1, tzinfo=plus_two)) == 1
