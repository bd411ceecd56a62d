"""R1: reporting periods close on the 28th (Asia/Shanghai); a setting switches to calendar months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.reporting import periods
from shared.settings import Settings


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A business-time moment given in Asia/Shanghai (UTC+8), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_r1_period_closes_on_the_28th_at_midnight_business_time() -> None:
    assert periods.period_of(shanghai(2026, 11, 28, 23, 59)) == "2026-11"
    assert periods.period_of(shanghai(2026, 11, 29, 0, 0)) == "2026-12"
    assert periods.period_of(shanghai(2026, 10, 29, 0, 0)) == "2026-11"
    # 28 Nov 23:30 in Shanghai is still 28 Nov 15:30 UTC, but 29 Nov 00:30 Shanghai is 28 Nov 16:30 UTC.
    assert periods.period_of(datetime(2026, 11, 28, 16, 30, tzinfo=UTC)) == "2026-12"


def test_r1_december_29th_opens_next_years_january() -> None:
    assert periods.period_of(shanghai(2026, 12, 29, 9)) == "2027-01"
    assert periods.period_of(shanghai(2026, 12, 31, 23)) == "2027-01"
    assert periods.bounds("2027-01") == (shanghai(2026, 12, 29), shanghai(2027, 1, 29))


def test_r1_february_and_leap_years() -> None:
    # 2027 has no 29 Feb: March opens on 1 March; in 2028 it opens on 29 Feb.
    assert periods.bounds("2027-03") == (shanghai(2027, 3, 1), shanghai(2027, 3, 29))
    assert periods.bounds("2028-03") == (shanghai(2028, 2, 29), shanghai(2028, 3, 29))
    assert periods.period_of(shanghai(2028, 2, 29, 12)) == "2028-03"
    assert periods.bounds("2027-02") == (shanghai(2027, 1, 29), shanghai(2027, 3, 1))


def test_r1_calendar_mode_uses_whole_months() -> None:
    assert periods.period_of(shanghai(2026, 11, 29, 10), "calendar") == "2026-11"
    assert periods.period_of(shanghai(2026, 12, 1, 0), "calendar") == "2026-12"
    assert periods.bounds("2026-11", "calendar") == (shanghai(2026, 11, 1), shanghai(2026, 12, 1))


def test_r1_period_mode_is_a_setting_defaulting_to_the_28th() -> None:
    assert Settings().period_mode == "close_28th"
    assert Settings(period_mode="calendar").period_mode == "calendar"


def test_r1_neighbouring_periods() -> None:
    assert periods.previous("2027-01") == "2026-12"
    assert periods.same_period_last_year("2027-01") == "2026-01"
    with pytest.raises(ValueError, match="YYYY-MM"):
        periods.parse("2027-13")


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["close_28th", "calendar"]),
)
def test_r1_every_moment_lies_in_exactly_its_periods_bounds(
    moment: datetime, mode: periods.PeriodMode
) -> None:
    period = periods.period_of(moment, mode)
    start, end = periods.bounds(period, mode)
    assert start <= moment < end
    assert periods.bounds(periods.previous(period), mode)[1] == start  # periods tile time without gaps


@given(
    st.lists(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["close_28th", "calendar"]),
)
def test_r1_a_replay_finds_each_moments_period_from_its_microseconds(
    moments: list[datetime], mode: periods.PeriodMode
) -> None:
    """A rebuild reads moments as microseconds since 1970 (``micros``) and remembers the periods' spans:
    the same periods as ``period_of``, whatever order the moments come in, and the same moments back."""
    find = periods.PeriodFinder(mode)
    assert [find(periods.micros(m)) for m in moments] == [periods.period_of(m, mode) for m in moments]
    assert [periods.moment(periods.micros(m)) for m in moments] == moments


def test_r1_a_naive_moment_counts_as_utc_as_the_log_stores_it() -> None:
    aware = datetime(2026, 3, 28, 16, 30, tzinfo=UTC)  # the 29th, 00:30 in Shanghai: April's period
    assert periods.micros(aware.replace(tzinfo=None)) == periods.micros(aware)
    assert periods.PeriodFinder()(periods.micros(aware.replace(tzinfo=None))) == "2026-04"
