from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from message_export.dashboard.calendar import PageError, day_page, last_due_day


def test_pages_cover_the_calendar_newest_first_without_overlap() -> None:
    first, last = date(2024, 1, 1), date(2024, 12, 31)
    pages = [day_page(first, last, page, 31) for page in range(1, 13)]
    days = [day for page in pages for day in page.days()]
    assert pages[0].pages == 12 and pages[0].total_days == 366
    assert days[0] == last and days[-1] == first and len(days) == len(set(days)) == 366
    assert days == sorted(days, reverse=True)


def test_bad_pages_name_the_value() -> None:
    with pytest.raises(PageError, match="page 0"):
        day_page(date(2024, 1, 1), date(2024, 1, 5), 0, 10)
    with pytest.raises(PageError, match="per_page 400"):
        day_page(date(2024, 1, 1), date(2024, 1, 5), 1, 400)
    with pytest.raises(PageError, match=r"past the last page \(1\)"):
        day_page(date(2024, 1, 1), date(2024, 1, 5), 2, 10)


def test_nothing_due_yet_is_one_empty_page() -> None:
    page = day_page(date(2024, 1, 10), date(2024, 1, 9), 1, 31)
    assert page.total_days == 0 and page.days() == []


def test_last_due_day_is_yesterday_utc() -> None:
    assert last_due_day(datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC)) == date(2024, 2, 29)
