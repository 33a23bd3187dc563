"""The working-day calendar: chinese-calendar years, 调休, operator overrides, unknown years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onething.catalog.model import CalendarOverrides
from onething.workdays import (
    UnknownCalendarYear,
    WorkdayCalendar,
    add_working_days,
    china_date,
    chinese_calendar_official,
    is_workday,
    working_days_between,
)


def official_2026_only(day: date) -> bool | None:
    """An official source that knows 2026 (as every chinese-calendar release since 2025 does) and nothing else,
    so that what is "unknown" does not depend on the installed release."""
    return chinese_calendar_official(day) if day.year == 2026 else None


def test_weekend_and_weekday() -> None:
    assert is_workday(date(2026, 3, 2))          # Monday
    assert not is_workday(date(2026, 3, 7))      # Saturday


def test_adjusted_working_weekend_counts() -> None:
    # 2026-10-10 is a Saturday worked in exchange for the National Day holiday (调休).
    assert is_workday(date(2026, 10, 10))
    assert add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)


def test_public_holiday_skipped() -> None:
    # The National Day week (2026-10-01..07) is off: one working day after 30 September is 8 October.
    assert not is_workday(date(2026, 10, 1))
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_start_day_not_counted_and_friday_plus_one_is_monday() -> None:
    assert add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)
    assert add_working_days(date(2026, 3, 2), 5) == date(2026, 3, 9)


def test_zero_days_is_same_or_next_working_day() -> None:
    assert add_working_days(date(2026, 3, 4), 0) == date(2026, 3, 4)
    assert add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 9)


def test_datetime_counted_in_china_time() -> None:
    # 2026-03-06 17:00 UTC is already Saturday 01:00 in China.
    moment = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    assert china_date(moment) == date(2026, 3, 7)
    assert add_working_days(moment, 1) == date(2026, 3, 9)
    assert add_working_days(datetime(2026, 3, 6, 8, 0, tzinfo=UTC), 1) == date(2026, 3, 9)


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_working_days(datetime(2026, 3, 6, 12, 0), 1)


def test_working_days_between() -> None:
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == 0
    assert working_days_between(date(2026, 3, 6), date(2026, 3, 9)) == 1


def test_unknown_year_is_an_error_not_a_guess() -> None:
    cal = WorkdayCalendar(official=official_2026_only)
    with pytest.raises(UnknownCalendarYear) as info:
        cal.add_working_days(date(2026, 12, 30), 5)
    assert info.value.year == 2027
    # The default (installed chinese-calendar, no operator years) knows nothing of 2100 by construction.
    with pytest.raises(UnknownCalendarYear) as info:
        is_workday(date(2100, 5, 6))
    assert info.value.year == 2100


def test_operator_years_extend_the_calendar() -> None:
    overrides = CalendarOverrides(years=(2027,), holidays=(date(2027, 1, 1),), workdays=(date(2027, 1, 9),))
    cal = WorkdayCalendar(overrides, official=official_2026_only)
    assert not cal.is_workday(date(2027, 1, 1))      # Friday, declared a holiday
    assert cal.is_workday(date(2027, 1, 9))          # Saturday, declared worked
    assert not cal.is_workday(date(2027, 1, 10))     # plain Sunday
    assert cal.is_workday(date(2027, 1, 11))         # plain Monday
    assert cal.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    with pytest.raises(UnknownCalendarYear):
        cal.is_workday(date(2028, 1, 3))


def test_declaring_an_official_year_keeps_its_adjusted_days() -> None:
    # An operator year is an overlay: declaring 2026 must not turn the 调休 Saturday into a day off, nor the
    # National Day week into working days.
    cal = WorkdayCalendar(CalendarOverrides(years=(2026,)), official=official_2026_only)
    assert cal.is_workday(date(2026, 10, 10))
    assert not cal.is_workday(date(2026, 10, 1))
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


def test_operator_extra_holiday_applies_on_top_of_the_official_year() -> None:
    overrides = CalendarOverrides(years=(2026,), holidays=(date(2026, 10, 10), date(2026, 3, 4)))
    cal = WorkdayCalendar(overrides, official=official_2026_only)
    assert not cal.is_workday(date(2026, 10, 10))    # the operator's word beats the official 调休
    assert not cal.is_workday(date(2026, 3, 4))      # a Wednesday made a holiday
    assert cal.is_workday(date(2026, 3, 5))          # the official data still decides the rest
    assert cal.add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 12)


def test_operator_overrides_known_years() -> None:
    overrides = CalendarOverrides(holidays=(date(2026, 3, 4),))
    assert not is_workday(date(2026, 3, 4), overrides)
    assert add_working_days(date(2026, 3, 3), 1, overrides) == date(2026, 3, 5)


@given(st.dates(min_value=date(2005, 1, 1), max_value=date(2026, 6, 30)), st.integers(min_value=1, max_value=60))
def test_between_inverts_add(start: date, n: int) -> None:
    end = add_working_days(start, n)
    assert working_days_between(start, end) == n
    assert is_workday(end)
    assert end > start
    assert end - start >= timedelta(days=n)
