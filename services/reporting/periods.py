"""R1: reporting periods. Period M runs from the 29th of M−1 00:00 to the 28th of M 24:00 Asia/Shanghai
(``close_28th``), or is the calendar month (``calendar``); either way it is labelled ``YYYY-MM``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from shared.clock import BUSINESS_TZ

PeriodMode = Literal["close_28th", "calendar"]
CLOSING_DAY = 28
LABEL = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def parse(period: str) -> tuple[int, int]:
    if not LABEL.match(period):
        raise ValueError(f"period must look like YYYY-MM, got {period!r}")
    return int(period[:4]), int(period[5:])


def period_of(moment: datetime, mode: PeriodMode = "close_28th") -> str:
    """The period a moment (timezone-aware) belongs to, in business time."""
    return period_of_day(moment.astimezone(BUSINESS_TZ).date(), mode)


def period_of_day(day: date, mode: PeriodMode = "close_28th") -> str:
    """The period a business day belongs to."""
    year, month = day.year, day.month
    if mode == "close_28th" and day.day > CLOSING_DAY:
        year, month = _shift(year, month, 1)  # the 29th..31st already count for next month
    return label(year, month)


class PeriodFinder:
    """``period_of`` for a stream of moments given as microseconds since 1970 UTC (``micros``), remembering
    the spans of the periods it has found: a replay asks for millions of moments that fall into a handful
    of periods. Exact in any time zone, as a remembered span is the period's own ``bounds``."""

    KEEP = 8  # spans remembered, the most recently found first

    def __init__(self, mode: PeriodMode = "close_28th") -> None:
        self.mode = mode
        self.spans: list[tuple[int, int, str]] = []
        # The span found last (none yet): consecutive moments mostly fall into it.
        self.start = self.end = 0
        self.found = ""

    def __call__(self, at: int) -> str:
        if self.start <= at < self.end:
            return self.found
        for span in self.spans:
            if span[0] <= at < span[1]:
                self.start, self.end, self.found = span
                return self.found
        period = period_of(moment(at), self.mode)
        start, end = bounds(period, self.mode)
        self.spans.insert(0, (micros(start), micros(end), period))
        del self.spans[self.KEEP :]
        self.start, self.end, self.found = self.spans[0]
        return period


UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """A moment as whole microseconds since 1970 UTC, exactly. A naive one counts as UTC, as the log's
    timestamptz column stores it (asyncpg): live batches and a rebuild of the log agree."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - UNIX_EPOCH) // MICROSECOND


def moment(at: int) -> datetime:
    """The UTC moment of ``micros``."""
    return UNIX_EPOCH + timedelta(microseconds=at)


def bounds(period: str, mode: PeriodMode = "close_28th") -> tuple[datetime, datetime]:
    """[start, end) of a period, as UTC datetimes."""
    year, month = parse(period)
    if mode == "calendar":
        first = date(year, month, 1)
        ny, nm = _shift(year, month, 1)
        after = date(ny, nm, 1)
    else:
        py, pm = _shift(year, month, -1)
        # The day after the 28th: the 29th when it exists, else the 1st (February of a common year).
        first = date(py, pm, CLOSING_DAY) + timedelta(days=1)
        after = date(year, month, CLOSING_DAY) + timedelta(days=1)
    return _utc(first), _utc(after)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BUSINESS_TZ).astimezone(UTC)


def previous(period: str) -> str:
    return label(*_shift(*parse(period), -1))


def same_period_last_year(period: str) -> str:
    year, month = parse(period)
    return label(year - 1, month)


def year_periods(year: int) -> list[str]:
    return [label(year, month) for month in range(1, 13)]


def following(period: str) -> str:
    return label(*_shift(*parse(period), 1))
