"""How the dashboard shows figures: Shanghai dates, ¥ with thousands separators, "—" for nothing.

Reports carry money as decimal strings and moments as ISO text (UTC); the pages show them in the
business's time zone and the reader's language.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from services.reporting import periods
from services.reporting.periods import PeriodMode
from shared.clock import BUSINESS_TZ

EMPTY = "—"
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: object) -> str:
    """¥1,234.56; a negative amount as -¥1,234.56; nothing as "—"."""
    number = decimal(value)
    if number is None:
        return EMPTY
    sign = "-" if number < 0 else ""
    return f"{sign}¥{abs(number):,.2f}"


def count(value: object) -> str:
    number = decimal(value)
    return EMPTY if number is None else f"{number:,f}"


def rate(value: object, signed: bool = True) -> str:
    """A rate (0.2500) as a percentage: +25.0 % for growth, 25.0 % for a share."""
    number = decimal(value)
    if number is None:
        return EMPTY
    return f"{number * 100:+.1f}%" if signed else f"{number * 100:.1f}%"


def percent(value: object) -> str:
    """A figure already in per cent (R11's attainment "95.0") as 95.0%."""
    number = decimal(value)
    return EMPTY if number is None else f"{number:.1f}%"


def text(value: object) -> str:
    return EMPTY if value is None or value == "" else str(value)


def day(value: date, lang: str) -> str:
    return f"{value.month}月{value.day}日" if lang == "zh-CN" else f"{value.day} {MONTHS_EN[value.month - 1]}"


def period_span(period: str, mode: PeriodMode, lang: str) -> str:
    """The period's first and last business day in Shanghai: "11月29日–12月28日" / "29 Nov – 28 Dec"."""
    start, after = periods.bounds(period, mode)
    first = start.astimezone(BUSINESS_TZ).date()
    last = (after.astimezone(BUSINESS_TZ) - timedelta(days=1)).date()
    joiner = "–" if lang == "zh-CN" else " – "
    return f"{day(first, lang)}{joiner}{day(last, lang)}"


def moment(value: object) -> str:
    """An ISO moment as Shanghai local time, to the minute; a business day (an expiry date) as it is."""
    if not value:
        return EMPTY
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) == len("2026-12-07"):
        return value
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if at.tzinfo is None:
        return at.strftime("%Y-%m-%d %H:%M")
    return at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")
