"""The working-day calendar (工作日): the one place that decides whether a date is a working day.

Legal and promised time limits (法定/承诺时限) are counted in working days: weekends and public holidays are
out, adjusted working weekends (调休) are in. ``chinese-calendar`` knows the official arrangement for the
years the State Council has published. The catalog's ``calendar.yaml`` (``Catalog.calendar``) is an overlay
on top of it: its ``holidays`` and ``workdays`` override single days, and its ``years`` vouch for years the
official data does not know (Monday–Friday, minus its holidays, plus its workdays). Declaring a year the
official data knows changes nothing but the days listed, so an operator entry never erases a 调休 working
Saturday. A date in a year that neither knows raises :class:`UnknownCalendarYear` — a time limit is never
computed from a guess.

Counting follows the usual rule for administrative periods: the day on which a period starts is not counted
(期间开始的当日不计入), so ``add_working_days(friday, 1)`` is the next Monday. Datetimes are turned into dates
in China Standard Time (UTC+8) before counting, because the legal calendar is a Chinese one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import chinese_calendar

from onething.catalog.model import CalendarOverrides

CHINA_TIME = timezone(timedelta(hours=8), "CST")


class UnknownCalendarYear(Exception):
    """A date falls in a year for which no official or operator calendar is known."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"no working-day calendar for {year}: chinese-calendar does not know it and the catalog's "
            f"calendar.yaml does not vouch for it (add `years: [{year}]` with its holidays and workdays)")


def china_date(moment: date | datetime) -> date:
    """The calendar date in China of a moment (aware datetimes are converted; dates pass through)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        return moment.astimezone(CHINA_TIME).date()
    return moment


# The official source: whether a day is a working day, or None for a year it does not know.
OfficialCalendar = Callable[[date], bool | None]


def chinese_calendar_official(day: date) -> bool | None:
    """The State Council's arrangement as chinese-calendar ships it; None for a year it does not know."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


class WorkdayCalendar:
    """The operator's overrides laid over the official calendar; immutable once built.

    ``official`` is injectable so that tests do not depend on which years the installed chinese-calendar knows.
    """

    def __init__(self, overrides: CalendarOverrides | None = None,
                 official: OfficialCalendar = chinese_calendar_official) -> None:
        overrides = overrides or CalendarOverrides()
        self._holidays = frozenset(overrides.holidays)
        self._workdays = frozenset(overrides.workdays)
        self._years = frozenset(overrides.years)
        self._official = official

    def is_workday(self, day: date | datetime) -> bool:
        """Whether ``day`` is a working day; raises UnknownCalendarYear outside every known year."""
        day = china_date(day)
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        official = self._official(day)
        if official is not None:
            return official
        if day.year in self._years:
            return day.weekday() < 5
        raise UnknownCalendarYear(day.year)

    def next_workday(self, day: date | datetime) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        current = china_date(day)
        while not self.is_workday(current):
            current += timedelta(days=1)
        return current

    def add_working_days(self, start: date | datetime, n: int) -> date:
        """The date on which a period of ``n`` working days starting at ``start`` ends.

        The start day is not counted; ``n == 0`` means "the same day" (the next working day if ``start`` is
        a day off), which is how on-the-spot procedures (当场办结) are due.
        """
        if n < 0:
            raise ValueError("n must be ≥ 0")
        current = china_date(start)
        if n == 0:
            return self.next_workday(current)
        remaining = n
        while remaining:
            current += timedelta(days=1)
            if self.is_workday(current):
                remaining -= 1
        return current

    def working_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Working days ``d`` with ``a < d <= b`` (0 when ``b <= a``): the inverse of add_working_days."""
        first, last = china_date(a), china_date(b)
        count = 0
        current = first
        while current < last:
            current += timedelta(days=1)
            if self.is_workday(current):
                count += 1
        return count


_DEFAULT = WorkdayCalendar()


def calendar_for(overrides: CalendarOverrides | None) -> WorkdayCalendar:
    """The calendar for a catalog's overrides (the plain chinese-calendar one when there are none)."""
    if overrides is None or overrides == CalendarOverrides():
        return _DEFAULT
    return WorkdayCalendar(overrides)


def is_workday(day: date | datetime, overrides: CalendarOverrides | None = None) -> bool:
    return calendar_for(overrides).is_workday(day)


def add_working_days(start: date | datetime, n: int, overrides: CalendarOverrides | None = None) -> date:
    """See :meth:`WorkdayCalendar.add_working_days`."""
    return calendar_for(overrides).add_working_days(start, n)


def working_days_between(a: date | datetime, b: date | datetime, overrides: CalendarOverrides | None = None) -> int:
    """See :meth:`WorkdayCalendar.working_days_between`."""
    return calendar_for(overrides).working_days_between(a, b)
