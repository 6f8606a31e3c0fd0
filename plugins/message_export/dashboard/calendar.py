"""Which days a page of the dashboard shows. Pure logic, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

ONE_DAY = timedelta(days=1)
MAX_DAYS_PER_PAGE = 366


class PageError(ValueError):
    """A page or page size outside what the dashboard serves."""


@dataclass(frozen=True)
class DayPage:
    """Days ``[first, end)`` of a calendar shown newest first, ``page`` of ``pages``."""

    page: int
    per_page: int
    pages: int
    total_days: int
    first: date
    end: date

    def days(self) -> list[date]:
        """The page's days, newest first."""
        count = (self.end - self.first).days
        return [self.end - ONE_DAY * (offset + 1) for offset in range(count)]


def last_due_day(now: datetime) -> date:
    """The newest day whose window has ended at ``now`` (UTC): yesterday."""
    return now.date() - ONE_DAY


def check_per_page(per_page: int, max_per_page: int) -> None:
    if not 1 <= per_page <= max_per_page:
        raise PageError(f"per_page {per_page} is not valid; use 1 to {max_per_page}")


def check_paging(page: int, per_page: int, max_per_page: int) -> None:
    if page < 1:
        raise PageError(f"page {page} is not valid; pages start at 1")
    check_per_page(per_page, max_per_page)


def day_page(first_day: date, last_day: date, page: int, per_page: int) -> DayPage:
    """Cut the calendar ``first_day..last_day`` (inclusive) into pages, newest first; return one page."""
    check_paging(page, per_page, MAX_DAYS_PER_PAGE)
    total = max((last_day - first_day).days + 1, 0)
    pages = max((total + per_page - 1) // per_page, 1)
    if page > pages:
        raise PageError(f"page {page} is past the last page ({pages}) of {total} days")
    end = last_day + ONE_DAY - ONE_DAY * ((page - 1) * per_page)
    first = max(first_day, end - ONE_DAY * per_page)
    if total == 0:
        first = end
    return DayPage(page=page, per_page=per_page, pages=pages, total_days=total, first=first, end=end)
