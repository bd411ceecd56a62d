"""Events of a weekly request list (O13)."""

from __future__ import annotations

from typing import Any

from shared.contracts import DecimalText
from shared.orders_contract.families import OfCustomer


class RequestListEvent(OfCustomer, aggregate="RequestList"):
    """An event of a branch's weekly request list (O13)."""


class RequestListSubmitted(RequestListEvent):
    """O13: a branch's request list for next week."""

    CREATED = True
    week: str
    lines: list[dict[str, Any]]


class RequestListMatched(RequestListEvent):
    """O13: the week's request list matched against what was ordered."""

    week: str
    match_rate: DecimalText
    ordered: dict[str, int]
